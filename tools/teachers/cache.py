"""Record/replay cache of teacher calls in SQLite: reruns and resumes never pay twice.

A call's key is a hash of backend, model, the request (messages or arguments), its parameters and
the sample index. Modes: "rw" (read, and record misses), "replay" (a miss is an error: offline
reproducibility, nothing spent), "off". A project picks one with `teacher_cache` in distill.yaml.
API keys are never part of a key or a value.

    cache = TeacherCache(Path(".cache/teacher.sqlite"))
    value = cache.get(key) or compute()
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Literal

CacheMode = Literal["rw", "replay", "off"]


def cache_key(**parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class TeacherCache:
    def __init__(self, path: Path, mode: CacheMode = "rw") -> None:
        self.path = path
        self.mode = mode
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, backend TEXT, model TEXT,"
            " value TEXT NOT NULL, created TEXT DEFAULT CURRENT_TIMESTAMP)"
        )

    def get(self, key: str) -> Any | None:
        if self.mode == "off":
            return None
        with self._lock:
            row = self._conn.execute("SELECT value FROM calls WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: Any, *, backend: str, model: str) -> None:
        if self.mode == "off":
            return
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO calls (key, backend, model, value) VALUES (?, ?, ?, ?)",
                (key, backend, model, json.dumps(value, ensure_ascii=False)),
            )

    def close(self) -> None:
        self._conn.close()
