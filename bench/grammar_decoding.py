"""Grammar-constrained GGUF answers: the grammar-first check against llama-cpp-python's sampler chain.

On an extraction project after `distill export`: the test seeds' prompts, greedy within the grammar
llama.cpp makes of the project's JSON Schema, decoded both ways on the same GGUF; prints both
times, the ratio and how many answers are token for token the same. Not a test: run it by hand.

    .venv/bin/python bench/grammar_decoding.py --project /tmp/xdemo4 --quant q8_0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--quant", default="q8_0")
    parser.add_argument("--max-new-tokens", type=int, default=192)
    args = parser.parse_args()

    import llama_cpp
    from llama_cpp.llama_grammar import json_schema_to_gbnf
    from transformers import AutoTokenizer

    from slm_distill.tools.export_gguf import greedy_tokens
    from slm_distill.tools.llamacpp.grammar import grammar_greedy
    from slm_distill.tools.tasks import make_task
    from slm_distill.tools.training.students import end_of_turn_id
    from slm_distill.tools.training.training_data import prompt_ids
    from slm_distill.tools.workspace.project import Project

    project = Project.load(args.project.resolve())
    task = make_task(project)
    schema = task.grammar_schema()
    if not schema:
        raise SystemExit(f"{args.project} is not an extraction project.")
    tokenizer = AutoTokenizer.from_pretrained(str(project.path("runs", "student", "merged")))
    [gguf] = project.path("exports").glob(f"*-{args.quant}.gguf")
    _, test = project.split()
    prompts = [prompt_ids(tokenizer, task.student_messages(s.input)) for s in test]
    end_id = end_of_turn_id(tokenizer)
    gbnf = json_schema_to_gbnf(schema)
    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=max(map(len, prompts)) + args.max_new_tokens + 16,
                          verbose=False, seed=0)
    started = time.monotonic()
    fast = [grammar_greedy(llm, p, gbnf, end_id=end_id, max_new_tokens=args.max_new_tokens)
            for p in prompts]
    fast_s = time.monotonic() - started
    started = time.monotonic()
    chain = [greedy_tokens(llm, p, end_id, args.max_new_tokens,
                           grammar=llama_cpp.LlamaGrammar.from_json_schema(schema, verbose=False))
             for p in prompts]
    chain_s = time.monotonic() - started
    same = sum(a == b for a, b in zip(fast, chain, strict=True))
    print(f"{gguf.name}: {len(prompts)} test seeds, {sum(map(len, fast))} tokens; grammar-first "
          f"{fast_s:.1f} s, sampler chain {chain_s:.1f} s ({chain_s / fast_s:.1f}x); "
          f"identical {same}/{len(prompts)}")


if __name__ == "__main__":
    main()
