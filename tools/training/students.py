"""Students: a model id, a local directory, or `scratch:<size>[-<family>]`.

    model, tokenizer = load_student("Qwen/Qwen2.5-1.5B-Instruct")     # on a user's machine
    model, tokenizer = load_student("scratch:tiny")                    # offline, random weights
    model, tokenizer = load_student("scratch:tiny-llama3")             # the Llama 3.2 family

A scratch student is a small, randomly initialised model of a family's architecture (Qwen2.5,
Qwen3, Llama 3, Phi-3, Gemma 4) on that family's real tokenizer and chat template, both taken from
llama-cpp-python's sources (tools/llamacpp/vendor.py), so the offline path exercises the same
tokenizer, template and GGUF conversion as a real student of the family. `scratch:tiny` and
`scratch:small` are Qwen2.5. Scratch students train all their weights (LoRA on random weights
learns little).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slm_distill.tools.errors import UsageError, require
from slm_distill.tools.llamacpp.vendor import cache_root, vendor_dir
from slm_distill.tools.training.chat_format import end_of_turn_id

__all__ = ["end_of_turn_id", "load_pretrained", "load_student"]

IM_END = "<|im_end|>"
PAD = "<|endoftext|>"
QWEN_TEMPLATE = "models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"
DEFAULT_FAMILY = "qwen2.5"


@dataclass(frozen=True)
class Preset:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    context: int = 2048


@dataclass(frozen=True)
class Family:
    """A student family as a scratch model: its transformers architecture, its real vocabulary
    (a vocab GGUF in llama-cpp-python's sources), its real chat template, its end-of-turn and
    padding tokens."""

    architecture: str  # the transformers config/model prefix: Qwen2, Qwen3, Llama, Phi3
    vocab: str
    template: str
    end: str
    pad: str
    folder: str  # the cached tokenizer's folder name
    sentencepiece: bool = False  # llama.cpp's converter reads its tokenizer.model
    gemma_bpe: bool = False  # built from the vocabulary GGUF here (transformers cannot read it)
    config: str = ""  # the transformers config class, when not `<architecture>Config`


# `small` keeps hidden and FFN widths multiples of 256 so q4_k_m quantises every layer.
PRESETS = {
    "tiny": Preset(hidden=64, layers=2, heads=4, kv_heads=2, ffn=128, context=1024),
    "small": Preset(hidden=256, layers=4, heads=4, kv_heads=2, ffn=768, context=1024),
}
FAMILIES = {
    "qwen2.5": Family("Qwen2", "ggml-vocab-qwen2.gguf", QWEN_TEMPLATE, IM_END, PAD,
                      "qwen2-tokenizer"),
    "qwen3": Family("Qwen3", "ggml-vocab-qwen2.gguf", "models/templates/Qwen-Qwen3-0.6B.jinja",
                    IM_END, PAD, "qwen3-tokenizer"),
    "llama3": Family("Llama", "ggml-vocab-llama-bpe.gguf",
                     "models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja", "<|eot_id|>",
                     "<|finetune_right_pad_id|>", "llama3-tokenizer"),
    "phi3": Family("Phi3", "ggml-vocab-phi-3.gguf",
                   "models/templates/microsoft-Phi-3.5-mini-instruct.jinja", "<|end|>",
                   "<|endoftext|>", "phi3-tokenizer", sentencepiece=True),
    "gemma4": Family("Gemma4", "ggml-vocab-gemma-4.gguf",
                     "models/templates/google-gemma-4-31B-it.jinja", "<turn|>", "<pad>",
                     "gemma4-tokenizer", gemma_bpe=True, config="Gemma4TextConfig"),
}


def is_scratch(spec: str) -> bool:
    return spec.startswith("scratch:")


def scratch_parts(spec: str) -> tuple[Preset, str]:
    """`scratch:<size>[-<family>]` -> (its size preset, its family; Qwen2.5 by default)."""
    name = spec.removeprefix("scratch:")
    size, _, family = name.partition("-")
    family = family or DEFAULT_FAMILY
    if size not in PRESETS or family not in FAMILIES:
        shown = ", ".join(f"scratch:{p}" for p in PRESETS)
        raise UsageError(f"Unknown scratch student {spec!r}. Available: {shown}, each also as "
                         f"scratch:SIZE-FAMILY with a family of {', '.join(FAMILIES)}.")
    return PRESETS[size], family


def family_tokenizer(family: str = DEFAULT_FAMILY) -> Any:
    """The family's real tokenizer with its real chat template, built once from the vocab GGUF."""
    transformers = require("transformers", "transformers", "train")
    spec = FAMILIES[family]
    folder = cache_root() / spec.folder
    if not (folder / "tokenizer_config.json").is_file():
        models = vendor_dir() / "models"
        tok = (gemma_tokenizer(models / spec.vocab) if spec.gemma_bpe else
               transformers.AutoTokenizer.from_pretrained(str(models), gguf_file=spec.vocab))
        tok.chat_template = (vendor_dir() / spec.template).read_text(encoding="utf-8")
        tok.eos_token = spec.end
        tok.pad_token = spec.pad
        tmp = folder.with_name(folder.name + ".tmp")
        tok.save_pretrained(str(tmp))
        if spec.sentencepiece:
            (tmp / "tokenizer.model").write_bytes(sentencepiece_model(models / spec.vocab))
        tmp.replace(folder)
    return transformers.AutoTokenizer.from_pretrained(str(folder))


def _gguf_values(vocab_gguf: Path) -> Any:
    """name -> the values of that array field of a vocabulary GGUF."""
    gguf = require("gguf", "gguf", "llama")
    reader = gguf.GGUFReader(str(vocab_gguf))

    def values(name: str) -> list:
        field = reader.fields[name]
        return [field.parts[i] for i in field.data]

    return values


def gemma_tokenizer(vocab_gguf: Path) -> Any:
    """Gemma 4's tokenizer from its vocabulary GGUF: BPE over its merges with spaces written as
    '▁' and byte fallback, its control tokens special (llama.cpp's converter marks special ids as
    control tokens). It tokenises llama.cpp's reference texts for this vocabulary
    (ggml-vocab-gemma-4.gguf.inp/.out) exactly as the real tokenizer did."""
    tokenizers = require("tokenizers", "tokenizers", "train")
    transformers = require("transformers", "transformers", "train")
    values = _gguf_values(vocab_gguf)
    tokens = [bytes(t).decode("utf-8") for t in values("tokenizer.ggml.tokens")]
    types = [int(v[0]) for v in values("tokenizer.ggml.token_type")]
    merges = [tuple(bytes(m).decode("utf-8").split(" ", 1))
              for m in values("tokenizer.ggml.merges")]
    bpe = tokenizers.models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges,
                                byte_fallback=True, unk_token="<unk>", fuse_unk=True)
    tok = tokenizers.Tokenizer(bpe)
    tok.normalizer = tokenizers.normalizers.Replace(" ", "\u2581")
    tok.decoder = tokenizers.decoders.Sequence([
        tokenizers.decoders.Replace("\u2581", " "), tokenizers.decoders.ByteFallback(),
        tokenizers.decoders.Fuse()])
    control = [t for t, kind in zip(tokens, types, strict=True) if kind == 3]  # CONTROL
    shown = [t for t, kind in zip(tokens, types, strict=True) if kind == 4]  # USER_DEFINED
    tok.add_special_tokens([tokenizers.AddedToken(t, special=True, normalized=False)
                            for t in control + shown])
    named = {"bos_token": "<bos>", "pad_token": "<pad>", "unk_token": "<unk>"}
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, **named, eos_token="<eos>",
        extra_special_tokens=[t for t in control if t not in named.values()])


