"""`anthropic:<model>[@base_url][#KEY_ENV]` — Claude through the Messages API, or Message Batches for bulk.

Current Claude models take no temperature parameter; `temperature` is accepted and ignored.
With `batch=True`, calls made close together are gathered into one Message Batch (half price),
polled until it ends, and each caller gets its own result; the pipeline code does not change.
The key comes from ANTHROPIC_API_KEY, or from the variable a `#KEY_ENV` suffix names
(`anthropic:claude-sonnet-4-5#TEAM_ANTHROPIC_KEY`); it is never logged, cached or reported.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, ClassVar

from slm_distill.tools.errors import TeacherError
from slm_distill.tools.tasks.base import Message
from slm_distill.tools.teachers.base import Completion, Retryable, Teacher, status_error
from slm_distill.tools.teachers.pricing import cost_usd


def _split_system(messages: list[Message]) -> tuple[str | None, list[Message]]:
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system") or None
    return system, [m for m in messages if m["role"] != "system"]


class AnthropicTeacher(Teacher):
    backend = "anthropic"
    supports_batch = True
    key_env_var: ClassVar[str] = "ANTHROPIC_API_KEY"
    timeout_s: ClassVar[float] = 600.0
    default_concurrency: ClassVar[int] = 16  # 429s back off (Teacher._with_retries)

    def __init__(self, model: str, *, base_url: str | None = None, key_env: str | None = None,
                 batch: bool = False, batch_window_s: float = 2.0, poll_interval_s: float = 30.0,
                 **kw: Any) -> None:
        super().__init__(model, **kw)
        if batch:  # the batch, not the semaphore, bounds the load
            self.semaphore = asyncio.Semaphore(100_000)
        self.base_url = base_url
        self.key_env = key_env
        self.batch = batch
        self._client: Any = None
        self._batcher = _Batcher(self, batch_window_s, poll_interval_s) if batch else None

    def check_ready(self) -> None:
        self.client  # noqa: B018 - making the client reads the key

    @property
    def client(self) -> Any:
        if self._client is None:
            import anthropic

            key = self.api_key(self.key_var)
            self._client = anthropic.AsyncAnthropic(api_key=key, base_url=self.base_url,
                                                    max_retries=0, timeout=self.timeout_s)
        return self._client

    def params(self, messages: list[Message], temperature: float, max_tokens: int) -> dict:
        system, rest = _split_system(messages)
        # The Messages API of current Claude models takes no temperature: repeated samples
        # differ by the model's own sampling, and the cache tells them apart by sample index.
        params: dict = {"model": self.model, "messages": rest, "max_tokens": max_tokens}
        if system:
            params["system"] = system
        return params

    def cost(self, completion: Completion) -> float:
        return cost_usd(self.model, completion.input_tokens, completion.output_tokens,
                        batch=self.batch)

    async def _complete(self, messages: list[Message], *, n: int, temperature: float,
                        max_tokens: int) -> list[Completion]:
        params = self.params(messages, temperature, max_tokens)
        calls = [self._one(params) for _ in range(n)]
        return list(await asyncio.gather(*calls))

    async def _one(self, params: dict) -> Completion:
        if self._batcher:
            return await self._batcher.submit(params)
        import anthropic

        try:
            message = await self.client.messages.create(**params)
        except (anthropic.APIConnectionError, anthropic.APITimeoutError) as exc:
            raise Retryable(f"connection problem: {type(exc).__name__}") from exc
        except anthropic.APIStatusError as exc:
            raise status_error(exc, self.spec, self.key_var) from exc
        return to_completion(message)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def to_completion(message: Any) -> Completion:
    text = "".join(getattr(b, "text", "") for b in message.content)
    usage = message.usage
    return Completion(text=text, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)




class _Batcher:
    """Gathers requests for `window_s`, sends them as one Message Batch, and routes the results."""

    def __init__(self, teacher: AnthropicTeacher, window_s: float, poll_s: float) -> None:
        self.teacher = teacher
        self.window_s = window_s
        self.poll_s = poll_s
        self.pending: list[tuple[str, dict, asyncio.Future]] = []
        self.ids = itertools.count()
        self.flusher: asyncio.Task | None = None

    async def submit(self, params: dict) -> Completion:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((f"req-{next(self.ids)}", params, future))
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.create_task(self._flush_after_window())
        return await future

    async def _flush_after_window(self) -> None:
        await asyncio.sleep(self.window_s)
        batch, self.pending = self.pending, []
        try:
            await self._run(batch)
        except Exception as exc:  # noqa: BLE001 - every waiter must hear of the failure
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)

    async def _run(self, batch: list[tuple[str, dict, asyncio.Future]]) -> None:
        import anthropic

        client = self.teacher.client
        requests = [{"custom_id": cid, "params": params} for cid, params, _ in batch]
        try:
            created = await client.messages.batches.create(requests=requests)
            while (status := await client.messages.batches.retrieve(created.id)).processing_status \
                    != "ended":
                await asyncio.sleep(self.poll_s)
            futures = {cid: future for cid, _, future in batch}
            async for item in await client.messages.batches.results(status.id):
                _resolve(futures.pop(item.custom_id, None), item.result)
        except anthropic.APIStatusError as exc:
            raise status_error(exc, self.teacher.spec, self.teacher.key_var) from exc
        for future in futures.values():
            future.set_exception(Retryable("missing from batch results"))


def _resolve(future: asyncio.Future | None, result: Any) -> None:
    if future is None or future.done():
        return
    if result.type == "succeeded":
        future.set_result(to_completion(result.message))
    elif result.type == "errored" and getattr(result.error.error, "type", "") in (
        "invalid_request_error", "authentication_error", "permission_error"
    ):
        future.set_exception(TeacherError(f"batch request refused: {result.error.error.message}"))
    else:
        future.set_exception(Retryable(f"batch request {result.type}"))
