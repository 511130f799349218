"""GGUF decoding with llama.cpp's threads: one thread (llama-cpp-python's default on a two-core
machine) against the physical cores (tools/llamacpp/threads.py), for f16 and q8_0.

A scratch student of the demo's size, converted and quantised here (the speed of decoding does not
depend on what the weights learned); each round decodes the same prompts for a fixed number of
tokens with every setting, the settings' order rotating from round to round; prints tokens/s per
setting as the median of the rounds with their spread, and the ratio. Not a test: run it by hand.

    .venv/bin/python bench/gguf_threads.py --student scratch:small --rounds 5
    .venv/bin/python bench/gguf_threads.py --student qwen2.5-0.5b --rounds 3 --tokens 32
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def build(student: str, folder: Path) -> dict[str, Path]:
    """The student's f16 and q8_0 GGUF files: a scratch student, or `qwen2.5-0.5b`, a randomly
    initialised model of Qwen2.5-0.5B's shape (bench/gpu_qwen05b.py) on the Qwen2 tokenizer."""
    from slm_distill.tools.export_gguf import convert_to_f16, quantize
    from slm_distill.tools.training.students import build_scratch, family_tokenizer, save_tokenizer

    if student == "qwen2.5-0.5b":
        import torch
        from gpu_qwen05b import QWEN25_05B
        from transformers import Qwen2Config, Qwen2ForCausalLM

        torch.manual_seed(0)
        tokenizer = family_tokenizer("qwen2.5")
        model = Qwen2ForCausalLM(Qwen2Config(**{**QWEN25_05B, "vocab_size": len(tokenizer)}))
    else:
        model, tokenizer = build_scratch(student)
    model.save_pretrained(str(folder / "hf"))
    save_tokenizer(tokenizer, folder / "hf")
    f16 = convert_to_f16(folder / "hf", folder / "m-f16.gguf")
    return {"f16": f16, "q8_0": quantize(f16, folder / "m-q8_0.gguf", "q8_0")}


def decode(path: Path, threads: int, prompts: list[list[int]], tokens: int) -> float:
    """Tokens per second over `prompts`, each prompt followed by exactly `tokens` greedy tokens."""
    import llama_cpp

    from slm_distill.tools.export_gguf import greedy_tokens
    from slm_distill.tools.llamacpp.quiet import quiet_native_stderr

    with quiet_native_stderr():
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, verbose=False, seed=0,
                              n_threads=threads, n_threads_batch=threads)
    try:
        started = time.perf_counter()
        made = sum(len(greedy_tokens(llm, p, end_id=-1, max_new_tokens=tokens)) for p in prompts)
        return made / (time.perf_counter() - started)
    finally:
        llm.close()


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", default="scratch:small")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from slm_distill.tools.llamacpp.threads import llama_threads

    cores = llama_threads()
    with tempfile.TemporaryDirectory() as scratch:
        files = build(args.student, Path(scratch))
        prompts = [[100 + 7 * i + j for j in range(40 + 5 * i)] for i in range(args.prompts)]
        settings = [(quant, threads) for quant in files for threads in sorted({1, cores})]
        seen: dict[tuple[str, int], list[float]] = {s: [] for s in settings}
        for r in range(args.rounds):
            for quant, threads in settings[r % len(settings):] + settings[:r % len(settings)]:
                seen[quant, threads].append(decode(files[quant], threads, prompts, args.tokens))
    print(f"{args.student}, {args.prompts} prompts x {args.tokens} tokens, {args.rounds} rounds, "
          f"physical cores: {cores}")
    for quant in files:
        one = statistics.median(seen[quant, 1])
        for threads in sorted({1, cores}):
            tps = seen[quant, threads]
            print(f"  {quant:<5} {threads} thread(s): {statistics.median(tps):7.0f} tokens/s "
                  f"(min {min(tps):.0f}, max {max(tps):.0f})  {statistics.median(tps) / one:.2f}x")


if __name__ == "__main__":
    main()
