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
    "gemma4": ("ggml-vocab-gemma-4.gguf", "google-gemma-4-31B-it.jinja", "<turn|>", True),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request):
    from transformers import AutoTokenizer

    from slm_distill.tools.llamacpp.vendor import vendor_dir
    from slm_distill.tools.training.students import gemma_tokenizer

    vocab, template, end, bos = FAMILIES[request.param]
    models = vendor_dir() / "models"
    tokenizer = (gemma_tokenizer(models / vocab) if request.param == "gemma4" else
                 AutoTokenizer.from_pretrained(str(models), gguf_file=vocab))
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
    if name == "gemma4":
        assert ollama.endswith("<|turn>model\n<|channel>thought\n<channel|>")  # thinking off


def test_the_gemma_tokenizer_matches_llama_cpps_reference_tokenisations():
    """Gemma 4's tokenizer, rebuilt from its vocabulary GGUF, against the token ids llama.cpp's
    sources record for its test texts (made with the real tokenizer)."""
    from slm_distill.tools.llamacpp.vendor import vendor_dir
    from slm_distill.tools.training.students import gemma_tokenizer

    models = vendor_dir() / "models"
    tokenizer = gemma_tokenizer(models / "ggml-vocab-gemma-4.gguf")
    texts = (models / "ggml-vocab-gemma-4.gguf.inp").read_text(encoding="utf-8").split(
        "\n__ggml_vocab_test__\n")
    expected = (models / "ggml-vocab-gemma-4.gguf.out").read_text(encoding="utf-8").split("\n")
    pairs = list(zip(texts, expected, strict=False))
    assert len(pairs) >= 40
    for text, ids in pairs:
        got = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert got == [int(i) for i in ids.split()], text


@pytest.mark.parametrize("family_name", ["qwen3", "llama3", "phi3", "gemma4"])
def test_a_scratch_student_of_each_family_trains_evaluates_and_exports(family_name, tmp_path,
                                                                       capsys):
    """scratch:tiny-<family> on the bundled example: trained, evaluated, exported to f16 and q8_0
    with llama.cpp's converter; the f16 GGUF answers exactly as the HF model, and the Modelfile
    carries the family's own template and stop token."""
    import json

    from slm_distill.tools.cli import main
    from slm_distill.tools.training.chat_format import ollama_template, stop_strings
    from slm_distill.tools.training.students import load_pretrained
    from tests.conftest import EXAMPLE, EXAMPLE_TEACHER, cli_through_evaluate

    root = tmp_path / "p"
    tiny = {"training.max_steps": "12", "training.eval_steps": "6", "training.eval_samples": "4",
            "training.max_new_tokens": "32", "training.batch_size": "8",
            "training.gradient_accumulation_steps": "4",  # 12 steps of 32: confident answers
            "training.learning_rate": "2e-3", "training.loss_vocab": "answers",
            "training.early_stopping_patience": "null", "task.schema_in_student_prompt": "false"}
    cli_through_evaluate(str(root), ["--schema", str(EXAMPLE / "schema.sql"), "--teacher",
                                     EXAMPLE_TEACHER, "--student", f"scratch:tiny-{family_name}"],
                         EXAMPLE / "seeds.jsonl", tiny, pairs=60)
    main(["export", "--quant", "q8_0", "--project", str(root)])
    capsys.readouterr()
    export = json.loads((root / "reports" / "export.json").read_text())
    f16, q8 = export["results"]
    assert export["parity_ok"] and f16["quant"] == "f16" and f16["agreement"] == 1.0, export
    assert q8["quant"] == "q8_0"
    _, tokenizer = load_pretrained(root / "runs" / "student" / "merged")
    modelfile = (root / "exports" / "Modelfile").read_text()
    template = modelfile.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    assert template in (ollama_template(tokenizer), ollama_template(tokenizer, keep_bos=True))
    assert f'PARAMETER stop "{stop_strings(tokenizer)[0]}"' in modelfile
    assert stop_strings(tokenizer)[0] == FAMILIES[family_name][2]
    # what llama.cpp (and so Ollama) tokenises from the Modelfile's rendered prompt is the
    # training prompt, token for token: BOS included where the template writes one, and not
    # added where it does not (Phi-3's GGUF had the flag turned off)
    from llama_cpp import Llama

    from slm_distill.tools.reporting.modelcard import render_modelfile_template
    from slm_distill.tools.training.training_data import student_prompt, student_system
    from slm_distill.tools.workspace.project import Project

    project = Project.load(root)
    task = project.task()
    try:
        # the parity above is not two empty answers agreeing: the answers have text, and q8_0
        # keeps within the export's margin on the primary metric
        from slm_distill.tools.export_gguf import gguf_answers
        from slm_distill.tools.training.hf_generate import generate_answers

        model, _ = load_pretrained(root / "runs" / "student" / "merged")
        seeds = project.split()[1][:8]
        hf = generate_answers(model, tokenizer, task, [s.input for s in seeds], max_new_tokens=32)
        assert any(a.strip() for a in hf), hf
        assert gguf_answers(root / "exports" / f16["file"], tokenizer, task, seeds, 32) == hf
        assert -q8["delta_points"] <= export["margin_points"], q8
        question = "How many albums came out in 2019?"
        text = render_modelfile_template(template,
                                         student_system(tokenizer, task),
                                         task.student_messages(question)[-1]["content"])
        for result in export["results"]:
            llm = Llama(model_path=str(root / "exports" / result["file"]), vocab_only=True,
                        verbose=False)
            assert llm.tokenize(text.encode(), add_bos=True, special=True) == student_prompt(
                tokenizer, task, question), result["file"]
    finally:
        task.close()
    assert any("add_bos_token was turned off" in f for f in export["fixes"]) == (
        family_name == "phi3")


def test_a_llama_student_through_every_tool(tmp_path):
    """The skill's order of MCP tools with scratch:tiny-llama3: init_project through export_gguf;
    the export's Modelfile speaks Llama 3's format."""
    import asyncio
    import shutil

    from mcp import Client

    from slm_distill.server.app import build_server
    from tests.conftest import EXAMPLE, EXAMPLE_TEACHER
    from tests.mcp_client import every_stage

    shutil.copy(EXAMPLE / "schema.sql", tmp_path / "schema.sql")
    shutil.copy(EXAMPLE / "seeds.jsonl", tmp_path / "seeds.jsonl")
    tiny = {"training.max_steps": "12", "training.eval_steps": "6", "training.eval_samples": "4",
            "training.max_new_tokens": "32", "training.batch_size": "8",
            "training.early_stopping_patience": "null", "task.schema_in_student_prompt": "false"}

    async def run() -> dict:
        async with Client(build_server(tmp_path)) as c:
            return await every_stage(c, "shop", {"schema_file": "schema.sql",
                                                 "teacher": EXAMPLE_TEACHER,
                                                 "student": "scratch:tiny-llama3"}, tiny,
                                     pairs=60, improve_steps=3)

    out = asyncio.run(run())
    assert "full fine-tuning, learning rate 0.002" in out["status"]["training"]
    assert out["evaluated"]["result"]["verdict"]["decision"] in (
        "retune", "more_data", "rethink")  # a 12-step student is not for shipping
    export = out["exported"]["result"]
    assert export["parity_ok"] and not any(r["recommended"] for r in export["results"])
    modelfile = (tmp_path / "shop" / "exports" / "Modelfile").read_text()
    assert "<|start_header_id|>user<|end_header_id|>" in modelfile
    assert 'PARAMETER stop "<|eot_id|>"' in modelfile
