"""`python:<module>:<NAME>` — any Python object with `answer(input, context) -> str`.

NAME is an object, or a class instantiated with no arguments; it may also have
`propose(n, seeds, context) -> list[dict]`; a judge has `judge(request) -> dict` (see
tools/judge.py). The module is imported from the current PYTHONPATH.
A rule system, an existing pipeline, a heuristic: anything worth distilling. Methods may be
plain or async. Calls are cached like any teacher's, keyed by the module's source too, so editing
the module invalidates old answers.

`context` holds the task's context (Text2SQL: `schema`, `db_path`) plus `augmentation` (None,
"paraphrase", "entities" or "complexity"), `sample` (an integer that makes repeated calls differ
deterministically) and `temperature`.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import json
from typing import Any

from slm_distill.tools.errors import TeacherError, UsageError
from slm_distill.tools.tasks.base import Message, Task
from slm_distill.tools.teachers.base import Completion, Teacher
from slm_distill.tools.teachers.cache import cache_key


def load_object(target: str) -> Any:
    module_name, _, attr = target.rpartition(":")
    if not module_name or not attr:
        raise UsageError(f"python:{target}: expected python:MODULE:NAME, e.g. python:my_rules:TEACHER")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"python:{target}: cannot import {module_name} ({exc}). Is its folder "
                         "on PYTHONPATH?") from exc
    except Exception as exc:  # noqa: BLE001 - the user's module failed while importing
        raise UsageError(f"python:{target}: importing {module_name} failed: "
                         f"{type(exc).__name__}: {exc}") from exc
    if not hasattr(module, attr):
        raise UsageError(f"python:{target}: module {module_name} has no {attr}.")
    obj = getattr(module, attr)
    if inspect.isclass(obj):
        try:
            obj = obj()
        except Exception as exc:  # noqa: BLE001 - the user's class failed to build
            raise UsageError(f"python:{target}: {attr}() failed: {type(exc).__name__}: {exc}") from exc
    if not any(callable(getattr(obj, m, None)) for m in ("answer", "judge")):
        raise UsageError(f"python:{target}: {attr} has no answer(input, context) method (nor, "
                         "for a judge, judge(request)).")
    return obj


def _source_hash(obj: Any) -> str:
    try:
        source = inspect.getsource(inspect.getmodule(obj) or type(obj))
    except (OSError, TypeError):
        return ""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


async def _call(fn: Any, *args: Any) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    return await asyncio.to_thread(fn, *args)


class PythonTeacher(Teacher):
    backend = "python"
    is_local = True

    def __init__(self, model: str, **kw: Any) -> None:
        super().__init__(model, **kw)
        self.obj = load_object(model)
        self.version = _source_hash(self.obj)
        self.doc = (inspect.getdoc(self.obj) or "").split("\n\n")[0]

    @property
    def description(self) -> str:
        return f"a Python rule system, not an LLM{': ' + self.doc if self.doc else ''}"

    def _context(self, task: Task, **extra: Any) -> dict[str, Any]:
        return {**task.context(), **extra}

    async def answer(self, input: str, task: Task, *, sample: int = 0,
                     temperature: float = 0.0, max_tokens: int = 1024) -> str:
        if not callable(getattr(self.obj, "answer", None)):
            raise TeacherError(f"{self.spec} has no answer(input, context) method, so it cannot "
                               "answer inputs (it is a judge). Use another teacher.")
        context = self._context(task, augmentation=None, sample=sample, temperature=temperature)
        key = cache_key(backend=self.backend, model=self.model, version=self.version,
                        method="answer", input=input, sample=sample, temperature=temperature)

        async def call() -> str:
            result = await _call(self.obj.answer, input, context)
            self.meter.add([], 0.0, cached=False)
            if isinstance(result, dict | list):  # an extraction teacher may return the object
                return json.dumps(result, ensure_ascii=False)
            return str(result or "")

        return task.extract(await self.cached(key, call))

    async def propose(self, n: int, examples: list[dict], task: Task, *, mode: str = "new",
                      focus: dict | None = None, sample: int = 0, temperature: float = 0.9,
                      max_tokens: int = 4096) -> list[dict]:
        if not callable(getattr(self.obj, "propose", None)):
            raise TeacherError(f"{self.spec} has no propose(n, seeds, context) method, so it "
                               "cannot generate pairs. Add one, or use an LLM teacher.")
        augmentation = None if mode == "new" else mode
        context = self._context(task, augmentation=augmentation, focus=focus, sample=sample,
                                temperature=temperature)
        key = cache_key(backend=self.backend, model=self.model, version=self.version,
                        method="propose", n=n, examples=examples, mode=mode, sample=sample,
                        temperature=temperature, **({"focus": focus} if focus else {}))

        async def call() -> list[dict]:
            result = await _call(self.obj.propose, n, examples, context)
            self.meter.add([], 0.0, cached=False)
            return [dict(item) for item in result or []]

        return await self.cached(key, call)

    async def call_object(self, method: str, request: dict) -> Any:
        """The object's `method(request)` (a judge's `judge`), cached and counted like answers."""
        fn = getattr(self.obj, method, None)
        if not callable(fn):
            raise TeacherError(f"{self.spec} has no {method}(request) method, so it cannot be "
                               f"used as a judge. Add one, or use an LLM as the judge.")
        key = cache_key(backend=self.backend, model=self.model, version=self.version,
                        method=method, request=request)

        async def call() -> Any:
            result = await _call(fn, request)
            self.meter.add([], 0.0, cached=False)
            return result

        return await self.cached(key, call)

    async def _complete(self, messages: list[Message], *, n: int, temperature: float,
                        max_tokens: int) -> list[Completion]:
        raise TeacherError(f"{self.spec} answers inputs, not chat messages: use it as a teacher "
                           "for labelling and generation; as a judge it needs a judge(request) method.")
