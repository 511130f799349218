"""Greedy decoding within a grammar (tools/llamacpp/grammar.py) picks the tokens llama.cpp's
sampler chain picks, on a real GGUF and the grammar llama-cpp-python makes of a JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["name", "phones"],
          "properties": {"name": {"type": "string"},
                         "phones": {"type": "array", "items": {"enum": ["mobile", "office"]}},
                         "city": {"type": ["string", "null"]}}}


@pytest.mark.slow  # llama.cpp
def test_grammar_greedy_equals_the_sampler_chain(tiny_gguf: Path):
    import llama_cpp
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from slm_distill.tools.export_gguf import greedy_tokens
    from slm_distill.tools.llamacpp.grammar import grammar_greedy
    from slm_distill.tools.llamacpp.quiet import quiet_native_stderr

    gbnf = json_schema_to_gbnf(json.dumps(SCHEMA))
    with quiet_native_stderr():
        llm = llama_cpp.Llama(model_path=str(tiny_gguf), n_ctx=256, verbose=False, seed=0)
    end_id = llm.token_eos()
    overruled = 0  # steps where the model's own top token broke the grammar (the slow path)
    try:
        for text in ("Jane Doe, mobile +44 7700 900123, London", "{\"name\":", "hello"):
            prompt = llm.tokenize(text.encode(), add_bos=False)
            fast = grammar_greedy(llm, prompt, gbnf, end_id=end_id, max_new_tokens=48)
            chain = greedy_tokens(llm, prompt, end_id, 48,
                                  grammar=llama_cpp.LlamaGrammar.from_string(gbnf, verbose=False))
            assert fast == chain and len(fast) > 5
            assert llm.detokenize(fast).decode().startswith("{")
            free = next(iter(llm.generate(prompt, temp=0.0, top_k=1, reset=True)))
            overruled += free != fast[0]
    finally:
        llm.close()
    assert overruled
    with pytest.raises(ValueError, match="could not parse"), quiet_native_stderr():
        llm = llama_cpp.Llama(model_path=str(tiny_gguf), n_ctx=64, verbose=False)
        try:
            grammar_greedy(llm, [1, 2], "root ::= (", end_id=end_id, max_new_tokens=4)
        finally:
            llm.close()
