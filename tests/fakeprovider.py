"""A local HTTP server on 127.0.0.1 that speaks the Anthropic and OpenAI wire formats.

Tests point the real `anthropic` and `openai` SDKs at it. It answers with `responder(messages)`,
can be told to fail the next requests with given HTTP statuses (429, 500...), and records every
request so tests can count calls and inspect bodies.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[list[dict]], str]


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


class FakeProvider:
    def __init__(self, responder: Responder | None = None) -> None:
        self.responder: Responder = responder or (lambda messages: "SELECT 1")
        self.requests: list[dict[str, Any]] = []
        self.failures: list[int] = []
        self.batches: dict[str, list[dict]] = {}
        self.echo_keys = False  # error bodies repeat the key the client sent, as some providers do
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # shutdown() waits for the serve loop to notice; a short poll keeps teardown quick
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, *statuses: int) -> None:
        with self._lock:
            self.failures.extend(statuses)

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"] == path)

    # -- wire formats ---------------------------------------------------------
    def anthropic_message(self, body: dict) -> dict:
        messages = body["messages"]
        if body.get("system"):
            messages = [{"role": "system", "content": body["system"]}, *messages]
        text = self.responder(messages)
        prompt = " ".join(str(m["content"]) for m in messages)
        return {
            "id": f"msg_{next(self._ids)}", "type": "message", "role": "assistant",
            "model": body["model"], "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": _tokens(prompt), "output_tokens": _tokens(text)},
        }

    def openai_completion(self, body: dict) -> dict:
        n = body.get("n") or 1
        texts = [self.responder(body["messages"]) for _ in range(n)]
        prompt = _tokens(" ".join(str(m["content"]) for m in body["messages"]))
        completion = sum(_tokens(t) for t in texts)
        return {
            "id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion", "created": 0,
            "model": body["model"],
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": t},
                 "finish_reason": "stop", "logprobs": None}
                for i, t in enumerate(texts)
            ],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
        }

    def batch_object(self, batch_id: str) -> dict:
        n = len(self.batches[batch_id])
        return {
            "id": batch_id, "type": "message_batch", "processing_status": "ended",
            "request_counts": {"processing": 0, "succeeded": n, "errored": 0, "canceled": 0,
                               "expired": 0},
            "created_at": "2026-11-27T00:00:00Z", "ended_at": "2026-11-27T00:01:00Z",
            "expires_at": "2026-11-28T00:00:00Z", "cancel_initiated_at": None,
            "archived_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{batch_id}/results",
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: Any, content_type: str = "application/json",
                      headers: dict | None = None) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _maybe_fail(self) -> bool:
                with provider._lock:
                    status = provider.failures.pop(0) if provider.failures else None
                if status is None:
                    return False
                kind = "rate_limit_error" if status == 429 else "api_error"
                message = f"fake {status}"
                if provider.echo_keys:
                    sent = self.headers.get("x-api-key") or self.headers.get("Authorization")
                    message += f": the request sent {sent}"
                body = {"type": "error", "error": {"type": kind, "message": message}}
                self._send(status, body, headers={"retry-after": "0"})
                return True

            def _record(self, body: Any) -> None:
                provider.requests.append({"path": self.path, "body": body,
                                          "headers": {k.lower(): v for k, v in self.headers.items()}})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                self._record(body)
                if self._maybe_fail():
                    return
                if self.path.endswith("/chat/completions"):
                    self._send(200, provider.openai_completion(body))
                elif self.path.endswith("/v1/messages/batches"):
                    batch_id = f"msgbatch_{next(provider._ids)}"
                    provider.batches[batch_id] = body["requests"]
                    self._send(200, provider.batch_object(batch_id))
                elif self.path.endswith("/v1/messages"):
                    self._send(200, provider.anthropic_message(body))
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_GET(self) -> None:  # noqa: N802
                self._record(None)
                parts = self.path.strip("/").split("/")
                if len(parts) >= 4 and parts[:3] == ["v1", "messages", "batches"]:
                    batch_id = parts[3]
                    if parts[-1] == "results":
                        lines = [
                            json.dumps({"custom_id": r["custom_id"], "result": {
                                "type": "succeeded",
                                "message": provider.anthropic_message(r["params"])}})
                            for r in provider.batches[batch_id]
                        ]
                        self._send(200, ("\n".join(lines) + "\n").encode(),
                                   content_type="application/binary")
                    else:
                        self._send(200, provider.batch_object(batch_id))
                    return
                self._send(404, {"error": {"message": "not found"}})

        return Handler
