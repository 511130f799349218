"""The Teacher abstraction: `answer` (label an input) and `propose` (invent new pairs).

LLM backends implement one method, `_complete(messages, n, temperature, max_tokens)`; the base class
adds the cache, retries with exponential backoff, token and cost accounting, and the budget. A
`python` teacher overrides `answer`/`propose` directly. Capabilities are class attributes.

    teacher = make_teacher("openai:gpt-4o", cache=TeacherCache(path), meter=CostMeter(5.0))
    sql = await teacher.answer("How many customers?", task)
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from slm_distill.tools.actions import Blank, act
from slm_distill.tools.errors import BudgetExceeded, TeacherError, UsageError
from slm_distill.tools.secrets import scrub
from slm_distill.tools.tasks.base import Message, Task
from slm_distill.tools.teachers.cache import TeacherCache, cache_key
from slm_distill.tools.teachers.pricing import cost_usd, price_of

log = logging.getLogger(__name__)


class Completion(BaseModel):
    text: str
    input_tokens: int = 0
    output_tokens: int = 0


class Retryable(Exception):
    """Raised by a backend for 429s, 5xx and timeouts; the base class retries it."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CostMeter(BaseModel):
    """Tokens and dollars spent by one stage; raises BudgetExceeded once the budget is reached."""

    budget_usd: float | None = None
    calls: int = 0
    cached_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    priced: bool = True

    def check(self) -> None:
        if self.budget_usd is not None and not self.priced:
            raise BudgetExceeded(
                f"A budget of ${self.budget_usd:.2f} was set, but this model is not in the price "
                "table, so what it costs cannot be counted. Drop the budget (after checking the "
                "provider's prices yourself) or choose a listed model; nothing was spent."
            )
        if self.budget_usd is not None and self.cost_usd >= self.budget_usd:
            raise BudgetExceeded(
                f"Budget of ${self.budget_usd:.2f} reached (spent ${self.cost_usd:.4f}). Raise the "
                "budget and run it again to go on; the work so far is kept and cached calls are "
                "free.")

    def add(self, completions: list[Completion], cost: float, *, cached: bool) -> None:
        if cached:
            self.cached_calls += 1
            return
        self.calls += 1
        self.input_tokens += sum(c.input_tokens for c in completions)
        self.output_tokens += sum(c.output_tokens for c in completions)
        self.cost_usd += cost


def format_spec(backend: str, model: str, base_url: str | None = None,
                key_env: str | None = None) -> str:
    """`BACKEND:MODEL[@BASE_URL][#KEY_ENV]`, the one spelling of a teacher spec."""
    return (f"{backend}:{model}" + (f"@{base_url}" if base_url else "")
            + (f"#{key_env}" if key_env else ""))


