"""Every teacher backend: the HTTP ones through their real SDKs against tests/fakeprovider.py."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from slm_distill.tools.errors import BudgetExceeded, TeacherError, UsageError
from slm_distill.tools.teachers import CostMeter, TeacherCache, make_teacher, parse_spec

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]


def run(coro):
    return asyncio.run(coro)


def test_parse_spec_forms():
    assert parse_spec("openai:deepseek-chat@https://x.example/v1").base_url == "https://x.example/v1"
    assert parse_spec("python:pkg.mod:TEACHER").model == "pkg.mod:TEACHER"
    assert parse_spec("llama-cpp:./m.gguf").model == "./m.gguf"
    with pytest.raises(UsageError, match="Unknown teacher backend"):
        parse_spec("bard:x")
    with pytest.raises(UsageError, match="BACKEND:MODEL"):
        parse_spec("claude")


DEEPSEEK = "openai:deepseek-chat@https://api.deepseek.com/v1#DEEPSEEK_API_KEY"


def test_spec_names_the_key_variable_and_round_trips():
    spec = parse_spec(DEEPSEEK)
    assert (spec.model, spec.base_url, spec.key_env) == (
        "deepseek-chat", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY")
    assert parse_spec("anthropic:claude-sonnet-4-5#TEAM_API_KEY").key_env == "TEAM_API_KEY"
    for text in (DEEPSEEK, "openai:gpt-4o", "anthropic:m@http://h/v1", "anthropic:m#K2_API_KEY"):
        assert str(parse_spec(text)) == text
        assert make_teacher(text).spec == text  # what check_gate compares with config.teacher
    assert parse_spec("python:pkg.mod:T#x").model == "pkg.mod:T#x"  # only URL backends take #


@pytest.mark.parametrize("bad", ["openai:m#sk-live-abc123", "openai:m#", "openai:m#lower",
                                 "openai:m@https://h/v1#AWS_SECRET_ACCESS_KEY",
                                 "openai:m#VAR@https://h/v1", "openai:#VAR"])
def test_spec_key_suffix_must_be_a_variable_name(bad):
    with pytest.raises(UsageError) as raised:
        parse_spec(bad)
    assert "sk-live" not in str(raised.value)  # a pasted key is never echoed
    assert "#DEEPSEEK_API_KEY" in str(raised.value) or "BACKEND:MODEL" in str(raised.value)


@pytest.mark.parametrize("backend", ["anthropic", "openai"])
def test_key_is_read_from_the_named_variable(provider, monkeypatch, backend):
    monkeypatch.setenv("MY_PROVIDER_API_KEY", "sk-from-named-var")
    monkeypatch.setenv(f"{backend.upper()}_API_KEY", "sk-default-var")
    teacher = make_teacher(f"{backend}:m@{provider.url}#MY_PROVIDER_API_KEY")
    run(teacher.complete(MESSAGES))
    headers = provider.requests[-1]["headers"]
    sent = headers.get("x-api-key", "") + headers.get("authorization", "")
    assert "sk-from-named-var" in sent and "sk-default-var" not in sent


@pytest.mark.parametrize("spec", ["anthropic:claude-sonnet-4-5#DEEPSEEK_API_KEY", DEEPSEEK])
def test_missing_named_variable_is_named(spec, monkeypatch):
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-this-one")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-not-this-one")
    with pytest.raises(UsageError, match="set DEEPSEEK_API_KEY"):
        run(make_teacher(spec).complete(MESSAGES))


@pytest.mark.parametrize("backend,env", [("anthropic", "ANTHROPIC_API_KEY"),
                                         ("openai", "OPENAI_API_KEY")])
def test_http_backend_roundtrip_counts_tokens_and_cost(provider, monkeypatch, backend, env):
    monkeypatch.setenv(env, "sk-test-not-real")
    provider.responder = lambda messages: "```sql\nSELECT 42\n```"
    model = "claude-sonnet-4-5" if backend == "anthropic" else "gpt-4o"
    meter = CostMeter()
    teacher = make_teacher(f"{backend}:{model}@{provider.url}", meter=meter)
    [completion] = run(teacher.complete(MESSAGES, max_tokens=50))
    assert completion.text == "```sql\nSELECT 42\n```"
    assert completion.input_tokens > 0 and completion.output_tokens > 0
    assert meter.calls == 1 and meter.cost_usd > 0
    body = provider.requests[-1]["body"]
    if backend == "anthropic":
        assert body["system"] == "Be brief." and body["messages"][0]["role"] == "user"
        headers = provider.requests[-1]["headers"]
        assert "sk-test-not-real" in (headers.get("x-api-key", "") + headers.get("authorization", ""))
    else:
        assert body["messages"][0]["role"] == "system"


@pytest.mark.parametrize("backend,env", [("anthropic", "ANTHROPIC_API_KEY"),
                                         ("openai", "OPENAI_API_KEY")])
def test_http_backend_retries_429_and_500(provider, monkeypatch, fast_retries, backend, env):
    monkeypatch.setenv(env, "sk-test")
    provider.fail_next(429, 500, 503)
    teacher = make_teacher(f"{backend}:some-model@{provider.url}")
    [completion] = run(teacher.complete(MESSAGES))
    assert completion.text == "SELECT 1"
    assert len(provider.requests) == 4  # three failures, then success


def test_http_backend_gives_up_with_clear_error(provider, monkeypatch, fast_retries):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    provider.fail_next(*[500] * 20)
    teacher = make_teacher(f"openai:m@{provider.url}")
    teacher.max_retries = 2
    with pytest.raises(TeacherError, match="gave up after 3 attempts"):
        run(teacher.complete(MESSAGES))


def test_auth_error_is_not_retried(provider, monkeypatch, fast_retries):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-bad")
    provider.fail_next(401)
    teacher = make_teacher(f"anthropic:m@{provider.url}")
    with pytest.raises(TeacherError, match="key was refused"):
        run(teacher.complete(MESSAGES))
    assert len(provider.requests) == 1


def test_missing_key_says_which_variable():
    teacher = make_teacher("anthropic:claude-sonnet-4-5")
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY"):
        run(teacher.complete(MESSAGES))


def test_openai_n_samples_in_one_call(provider, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    teacher = make_teacher(f"openai:gpt-4o@{provider.url}")
    completions = run(teacher.complete(MESSAGES, n=3, temperature=0.7))
    assert len(completions) == 3 and provider.requests[-1]["body"]["n"] == 3


def test_cache_hits_cost_nothing_on_rerun(provider, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cache_path = tmp_path / "teacher.sqlite"
    first = CostMeter()
    teacher = make_teacher(f"openai:gpt-4o@{provider.url}", cache=TeacherCache(cache_path),
                           meter=first)
    run(teacher.complete(MESSAGES))
    assert first.calls == 1 and first.cost_usd > 0
    second = CostMeter()
    again = make_teacher(f"openai:gpt-4o@{provider.url}", cache=TeacherCache(cache_path),
                         meter=second)
    run(again.complete(MESSAGES))
    assert len(provider.requests) == 1
    assert second.calls == 0 and second.cached_calls == 1 and second.cost_usd == 0
    # a different sample index is a different call
    run(again.complete(MESSAGES, sample=1))
    assert len(provider.requests) == 2


def test_cache_never_stores_the_key(provider, monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-PLANTED-SECRET")
    cache = TeacherCache(tmp_path / "c.sqlite")
    run(make_teacher(f"anthropic:m@{provider.url}", cache=cache).complete(MESSAGES))
    cache.close()
    assert b"PLANTED-SECRET" not in (tmp_path / "c.sqlite").read_bytes()


def test_replay_mode_refuses_unrecorded_calls(provider, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    teacher = make_teacher(f"openai:m@{provider.url}",
                           cache=TeacherCache(tmp_path / "c.sqlite", mode="replay"))
    with pytest.raises(TeacherError, match="replay"):
        run(teacher.complete(MESSAGES))
    assert provider.requests == []


def test_project_teacher_cache_replay_answers_only_recorded_calls(example_project, provider,
                                                                  monkeypatch):
    from slm_distill.tools.teachers import project_teacher
    from slm_distill.tools.workspace.settings import set_config

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    spec = f"openai:m@{provider.url}"
    run(project_teacher(example_project, spec).complete(MESSAGES))  # rw (default) records it
    set_config(example_project, "teacher_cache", "replay")
    replaying = project_teacher(example_project, spec)
    run(replaying.complete(MESSAGES))
    assert replaying.meter.cached_calls == 1
    with pytest.raises(TeacherError, match="never recorded") as raised:
        run(replaying.complete(MESSAGES, sample=1))
    assert "distill config set teacher_cache rw" in raised.value.render("cli")
    assert 'set_config(key="teacher_cache", value="rw")' in raised.value.render("mcp")
    assert len(provider.requests) == 1


def test_budget_stops_before_overspending(provider, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    provider.responder = lambda m: "word " * 2000
    meter = CostMeter(budget_usd=0.05)
    teacher = make_teacher(f"anthropic:claude-sonnet-4-5@{provider.url}", meter=meter)
    made = 0
    with pytest.raises(BudgetExceeded, match="Budget of \\$0.05"):
        for i in range(100):
            run(teacher.complete(MESSAGES, sample=i))
            made += 1
    assert 0 < made < 100 and meter.cost_usd >= 0.05
    assert len(provider.requests) == made


def test_a_budget_refuses_a_model_it_cannot_price(provider, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    meter = CostMeter(budget_usd=5.0)
    teacher = make_teacher(f"openai:my-finetune-7b@{provider.url}", meter=meter)
    with pytest.raises(BudgetExceeded, match="not in the price table"):
        run(teacher.complete(MESSAGES))
    assert provider.requests == [] and not meter.priced
    unbudgeted = make_teacher(f"openai:my-finetune-7b@{provider.url}", meter=CostMeter())
    run(unbudgeted.complete(MESSAGES))  # without a budget it runs, its cost reported unknown
    assert len(provider.requests) == 1


def test_anthropic_batch_api_gathers_calls(provider, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    provider.responder = lambda m: f"echo {m[-1]['content']}"
    meter = CostMeter()
    teacher = make_teacher(f"anthropic:claude-sonnet-4-5@{provider.url}", batch=True, meter=meter)
    teacher._batcher.window_s = 0.05

    async def many():
        calls = [teacher.complete([{"role": "user", "content": f"q{i}"}], sample=i)
                 for i in range(5)]
        return await asyncio.gather(*calls)

    results = run(many())
    assert [r[0].text for r in results] == [f"echo q{i}" for i in range(5)]
    assert provider.count("/v1/messages/batches") == 1  # one batch for all five
    assert provider.count("/v1/messages") == 0
    full = make_teacher("anthropic:claude-sonnet-4-5").cost(results[0][0])
    assert meter.cost_usd == pytest.approx(5 * full / 2)


class _Rules:
    """A tiny rule system."""

    def answer(self, input, context):
        return f"SELECT '{input}'"

    def propose(self, n, seeds, context):
        return [{"input": f"q{context['sample']}-{i}", "output": "SELECT 1"} for i in range(n)]


RULES = _Rules()


class _FakeTask:
    def context(self):
        return {"task": "fake"}

    def extract(self, raw):
        return raw


def test_python_teacher_object_and_class(tmp_path, monkeypatch):
    module = tmp_path / "my_rules.py"
    module.write_text(
        "class Rules:\n"
        "    def answer(self, input, context):\n"
        "        return input.upper() + context['task']\n"
        "    async def propose(self, n, seeds, context):\n"
        "        return [{'input': str(i), 'output': str(context['sample'])} for i in range(n)]\n"
        "RULES = Rules()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec in ("python:my_rules:RULES", "python:my_rules:Rules"):
        teacher = make_teacher(spec, cache=TeacherCache(tmp_path / f"{spec[-5:]}.sqlite"))
        assert run(teacher.answer("hi", _FakeTask())) == "HIfake"
        items = run(teacher.propose(2, [], _FakeTask(), sample=7))
        assert items == [{"input": "0", "output": "7"}, {"input": "1", "output": "7"}]
        assert teacher.meter.calls == 2
        run(teacher.answer("hi", _FakeTask()))
        assert teacher.meter.calls == 2 and teacher.meter.cached_calls == 1


def test_python_teacher_errors_are_actionable(monkeypatch):
    monkeypatch.setitem(sys.modules, "nothing_here", None)
    with pytest.raises(UsageError, match="cannot import"):
        make_teacher("python:nothing_here:X")
    with pytest.raises(UsageError, match="has no NOPE"):
        make_teacher("python:tests.test_teachers:NOPE")


@pytest.mark.slow  # llama.cpp
def test_llama_cpp_teacher_generates_from_a_gguf(tiny_gguf: Path):
    meter = CostMeter()
    teacher = make_teacher(f"llama-cpp:{tiny_gguf}", meter=meter)
    completions = run(teacher.complete(MESSAGES, max_tokens=8, n=2))
    assert len(completions) == 2
    assert all(c.output_tokens > 0 and c.input_tokens > 0 for c in completions)
    assert meter.cost_usd == 0
    run(teacher.aclose())


@pytest.mark.slow  # llama.cpp
def test_llama_cpp_missing_file_is_a_usage_error(tmp_path):
    teacher = make_teacher(f"llama-cpp:{tmp_path / 'none.gguf'}")
    with pytest.raises(UsageError, match="no such GGUF"):
        run(teacher.complete(MESSAGES))


def test_soft_labels_need_a_backend_that_supports_logprobs(example_project, monkeypatch):
    from slm_distill.tools import train_student
    from slm_distill.tools.teachers import BACKENDS
    from slm_distill.tools.training import students

    class Stub:  # stands in for a model and its tokenizer
        def get_vocab(self):
            return {"a": 0}

        def eval(self):
            return self

    monkeypatch.setattr(students, "load_pretrained", lambda path: (Stub(), Stub()))
    with pytest.raises(UsageError, match="soft_labels"):  # the python teacher has no logprobs
        train_student._teacher_model(example_project, Stub())
    logits_teacher = type("LogitsTeacher", (), {"supports_logprobs": True})
    monkeypatch.setitem(BACKENDS, "logits", lambda: logits_teacher)
    example_project.config.teacher = "logits:./teacher"
    assert isinstance(train_student._teacher_model(example_project, Stub()), Stub)
