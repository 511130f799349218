"""Teacher registry and spec parsing.

A spec names a backend and a model: `anthropic:claude-sonnet-4-5`, `openai:gpt-4o`,
`openai:deepseek-chat@https://api.deepseek.com/v1`, `llama-cpp:./teacher.gguf`,
`python:my_module:TEACHER`, `hf:./local-model`. Built-in backends register in `BACKENDS` like plug-ins would.

The URL backends (anthropic, openai) take two optional suffixes, in this order: `@BASE_URL` for
another endpoint and `#KEY_ENV` naming the environment variable that holds the key (default
ANTHROPIC_API_KEY or OPENAI_API_KEY). The spec carries the variable's name, never the key:

    parse_spec("openai:deepseek-chat@https://api.deepseek.com/v1#DEEPSEEK_API_KEY")
    # TeacherSpec(backend='openai', model='deepseek-chat', base_url='https://api.deepseek.com/v1',
    #             key_env='DEEPSEEK_API_KEY')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slm_distill.tools import secrets
from slm_distill.tools.actions import act
from slm_distill.tools.errors import UsageError
from slm_distill.tools.teachers.base import Completion, CostMeter, Retryable, Teacher, format_spec
from slm_distill.tools.teachers.cache import TeacherCache

__all__ = ["BACKENDS", "Completion", "CostMeter", "Retryable", "Teacher", "TeacherCache",
           "TeacherSpec", "make_teacher", "parse_spec"]


def _anthropic() -> type[Teacher]:
    from slm_distill.tools.teachers.anthropic_backend import AnthropicTeacher

    return AnthropicTeacher


def _openai() -> type[Teacher]:
    from slm_distill.tools.teachers.openai_backend import OpenAITeacher

    return OpenAITeacher


def _llama_cpp() -> type[Teacher]:
    from slm_distill.tools.teachers.llama_cpp_backend import LlamaCppTeacher

    return LlamaCppTeacher


def _python() -> type[Teacher]:
    from slm_distill.tools.teachers.python_backend import PythonTeacher

    return PythonTeacher


def _hf() -> type[Teacher]:
    from slm_distill.tools.teachers.hf_backend import HFTeacher

    return HFTeacher


BACKENDS = {"anthropic": _anthropic, "openai": _openai, "llama-cpp": _llama_cpp, "python": _python,
            "hf": _hf}
_URL_BACKENDS = {"anthropic", "openai"}
# only key variables: a spec (which an agent can set) must not send, say, a cloud secret elsewhere
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*_API_KEY")


@dataclass(frozen=True)
class TeacherSpec:
    backend: str
    model: str
    base_url: str | None = None
    key_env: str | None = None  # the environment variable holding the key (URL backends)

    def __str__(self) -> str:
        return format_spec(self.backend, self.model, self.base_url, self.key_env)


def _bad_form(spec: str) -> UsageError:
    return UsageError(f"Teacher spec {spec!r} should look like BACKEND:MODEL, e.g. "
                      "anthropic:claude-sonnet-4-5 or python:my_module:TEACHER.")


def parse_spec(spec: str) -> TeacherSpec:
    backend, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise _bad_form(spec)
    if backend not in BACKENDS:
        raise UsageError(f"Unknown teacher backend {backend!r} in {spec!r}. "
                         f"Available: {', '.join(BACKENDS)}.")
    if backend not in _URL_BACKENDS:
        return TeacherSpec(backend, rest)
    rest, key_env = _split_key_env(spec, rest)
    base_url = None
    if "@" in rest:
        rest, base_url = rest.split("@", 1)
    if not rest:
        raise _bad_form(spec)
    return TeacherSpec(backend, rest, base_url, key_env)


def _split_key_env(spec: str, rest: str) -> tuple[str, str | None]:
    """Split off a `#KEY_ENV` suffix; refuse anything but a variable name (never echo it: it
    may be a pasted key)."""
    if "#" not in rest:
        return rest, None
    rest, _, key_env = rest.rpartition("#")
    if not _ENV_NAME.fullmatch(key_env):
        shown = spec.rpartition("#")[0]
        raise UsageError(f"Teacher spec {shown}#...: a #KEY_ENV suffix (last, after any @BASE_URL) "
                         "must name the environment variable that holds the key, a name ending in "
                         "_API_KEY, e.g. openai:deepseek-chat@https://api.deepseek.com/v1"
                         "#DEEPSEEK_API_KEY. "
                         "Put the key itself in that variable, never in the spec.")
    return rest, key_env


LOCAL_FILES = ("llama-cpp", "hf")  # backends whose model is a path on this machine


def check_spec(spec: str, base_dir: Path | None = None) -> TeacherSpec:
    """A spec that names a teacher that can be made here: parsed, a python: object imported, a
    GGUF that exists (relative paths mean `base_dir`, the project directory)."""
    from slm_distill.tools.teachers.base import local_path

    parsed = parse_spec(spec)
    if parsed.backend == "python":
        from slm_distill.tools.teachers.python_backend import load_object

        load_object(parsed.model)
    if parsed.backend == "llama-cpp" and not local_path(parsed.model, base_dir).is_file():
        raise UsageError(f"{spec}: {parsed.model} is no such GGUF file. Give the path of a .gguf "
                         "model, e.g. llama-cpp:./models/teacher-q4_k_m.gguf.")
    return parsed


def make_teacher(spec: str, *, cache: TeacherCache | None = None, meter: CostMeter | None = None,
                 concurrency: int | None = None, batch: bool = False,
                 base_dir: Path | None = None) -> Teacher:
    """The teacher a spec names; `concurrency` None: the backend's default (auto)."""
    parsed = parse_spec(spec)
    cls = BACKENDS[parsed.backend]()
    kwargs: dict[str, Any] = {"cache": cache, "meter": meter, "concurrency": concurrency}
    if parsed.backend in LOCAL_FILES and base_dir is not None:
        kwargs["base_dir"] = base_dir
    if parsed.base_url:
        kwargs["base_url"] = parsed.base_url
    if parsed.key_env:
        kwargs["key_env"] = parsed.key_env
        secrets.watch(parsed.key_env)
    if batch:
        if not cls.supports_batch:
            raise UsageError(f"{parsed.backend} has no batch API; leave batch off: {{fix}}.",
                             fix=act("set_config", key="generation.batch", value=False))
        kwargs["batch"] = True
    return cls(parsed.model, **kwargs)


def project_teacher(project: Any, spec: str | None = None, *, budget_usd: float | None = None,
                    batch: bool = False) -> Teacher:
    """The project's teacher (or `spec`), wrapped in the project's SQLite cache in the project's
    `teacher_cache` mode (rw, replay or off)."""
    gen, mode = project.config.generation, project.config.teacher_cache
    chosen = spec or project.config.teacher
    check_spec(chosen, project.root)  # a bad spec is refused before anything is opened
    concurrency = None if gen.concurrency == "auto" else gen.concurrency
    teacher = make_teacher(chosen, meter=CostMeter(budget_usd=budget_usd),
                           concurrency=concurrency, batch=batch, base_dir=project.root)
    if mode != "replay":  # replay answers from the cache alone: no key needed
        teacher.check_ready()
    teacher.cache = TeacherCache(project.cache_path, mode=mode)
    return teacher
