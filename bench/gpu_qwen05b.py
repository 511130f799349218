"""GPU benchmark for a lent accelerator: a randomly initialised student shaped like
Qwen2.5-0.5B (from its published configuration; no weights needed), bf16, LoRA and full
fine-tuning with slm-distill's packed, answer-only-logits training step; reports tokens/s and
model FLOPs utilisation (MFU = 6 · parameters · tokens/s / peak bf16 FLOP/s). Variants that may
raise MFU, each measured against the plain step in the same run:

- `--attn flash_attention_2` (varlen attention over the packed rows' documents; needs the
  flash-attn package) or `sdpa` (the default) or `flex_attention`;
- `--compile` (torch.compile of the model, dynamic shapes);
- `--liger` (Liger's RMSNorm, SwiGLU and RoPE kernels; the loss stays ours);
- `--trl` also runs TRL's SFTTrainer at its best GPU settings (bf16, packing, completion-only
  loss, its fused chunked LM head that scores only labelled positions on CUDA) on the same
  tokens, for the comparison the CPU benchmark (bench/train_throughput.py) makes.

    python bench/gpu_qwen05b.py --steps 20 --per-pack 16 --no-checkpointing --compile --trl
    python bench/gpu_qwen05b.py --device cpu --tiny --steps 2 --trl    # a smoke run anywhere

Measured on one H200 (2026-11-27, torch 2.11, transformers 5.17), 64 examples of 384 prompt + 128
answer tokens per optimizer step, tokens/s (MFU at 989 TFLOP/s), the plain step:

    examples per packed row   checkpointing   LoRA r=16        full
    8  (4,096 tokens)         on              15,778 (4.7%)    23,536 (7.1%)
    16 (8,192 tokens)         on              30,776 (9.3%)    39,163 (11.7%)
    64 (32,768 tokens)        on              15,660 (4.7%)    16,103 (4.8%)
    16 (8,192 tokens)         off             47,555 (14.3%)   52,327 (15.7%)
    32 (16,384 tokens)        off             34,069 (10.3%)   35,436 (10.6%)

A 0.5B model on small micro-batches is bound by per-kernel overhead rather than FLOPs: larger
packed rows help up to about 8,192 tokens, after which the block-diagonal attention over one long
row costs more (varlen attention is what should lift that ceiling); recomputing activations costs
a third. Hence training.activation_checkpointing: auto turns it on only above 1B parameters. The
variants above have not run on a GPU yet (no device was lent since they were written).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

# Qwen2.5-0.5B-Instruct's config.json (facts, not weights).
QWEN25_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                  num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                  rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)
TINY = dict(QWEN25_05B, vocab_size=4096, hidden_size=64, intermediate_size=128,
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)


def examples(rows: int, prompt: int, answer: int, vocab: int) -> list[dict]:
    """`rows` random examples: `prompt` unlabelled tokens, then `answer` labelled ones."""
    import torch

    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(rows):
        ids = torch.randint(0, vocab, (prompt + answer,), generator=g).tolist()
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return out


def packed(feats: list[dict], per_pack: int, device: str) -> list[dict]:
    """Micro-batches of `per_pack` examples, each packed into one row (what the trainer does with
    batch_size=per_pack and gradient accumulation over the micro-batches)."""
    from slm_distill.tools.training.training_data import PackingCollator

    packs = [PackingCollator()(feats[i : i + per_pack]) for i in range(0, len(feats), per_pack)]
    return [{k: v.to(device) for k, v in pack.items()} for pack in packs]


def student(shape: dict, method: str, args: argparse.Namespace) -> Any:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(**shape, attn_implementation=args.attn)
    model = Qwen2ForCausalLM(config).to(args.device, dtype=_dtype(args))
    if args.liger:
        from liger_kernel.transformers import apply_liger_kernel_to_qwen2

        apply_liger_kernel_to_qwen2(rope=True, rms_norm=True, swiglu=True, cross_entropy=False,
                                    fused_linear_cross_entropy=False, model=model)
    if not args.no_checkpointing:
        model.gradient_checkpointing_enable()
    if method == "lora":
        import peft

        model = peft.get_peft_model(model, peft.LoraConfig(
            r=16, lora_alpha=32, lora_dropout=0.05, task_type="CAUSAL_LM",
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    return model


def _dtype(args: argparse.Namespace) -> Any:
    import torch

    return torch.float32 if args.device == "cpu" else torch.bfloat16


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def ours(method: str, shape: dict, feats: list[dict], args: argparse.Namespace) -> tuple[float, int]:
    """(tokens/s, parameters): our packed, answer-only-logits step, hand-timed after 3 steps."""
    import torch
    import torch.nn.functional as F

    model = student(shape, method, args)
    forward = torch.compile(model, dynamic=True) if args.compile else model
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=args.device == "cuda")
    packs = packed(feats, args.per_pack, args.device)
    for data in packs:
        data["keep"] = (data["labels"][0, 1:] != -100).nonzero().squeeze(-1)
        data["targets"] = data["labels"][0, data["keep"] + 1]
    tokens = sum(d["input_ids"].numel() for d in packs)

    def step() -> None:
        for data in packs:
            logits = forward(input_ids=data["input_ids"], position_ids=data["position_ids"],
                             logits_to_keep=data["keep"], use_cache=False).logits[0]
            (F.cross_entropy(logits.float(), data["targets"]) / len(packs)).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=False)

    for _ in range(3):
        step()
    _sync(args.device)
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    _sync(args.device)
    return tokens * args.steps / (time.perf_counter() - started), _params(model)


def trl(method: str, shape: dict, feats: list[dict], args: argparse.Namespace) -> tuple[float, int]:
    """(tokens/s, parameters): TRL's SFTTrainer on the same tokens at its best settings, timed
    from the trainer's steps after 3 warm-up steps."""
    from datasets import Dataset
    from transformers import PreTrainedTokenizerFast, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    model = student(shape, method, args)
    rows = [{"input_ids": f["input_ids"],
             "completion_mask": [int(label != -100) for label in f["labels"]]} for f in feats]
    tok = _stub_tokenizer(shape["vocab_size"], PreTrainedTokenizerFast)
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a: Any, **kw: Any) -> None:
            _sync(args.device)
            times.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        # rows of per_pack examples each (max_length), one row per micro-batch, as ours
        config = SFTConfig(
            output_dir=out, max_steps=args.steps + 3, per_device_train_batch_size=1,
            gradient_accumulation_steps=max(1, len(feats) // args.per_pack),
            learning_rate=1e-4, bf16=args.device == "cuda", use_cpu=args.device == "cpu",
            gradient_checkpointing=not args.no_checkpointing, packing=True,
            completion_only_loss=True, max_length=args.per_pack * len(feats[0]["input_ids"]),
            report_to="none", save_strategy="no",
            disable_tqdm=True, logging_steps=1_000, torch_compile=args.compile,
            dataloader_drop_last=True, seed=0)
        trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows),
                             processing_class=tok, callbacks=[Clock()])
        trainer.train()
    tokens = sum(len(f["input_ids"]) for f in feats)
    return tokens * args.steps / (times[-1] - times[2]), _params(model)


