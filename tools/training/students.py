"""Students: a model id, a local directory, or `scratch:<preset>`.

    model, tokenizer = load_student("Qwen/Qwen2.5-1.5B-Instruct")     # on a user's machine
    model, tokenizer = load_student("scratch:tiny")                    # offline, random weights

A scratch student is a small, randomly initialised Qwen2-architecture model on the real Qwen2
tokenizer and Qwen2.5 chat template, both taken from llama-cpp-python's sources (tools/llamacpp/vendor.py),
so the offline path exercises the same tokenizer, template and GGUF conversion as a real Qwen2.5
student. Scratch students train all their weights (LoRA on random weights learns little).
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


@dataclass(frozen=True)
class Preset:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    context: int = 2048


# `small` keeps hidden and FFN widths multiples of 256 so q4_k_m quantises every layer.
PRESETS = {
    "tiny": Preset(hidden=64, layers=2, heads=4, kv_heads=2, ffn=128, context=1024),
    "small": Preset(hidden=256, layers=4, heads=4, kv_heads=2, ffn=768, context=1024),
}


def is_scratch(spec: str) -> bool:
    return spec.startswith("scratch:")


def scratch_preset(spec: str) -> Preset:
    name = spec.removeprefix("scratch:")
    if name not in PRESETS:
        raise UsageError(f"Unknown scratch preset {name!r}. Available: {', '.join(PRESETS)}.")
    return PRESETS[name]


def qwen2_tokenizer() -> Any:
    """The Qwen2 tokenizer with the Qwen2.5 chat template, built once from the vocab GGUF."""
    transformers = require("transformers", "transformers", "train")
    folder = cache_root() / "qwen2-tokenizer"
    if not (folder / "tokenizer_config.json").is_file():
        models = vendor_dir() / "models"
        tok = transformers.AutoTokenizer.from_pretrained(str(models),
                                                         gguf_file="ggml-vocab-qwen2.gguf")
        tok.chat_template = (vendor_dir() / QWEN_TEMPLATE).read_text(encoding="utf-8")
        tok.eos_token = IM_END
        tok.pad_token = PAD
        tmp = folder.with_name(folder.name + ".tmp")
        tok.save_pretrained(str(tmp))
        tmp.replace(folder)
    return transformers.AutoTokenizer.from_pretrained(str(folder))


def build_scratch(spec: str, seed: int = 0) -> tuple[Any, Any]:
    torch = require("torch", "torch", "train")
    transformers = require("transformers", "transformers", "train")
    preset = scratch_preset(spec)
    tokenizer = qwen2_tokenizer()
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=preset.hidden, intermediate_size=preset.ffn,
        num_hidden_layers=preset.layers, num_attention_heads=preset.heads,
        num_key_value_heads=preset.kv_heads, max_position_embeddings=preset.context,
        tie_word_embeddings=True, rope_theta=1_000_000.0, rms_norm_eps=1e-6,
        bos_token_id=tokenizer.convert_tokens_to_ids(PAD),
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        pad_token_id=tokenizer.convert_tokens_to_ids(PAD), use_cache=True,
    )
    torch.manual_seed(seed)
    model = transformers.Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    return model, tokenizer


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
                         "scratch:tiny / scratch:small.") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def default_method(spec: str, method: str) -> str:
    """`auto` means full fine-tuning for scratch students and LoRA for pretrained ones."""
    if method != "auto":
        return method
    return "full" if is_scratch(spec) else "lora"
