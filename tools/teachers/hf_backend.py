"""`hf:<model dir or id>` — a local transformers model as teacher. Free and private, and the only
backend whose token distributions can be read, so it can teach with soft labels
(training.soft_labels) when it shares the student's tokenizer.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, ClassVar

from slm_distill.tools.tasks.base import Message
from slm_distill.tools.teachers.base import Completion, Teacher, local_path


class HFTeacher(Teacher):
    backend = "hf"
    # one model computes one call at a time: a second call waits, its pairs validated meanwhile
    default_concurrency: ClassVar[int] = 2
    supports_logprobs = True
    is_local = True

    def __init__(self, model: str, *, base_dir: Path | None = None, **kw: Any) -> None:
        super().__init__(model, **kw)
        self.path = local_path(model, base_dir)
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from slm_distill.tools.training.students import load_pretrained

            model, tokenizer = load_pretrained(str(self.path) if self.path.exists() else self.model)
            self._loaded = (model.eval(), tokenizer)
        return self._loaded

    def _generate(self, messages: list[Message], n: int, temperature: float,
                  max_tokens: int) -> list[Completion]:
        import torch

        from slm_distill.tools.training.students import end_of_turn_id
        from slm_distill.tools.training.training_data import prompt_ids

        with self._lock:
            model, tokenizer = self._load()
            prompt = prompt_ids(tokenizer, messages)
            end_id = end_of_turn_id(tokenizer)
            out = []
            for i in range(n):
                torch.manual_seed(i)
                generated = model.generate(
                    input_ids=torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt),
                                                                                dtype=torch.long),
                    max_new_tokens=max_tokens, do_sample=temperature > 0,
                    temperature=temperature or None, eos_token_id=end_id,
                    pad_token_id=tokenizer.pad_token_id)[0, len(prompt):].tolist()
                if end_id in generated:
                    generated = generated[: generated.index(end_id)]
                out.append(Completion(text=tokenizer.decode(generated, skip_special_tokens=True),
                                      input_tokens=len(prompt), output_tokens=len(generated)))
            return out

    async def _complete(self, messages: list[Message], *, n: int, temperature: float,
                        max_tokens: int) -> list[Completion]:
        return await asyncio.to_thread(self._generate, messages, n, temperature, max_tokens)
