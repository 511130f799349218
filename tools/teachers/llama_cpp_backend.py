"""`llama-cpp:<path.gguf>` — a local GGUF model through llama-cpp-python (free, private, slower).

The model loads once, on first use; calls run one at a time in a worker thread.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, ClassVar

from slm_distill.tools.errors import UsageError, require
from slm_distill.tools.llamacpp.quiet import quiet_native_stderr
from slm_distill.tools.llamacpp.threads import llama_threads
from slm_distill.tools.tasks.base import Message
from slm_distill.tools.teachers.base import Completion, Teacher, local_path


class LlamaCppTeacher(Teacher):
    backend = "llama-cpp"
    # one model computes one call at a time: a second call waits, its pairs validated meanwhile
    default_concurrency: ClassVar[int] = 2
    is_local = True

    def __init__(self, model: str, *, n_ctx: int = 8192, base_dir: Path | None = None,
                 **kw: Any) -> None:
        super().__init__(model, **kw)
        self.path = local_path(model, base_dir)
        self.n_ctx = n_ctx
        self._llm: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._llm is None:
            if not self.path.is_file():
                raise UsageError(f"{self.path}: no such GGUF file. Give the path of a .gguf model "
                                 "after llama-cpp:, e.g. llama-cpp:./teacher.gguf")
            llama_cpp = require("llama_cpp", "llama-cpp-python", "llama")
            with quiet_native_stderr():
                self._llm = llama_cpp.Llama(model_path=str(self.path), n_ctx=self.n_ctx,
                                            verbose=False, n_threads=llama_threads(),
                                            n_threads_batch=llama_threads())
        return self._llm

    def _generate(self, messages: list[Message], n: int, temperature: float,
                  max_tokens: int) -> list[Completion]:
        with self._lock:
            llm = self._load()
            out = []
            for i in range(n):
                response = llm.create_chat_completion(
                    messages=messages, temperature=temperature, max_tokens=max_tokens, seed=i,
                )
                usage = response.get("usage") or {}
                out.append(Completion(
                    text=response["choices"][0]["message"].get("content") or "",
                    input_tokens=usage.get("prompt_tokens", 0),
                    output_tokens=usage.get("completion_tokens", 0),
                ))
            return out

    async def _complete(self, messages: list[Message], *, n: int, temperature: float,
                        max_tokens: int) -> list[Completion]:
        return await asyncio.to_thread(self._generate, messages, n, temperature, max_tokens)

    async def aclose(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None