def sentencepiece_model(vocab_gguf: Path) -> bytes:
    """A SentencePiece model (tokenizer.model) of a SentencePiece family's vocabulary GGUF: its
    pieces, scores and types as they are, BPE with byte fallback, as Llama-style models ship."""
    model_pb2 = require("sentencepiece.sentencepiece_model_pb2", "sentencepiece", "train")
    values = _gguf_values(vocab_gguf)
    tokens = [bytes(t).decode("utf-8") for t in values("tokenizer.ggml.tokens")]
    scores = [float(v[0]) for v in values("tokenizer.ggml.scores")]
    types = [int(v[0]) for v in values("tokenizer.ggml.token_type")]
    proto = model_pb2.ModelProto()
    trainer, normalizer = proto.trainer_spec, proto.normalizer_spec
    trainer.model_type, trainer.vocab_size, trainer.byte_fallback = 2, len(tokens), True  # BPE
    trainer.unk_id, trainer.bos_id, trainer.eos_id, trainer.pad_id = 0, 1, 2, -1
    normalizer.name, normalizer.add_dummy_prefix = "identity", True
    normalizer.remove_extra_whitespaces, normalizer.escape_whitespaces = False, True
    for token, score, kind in zip(tokens, scores, types, strict=True):
        piece = proto.pieces.add()
        piece.piece, piece.score = token, score
        # the GGUF's types are SentencePiece's; its placeholders marked unknown become atomic
        piece.type = 4 if kind == 2 and token != "<unk>" else kind
    return proto.SerializeToString()


