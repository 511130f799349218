"""evaluate (red flags, intervals, failure categories) and export_gguf (parity, Modelfile)."""

from __future__ import annotations

import pytest

from slm_distill.tools.evaluate import ModelResult, evaluate, red_flags
from slm_distill.tools.reporting.modelcard import modelfile, render_modelfile_template
from slm_distill.tools.reporting.stats import Interval, wilson
from slm_distill.tools.train_student import train_student
from slm_distill.tools.training.chat_format import ollama_template, stop_strings
from slm_distill.tools.training.students import qwen2_tokenizer
from slm_distill.tools.training.training_data import student_system
from tests.conftest import clone_project, tiny_training


def _result(name: str, correct: int, n: int = 50) -> ModelResult:
    return ModelResult(name=name, spec=name, overall=wilson(correct, n), metrics={},
                       by_difficulty={}, failures={}, examples={})


def test_red_flags_fire_on_constructed_cases():
    codes = lambda **r: {f.code for f in red_flags(r)}  # noqa: E731
    assert codes(base=_result("base", 0), student=_result("student", 20),
                 teacher=_result("teacher", 45)) == {"student_below_50"}
    assert codes(base=_result("base", 3), student=_result("student", 46),
                 teacher=_result("teacher", 40)) == {"student_above_teacher"}
    assert codes(base=_result("base", 30), student=_result("student", 30),
                 teacher=_result("teacher", 45)) == {"student_equal_base"}
    assert codes(base=_result("base", 5), student=_result("student", 40),
                 teacher=_result("teacher", 45)) == set()
    for flag in red_flags({"student": _result("student", 1), "base": _result("base", 1)}):
        assert flag.explanation


def test_equal_to_base_says_whether_the_other_metrics_moved():
    base, student = _result("base", 0), _result("student", 0)
    base.metrics, student.metrics = ({"exact_match": 0.0, "field_f1": 0.0},
                                     {"exact_match": 0.0, "field_f1": 0.22})
    [flag] = [f for f in red_flags({"base": base, "student": student}) if f.code == "student_equal_base"]
    assert "field f1 0% -> 22%" in flag.message and "exact match" not in flag.message
    assert "partly there" in flag.explanation
    student.metrics = dict(base.metrics)
    [flag] = [f for f in red_flags({"base": base, "student": student}) if f.code == "student_equal_base"]
    assert "did not change" in flag.explanation


def test_a_quantisation_that_changes_answers_is_not_recommended_though_the_metric_holds(tmp_path):
    """Every answer wrong before and after (0% exact) hides that a quantisation changed most of
    them: below min_agreement of identical answers it is not recommended."""
    from slm_distill.tools.export_gguf import _quant_result
    from slm_distill.tools.tasks.classification import Classification
    from slm_distill.tools.workspace.config import ClassificationConfig
    from slm_distill.tools.workspace.project import Seed

    task = Classification(ClassificationConfig(labels=["a", "b", "c"]))
    seeds = [Seed(input=f"text {i}", output="a") for i in range(10)]
    hf = ["b"] * 10
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    hf_acc = wilson(0, 10)
    same = _quant_result("q8_0", path, hf, hf, seeds, task, hf_acc, 2.0, 0.8)
    moved = _quant_result("q4_0", path, ["c"] * 7 + ["b"] * 3, hf, seeds, task, hf_acc, 2.0, 0.8)
    assert same.recommended and same.agreement == 1.0
    assert moved.delta_points == 0 and moved.agreement == pytest.approx(0.3)
    assert not moved.recommended and "only 30% of its answers are the HF model's" in moved.note
    assert _quant_result("q4_0", path, ["c"] * 7 + ["b"] * 3, hf, seeds, task, hf_acc, 2.0,
                         0.0).recommended


