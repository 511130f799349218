"""Chat formats of the student families, read from their real chat templates and tokenizers
(llama-cpp-python's sources carry both): the end-of-turn token, the stop strings and the Ollama
TEMPLATE, which must render a system + user prompt token for token as the HF template does."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # transformers builds each tokenizer from its vocabulary GGUF

FAMILIES = {  # family: (vocabulary GGUF, chat template, end of turn, BOS in the rendered prompt)
    "qwen2.5": ("ggml-vocab-qwen2.gguf", "Qwen-Qwen2.5-7B-Instruct.jinja", "<|im_end|>", False),
    "qwen3": ("ggml-vocab-qwen2.gguf", "Qwen-Qwen3-0.6B.jinja", "<|im_end|>", False),
    "llama3": ("ggml-vocab-llama-bpe.gguf", "meta-llama-Llama-3.2-3B-Instruct.jinja",
               "<|eot_id|>", True),
    "phi3": ("ggml-vocab-phi-3.gguf", "microsoft-Phi-3.5-mini-instruct.jinja", "<|end|>", False),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request):
    from transformers import AutoTokenizer

    from slm_distill.tools.llamacpp.vendor import vendor_dir

    vocab, template, end, bos = FAMILIES[request.param]
    models = vendor_dir() / "models"
    tokenizer = AutoTokenizer.from_pretrained(str(models), gguf_file=vocab)
    tokenizer.chat_template = (models / "templates" / template).read_text(encoding="utf-8")
    return request.param, tokenizer, end, bos


def test_the_end_of_turn_comes_from_the_template(family):
    from slm_distill.tools.training.chat_format import end_of_turn_id, stop_strings

    name, tokenizer, end, _ = family
    assert tokenizer.convert_ids_to_tokens(end_of_turn_id(tokenizer)) == end, name
    assert stop_strings(tokenizer)[0] == end


@pytest.mark.parametrize("system", ["Translate the question into one SQLite SQL query.", None])
def test_the_modelfile_template_renders_the_hf_prompt_token_for_token(family, system):
    from slm_distill.tools.reporting.modelcard import render_modelfile_template
    from slm_distill.tools.training.chat_format import ollama_template
    from slm_distill.tools.training.training_data import prompt_ids

    name, tokenizer, _, bos = family
    question = "How many albums came out in 2019?"
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": question}]
    hf = prompt_ids(tokenizer, messages)  # what training, evaluation and the GGUF see
    ollama = render_modelfile_template(ollama_template(tokenizer), system, question)
    ids = tokenizer(ollama, add_special_tokens=False)["input_ids"]
    # the BOS that llama.cpp adds itself is left out of the TEMPLATE
    expected = hf[1:] if bos else hf
    assert not bos or hf[0] == tokenizer.bos_token_id
    assert ids == expected, (name, tokenizer.decode(ids), tokenizer.decode(expected))
    if name == "qwen3":
        assert ollama.endswith("<think>\n\n</think>\n\n")  # no thinking, on purpose
    if name == "llama3":
        assert "Today Date: 26 Jul 2024" in ollama  # a fixed date, not the day of export
