"""`openai:<model>[@base_url][#KEY_ENV]` — any OpenAI-compatible chat completions endpoint.

OpenAI itself, DeepSeek, vLLM, Ollama or a llama.cpp server: one class, the endpoint is a
parameter. The key comes from OPENAI_API_KEY, or from the variable a `#KEY_ENV` suffix names, so a
second provider's key need not replace OpenAI's:

    openai:deepseek-chat@https://api.deepseek.com/v1#DEEPSEEK_API_KEY

Local endpoints that need no key get a placeholder. The key is never logged, cached or reported.
"""

from __future__ import annotations

from typing import Any, ClassVar

from slm_distill.tools.tasks.base import Message
from slm_distill.tools.teachers.base import Completion, Retryable, Teacher, status_error

_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def _is_local(base_url: str | None) -> bool:
    return bool(base_url) and any(h in base_url for h in _LOCAL_HOSTS)


class OpenAITeacher(Teacher):
    backend = "openai"
    key_env_var: ClassVar[str] = "OPENAI_API_KEY"
    timeout_s: ClassVar[float] = 600.0
    default_concurrency: ClassVar[int] = 16  # hosted APIs; 429s back off (Teacher._with_retries)
    local_concurrency: ClassVar[int] = 8  # a server on this machine (vLLM, Ollama, llama.cpp)

    def __init__(self, model: str, *, base_url: str | None = None,
                 key_env: str | None = None, **kw: Any) -> None:
        self.base_url = base_url
        super().__init__(model, **kw)
        self.key_env = key_env
        self._client: Any = None

    @classmethod
    def auto_concurrency(cls, base_url: str | None = None) -> int:
        return cls.local_concurrency if _is_local(base_url) else cls.default_concurrency

    def check_ready(self) -> None:
        self.client  # noqa: B018 - making the client reads the key

    @property
    def client(self) -> Any:
        if self._client is None:
            import openai

            key = self.api_key(self.key_var, local_ok=_is_local(self.base_url))
            self._client = openai.AsyncOpenAI(api_key=key, base_url=self.base_url,
                                              max_retries=0, timeout=self.timeout_s)
        return self._client

    async def _complete(self, messages: list[Message], *, n: int, temperature: float,
                        max_tokens: int) -> list[Completion]:
        import openai

        try:
            response = await self.client.chat.completions.create(
                model=self.model, messages=messages, n=n, temperature=temperature,
                max_tokens=max_tokens,
            )
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise Retryable(f"connection problem: {type(exc).__name__}") from exc
        except openai.APIStatusError as exc:
            raise status_error(exc, self.spec, self.key_var) from exc
        usage = response.usage
        prompt = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        # Usage covers all n choices: the prompt is charged once, so spread both over choices.
        out = []
        for i, choice in enumerate(response.choices):
            out.append(Completion(
                text=choice.message.content or "",
                input_tokens=prompt if i == 0 else 0,
                output_tokens=completion_tokens // len(response.choices)
                + (completion_tokens % len(response.choices) if i == 0 else 0),
            ))
        return out

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