def _stub_tokenizer(vocab: int, cls: Any) -> Any:
    """A tokenizer object for TRL's bookkeeping (pad and EOS ids); the data is pre-tokenized."""
    from tokenizers import Tokenizer, models

    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(vocab)}, unk_token="t0"))
    return cls(tokenizer_object=tok, pad_token="t0", eos_token="t1")


def _params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rows", type=int, default=64, help="examples per optimizer step")
    parser.add_argument("--per-pack", type=int, default=16,
                        help="examples packed into one micro-batch row (training.batch_size)")
    parser.add_argument("--prompt", type=int, default=384)
    parser.add_argument("--answer", type=int, default=128)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--no-checkpointing", action="store_true",
                        help="keep activations instead of recomputing them")
    parser.add_argument("--attn", default="sdpa",
                        choices=["sdpa", "flash_attention_2", "flex_attention", "eager"])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--liger", action="store_true")
    parser.add_argument("--trl", action="store_true", help="also TRL's SFTTrainer")
    parser.add_argument("--methods", default="lora,full")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="a tiny model, for a smoke run")
    args = parser.parse_args()
    import torch

    shape = TINY if args.tiny else QWEN25_05B
    prompt, answer = (24, 8) if args.tiny else (args.prompt, args.answer)
    feats = examples(args.rows, prompt, answer, shape["vocab_size"])
    variant = ", ".join(v for v in (
        args.attn, "compile" if args.compile else "", "liger" if args.liger else "",
        "no checkpointing" if args.no_checkpointing else "checkpointing") if v)
    print(f"{'tiny' if args.tiny else 'Qwen2.5-0.5B'}-shaped student on {args.device} "
          f"({variant}); {args.rows} examples of {prompt}+{answer} tokens per step, "
          f"{args.per_pack} per packed row; MFU against {args.peak_tflops:g} TFLOP/s")
    for method in args.methods.split(","):
        trainers = {"ours": ours, **({"TRL": trl} if args.trl else {})}
        for name, run in trainers.items():
            tps, n_params = run(method, shape, feats, args)
            mfu = 6 * n_params * tps / (args.peak_tflops * 1e12)
            memory = (f", peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
                      if args.device == "cuda" else "")
            print(f"  {method:<5} {name:<5} {tps:>10,.0f} tokens/s  MFU {mfu:6.1%}{memory}")
            if args.device == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()


if __name__ == "__main__":
    main()
