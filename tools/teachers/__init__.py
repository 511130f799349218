"""Teacher registry and spec parsing.

A spec names a backend and a model: `anthropic:claude-sonnet-4-5`, `openai:gpt-4o`,
`openai:deepseek-chat@https://api.deepseek.com/v1`, `llama-cpp:./teacher.gguf`,
`python:my_module:TEACHER`, `hf:./local-model`. Built-in backends register in `BACKENDS` like plug-ins would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slm_distill.tools.errors import UsageError
from slm_distill.tools.teachers.base import Completion, CostMeter, Retryable, Teacher
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


@dataclass(frozen=True)
class TeacherSpec:
    backend: str
    model: str
    base_url: str | None = None

    def __str__(self) -> str:
        return f"{self.backend}:{self.model}" + (f"@{self.base_url}" if self.base_url else "")


def parse_spec(spec: str) -> TeacherSpec:
    backend, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise UsageError(f"Teacher spec {spec!r} should look like BACKEND:MODEL, e.g. "
                         "anthropic:claude-sonnet-4-5 or python:my_module:TEACHER.")
    if backend not in BACKENDS:
        raise UsageError(f"Unknown teacher backend {backend!r} in {spec!r}. "
                         f"Available: {', '.join(BACKENDS)}.")
    base_url = None
    if backend in _URL_BACKENDS and "@" in rest:
        rest, base_url = rest.split("@", 1)
    return TeacherSpec(backend, rest, base_url)


def make_teacher(spec: str, *, cache: TeacherCache | None = None, meter: CostMeter | None = None,
                 concurrency: int = 8, batch: bool = False) -> Teacher:
    parsed = parse_spec(spec)
    cls = BACKENDS[parsed.backend]()
    kwargs: dict[str, Any] = {"cache": cache, "meter": meter, "concurrency": concurrency}
    if parsed.base_url:
        kwargs["base_url"] = parsed.base_url
    if batch:
        if not cls.supports_batch:
            raise UsageError(f"{parsed.backend} has no batch API; drop --batch.")
        kwargs["batch"] = True
    return cls(parsed.model, **kwargs)


def project_teacher(project: Any, spec: str | None = None, *, budget_usd: float | None = None,
                    batch: bool = False, cache_mode: str = "rw") -> Teacher:
    """The project's teacher (or `spec`), wrapped in the project's SQLite cache."""
    gen = project.config.generation
    return make_teacher(
        spec or project.config.teacher,
        cache=TeacherCache(project.cache_path, mode=cache_mode),  # type: ignore[arg-type]
        meter=CostMeter(budget_usd=budget_usd),
        concurrency=gen.concurrency,
        batch=batch,
    )