def test_wilson_interval():
    i = wilson(32, 64)
    assert isinstance(i, Interval) and i.low < 0.5 < i.high
    assert 0.37 < i.low < 0.39 and 0.61 < i.high < 0.63
    assert wilson(0, 10).low == 0.0 and wilson(10, 10).high == 1.0


@pytest.mark.slow  # the HF tokenizer's chat template: transformers
def test_modelfile_template_renders_like_the_hf_chat_template(generated_project):
    tok = qwen2_tokenizer()
    task = generated_project.task()
    try:
        messages = task.student_messages("How many artists are from Canada?")
        text = modelfile("m-q8_0.gguf", student_system(tok, task), 64, ollama_template(tok),
                         stop_strings(tok))
    finally:
        task.close()
    system, user = messages[0]["content"], messages[1]["content"]
    hf = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert render_modelfile_template(ollama_template(tok), system, user) == hf
    assert f'SYSTEM """{system}"""' in text and 'PARAMETER stop "<|im_end|>"' in text
    assert text.startswith("FROM ./m-q8_0.gguf")


@pytest.fixture(scope="module")
def trained(generated_project, tmp_path_factory):
    project = clone_project(generated_project, tmp_path_factory.mktemp("trained"))
    tiny_training(project, max_steps=30, eval_steps=30, learning_rate=3e-3)
    train_student(project)
    return project


@pytest.mark.slow
def test_evaluate_base_student_teacher(trained):
    report = evaluate(trained)
    assert [r.name for r in report.results] == ["base", "student", "teacher"]
    assert report.n == 64 and report.result("teacher").overall.accuracy > 0.8
    for r in report.results:
        assert r.overall.low <= r.overall.accuracy <= r.overall.high
        assert sum(r.failures.values()) == r.overall.n - r.overall.correct
        assert set(r.by_difficulty) == {"easy", "medium", "hard"}
    assert {f.code for f in report.red_flags} >= {"student_below_50"}
    assert trained.report_path("eval", "png").is_file()
    md = trained.report_path("eval", "md").read_text()
    assert "Red flags" in md and "95% CI" in md


@pytest.mark.slow
def test_f16_gguf_greedy_output_equals_hf(trained):
    from slm_distill.tools.export_gguf import convert_to_f16, gguf_answers
    from slm_distill.tools.training.hf_generate import generate_answers
    from slm_distill.tools.training.students import load_pretrained

    merged = trained.path("runs", "student", "merged")
    gguf = convert_to_f16(merged, trained.path("exports", "t-f16.gguf"))
    model, tok = load_pretrained(merged)
    _, test = trained.split()
    seeds = test[:12]

    class Raw:  # compare raw generated text, not extracted SQL
        def __init__(self, task):
            self.task = task

        def __getattr__(self, name):  # the task's prompts: the one renderer asks for them
            return getattr(self.task, name)

        def extract(self, text):
            return text

    task = trained.task()
    try:
        hf = generate_answers(model, tok, Raw(task), [s.input for s in seeds], max_new_tokens=24)
        ll = gguf_answers(gguf, tok, Raw(task), seeds, max_new_tokens=24)
    finally:
        task.close()
    assert any(hf), "the trained model generated nothing at all"
    assert ll == hf


@pytest.mark.slow
def test_export_writes_quantisations_parity_report_and_modelfile(trained):
    from slm_distill.tools.export_gguf import export_gguf

    report = export_gguf(trained, quants=("q8_0",), margin_points=2.0, min_agreement=0.8)
    assert report.parity_ok
    f16, q8 = report.results
    assert f16.quant == "f16" and f16.accuracy.correct == report.hf_accuracy.correct
    assert q8.quant == "q8_0" and q8.size_mb < f16.size_mb
    for name in ("Modelfile", "README.md"):
        assert trained.path("exports", name).is_file()
    card = trained.path("exports", "README.md").read_text()
    assert card.startswith("---") and "Intended use" in card
    assert "Parity" in trained.report_path("export", "md").read_text()