class Teacher(ABC):
    backend: ClassVar[str]
    supports_batch: ClassVar[bool] = False
    supports_logprobs: ClassVar[bool] = False  # token distributions readable: soft labels
    key_env_var: ClassVar[str | None] = None  # the variable holding the key, unless a spec names one
    is_local: ClassVar[bool] = False
    # calls in flight when generation.concurrency is auto: what the backend serves well at once
    default_concurrency: ClassVar[int] = 8
    key_env: str | None = None  # set from a spec's `#VAR`

    def __init__(self, model: str, *, cache: TeacherCache | None = None,
                 meter: CostMeter | None = None, concurrency: int | None = None) -> None:
        self.model = model
        self.cache = cache
        self.meter = meter or CostMeter()
        self.concurrency = concurrency or self.auto_concurrency(getattr(self, "base_url", None))
        self.semaphore = asyncio.Semaphore(self.concurrency)
        if not self.is_local and price_of(model) is None:
            self.meter.priced = False

    @classmethod
    def auto_concurrency(cls, base_url: str | None = None) -> int:
        """Calls in flight by default (`generation.concurrency: auto`) for this backend."""
        return cls.default_concurrency

    @property
    def spec(self) -> str:
        return format_spec(self.backend, self.model, getattr(self, "base_url", None), self.key_env)

    @property
    def key_var(self) -> str | None:
        """The environment variable the key is read from: the spec's `#VAR`, else the default."""
        return self.key_env or self.key_env_var

    @property
    def description(self) -> str:
        """What the teacher is, where its spec does not say it all; empty for an LLM."""
        return ""

    def check_ready(self) -> None:  # noqa: B027 - optional hook, like aclose
        """Raise the error its first call would (a missing key) before anything is opened."""

    def api_key(self, env_var: str, *, local_ok: bool = False) -> str:
        """The key from the environment (never stored); local endpoints may go without one."""
        key = os.environ.get(env_var)
        if key:
            return key
        if local_ok:
            return "not-needed"
        raise UsageError(f"No key for {self.spec}: set {env_var} in the environment, or choose "
                         "another teacher: {fix}.", fix=act("validate_teacher", teacher=Blank("spec")))

    async def answer(self, input: str, task: Task, *, sample: int = 0,
                     temperature: float = 0.0, max_tokens: int = 1024) -> str:
        [completion] = await self.complete(task.teacher_messages(input), sample=sample,
                                           temperature=temperature, max_tokens=max_tokens)
        return task.extract(completion.text)

    async def propose(self, n: int, examples: list[dict], task: Task, *, mode: str = "new",
                      focus: dict | None = None, sample: int = 0, temperature: float = 0.9,
                      max_tokens: int = 4096) -> list[dict]:
        messages = task.propose_messages(n, examples, mode, focus)
        [completion] = await self.complete(messages, sample=sample, temperature=temperature,
                                           max_tokens=max_tokens)
        return task.parse_proposals(completion.text)

    async def complete(self, messages: list[Message], *, n: int = 1, sample: int = 0,
                       temperature: float = 0.0, max_tokens: int = 1024) -> list[Completion]:
        """One cached, retried, metered call returning `n` completions."""
        key = cache_key(backend=self.backend, model=self.model, messages=messages, n=n,
                        temperature=temperature, max_tokens=max_tokens, sample=sample)
        data = await self.cached(key, lambda: self._metered(messages, n, temperature, max_tokens))
        return [Completion.model_validate(c) for c in data]

    async def cached(self, key: str, call: Any) -> Any:
        """Return the cached value for `key`, or make the call (budget checked) and record it."""
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is not None:
            self.meter.add([], 0.0, cached=True)
            return hit
        if self.cache is not None and self.cache.mode == "replay":
            raise TeacherError("Cache miss in replay mode (teacher_cache: replay): this call was "
                               "never recorded, and replay spends nothing. To let the teacher "
                               "answer and record it: {fix}.",
                               fix=act("set_config", key="teacher_cache", value="rw"))
        self.meter.check()
        value = await call()
        if self.cache is not None:
            self.cache.put(key, value, backend=self.backend, model=self.model)
        return value

    async def _metered(self, messages: list[Message], n: int, temperature: float,
                       max_tokens: int) -> list[dict]:
        async with self.semaphore:
            completions = await self._with_retries(messages, n, temperature, max_tokens)
        cost = sum(self.cost(c) for c in completions)
        self.meter.add(completions, cost, cached=False)
        return [c.model_dump() for c in completions]

    def cost(self, completion: Completion) -> float:
        return cost_usd(self.model, completion.input_tokens, completion.output_tokens)

    max_retries: ClassVar[int] = 6
    backoff_base: ClassVar[float] = 1.0
    backoff_cap: ClassVar[float] = 60.0

    async def _with_retries(self, messages: list[Message], n: int, temperature: float,
                            max_tokens: int) -> list[Completion]:
        for attempt in range(self.max_retries + 1):
            try:
                return await self._complete(messages, n=n, temperature=temperature,
                                            max_tokens=max_tokens)
            except Retryable as exc:
                if attempt == self.max_retries:
                    raise TeacherError(
                        f"{self.spec}: gave up after {attempt + 1} attempts ({exc}). The provider "
                        "is rate-limiting or failing; wait and rerun (finished calls are cached)."
                    ) from exc
                delay = min(self.backoff_cap, self.backoff_base * 2**attempt)
                wait = min(exc.retry_after or 0.0, self.backoff_cap)
                delay = max(delay * (0.5 + random.random() / 2), wait)
                log.warning("%s: %s; retry %d in %.1fs", self.spec, exc, attempt + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    @abstractmethod
    async def _complete(self, messages: list[Message], *, n: int, temperature: float,
                        max_tokens: int) -> list[Completion]:
        """Call the backend once; raise Retryable for 429/5xx/timeouts, TeacherError otherwise."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release clients and models."""

    async def close(self) -> None:
        """Release clients, models and the cache's connection: the teacher is done."""
        await self.aclose()
        if self.cache is not None:
            self.cache.close()


def local_path(model: str, base_dir: Path | None) -> Path:
    """A local teacher's file or folder: relative to `base_dir` (the project) when given."""
    path = Path(model).expanduser()
    return path if path.is_absolute() or base_dir is None else base_dir / path


def status_error(exc: Any, spec: str, key_env: str | None) -> Exception:
    """Map an SDK's APIStatusError to Retryable (429, 5xx) or a TeacherError that says what to do."""
    status = exc.status_code
    if status == 429 or status >= 500:
        header = exc.response.headers.get("retry-after") if exc.response is not None else None
        try:
            retry_after = float(header) if header else None
        except ValueError:
            retry_after = None
        return Retryable(f"HTTP {status}", retry_after)
    if status in (401, 403):
        return TeacherError(f"{spec}: the API key was refused (HTTP {status}). Check the key in "
                            f"{key_env or 'the environment'}.")
    # a provider may echo the request, key included, in its message
    return TeacherError(f"{spec}: request refused (HTTP {status}): {scrub(str(exc.message))[:300]}")