def save_tokenizer(tokenizer: Any, directory: Path) -> None:
    """`save_pretrained`, keeping the SentencePiece model a scratch family's tokenizer was loaded
    with (llama.cpp's converter needs it; a fast tokenizer does not write it back)."""
    tokenizer.save_pretrained(str(directory))
    source = Path(str(getattr(tokenizer, "name_or_path", ""))) / "tokenizer.model"
    target = Path(directory) / "tokenizer.model"
    if source.is_file() and not target.exists():
        target.write_bytes(source.read_bytes())


def qwen2_tokenizer() -> Any:
    """The Qwen2 tokenizer with the Qwen2.5 chat template (scratch:tiny's and scratch:small's)."""
    return family_tokenizer("qwen2.5")


def build_scratch(spec: str, seed: int = 0) -> tuple[Any, Any]:
    torch = require("torch", "torch", "train")
    transformers = require("transformers", "transformers", "train")
    preset, family = scratch_parts(spec)
    arch = FAMILIES[family].architecture
    tokenizer = family_tokenizer(family)
    end = tokenizer.convert_tokens_to_ids(FAMILIES[family].end)
    pad = tokenizer.convert_tokens_to_ids(tokenizer.pad_token)
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else pad
    extra = {"head_dim": preset.hidden // preset.heads} if arch in ("Qwen3", "Gemma4") else {}
    if arch in ("Qwen2", "Qwen3"):
        extra.update(rope_theta=1_000_000.0, tie_word_embeddings=True)
    if arch == "Gemma4":
        extra.update(_gemma4_shape(preset))
    config = getattr(transformers, FAMILIES[family].config or f"{arch}Config")(
        vocab_size=len(tokenizer), hidden_size=preset.hidden, intermediate_size=preset.ffn,
        num_hidden_layers=preset.layers, num_attention_heads=preset.heads,
        num_key_value_heads=preset.kv_heads, max_position_embeddings=preset.context,
        rms_norm_eps=1e-6, bos_token_id=bos, eos_token_id=end, pad_token_id=pad, use_cache=True,
        **extra,
    )
    torch.manual_seed(seed)
    model = getattr(transformers, f"{arch}ForCausalLM")(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    return model, tokenizer


def _gemma4_shape(preset: Preset) -> dict[str, Any]:
    """Gemma 4's layout at a scratch size: sliding-window and full-attention layers alternating
    (the real models run five sliding layers to one full), full layers with twice the head width
    and proportional RoPE (transformers' default), logits soft-capped at 30. The per-layer input
    embeddings of Gemma 4's E-models are left out: at 262k tokens each they would dwarf a
    scratch model; the converter and llama.cpp treat them as optional."""
    kinds = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(preset.layers)]
    head = preset.hidden // preset.heads
    return {"layer_types": kinds, "sliding_window": 512, "final_logit_softcapping": 30.0,
            "hidden_size_per_layer_input": 0, "tie_word_embeddings": True,
            "per_layer_config": {str(i): {"head_dim": 2 * head}
                                 for i, kind in enumerate(kinds) if kind == "full_attention"}}


def load_student(spec: str, *, dtype: str = "float32", seed: int = 0) -> tuple[Any, Any]:
    """(model, tokenizer) for a spec; scratch students are built fresh (random weights)."""
    if is_scratch(spec):
        return build_scratch(spec, seed)
    return load_pretrained(spec, dtype=dtype)


def load_pretrained(path_or_id: str | Path, *, dtype: str = "float32") -> tuple[Any, Any]:
    torch = require("torch", "torch", "train")
    transformers = require("transformers", "transformers", "train")
    transformers.utils.logging.disable_progress_bar()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path_or_id))
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(path_or_id), dtype=getattr(torch, dtype))
    except OSError as exc:
        raise UsageError(f"Cannot load student {path_or_id}: {str(exc).splitlines()[0]}. Give a "
                         "model id your machine can download, a local model directory, or "
                         "a scratch: student (scratch:tiny, scratch:tiny-llama3, ...).") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
