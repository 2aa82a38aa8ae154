"""The response cache: SQLite in WAL mode, shared by xdist workers, keyed by model identity,
generation parameters and the exact messages. Every response is committed as soon as it exists,
so a killed run loses only what was in flight."""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .types import GenerationRequest, GenerationResult

SCHEMA_VERSION = 1


def request_key(identity: Mapping[str, Any], req: GenerationRequest) -> str:
    """Stable key: the seed counts only when sampling (greedy output does not depend on it)."""
    payload = {
        "v": SCHEMA_VERSION,
        "model": identity,
        "messages": [[m.role, m.content] for m in req.messages],
        "temperature": req.temperature,
        "max_new_tokens": req.max_new_tokens,
        "seed": req.seed if req.temperature > 0 else None,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, path: str | Path, *, refresh: bool = False, namespace: str = "responses") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.refresh = refresh
        self.table = namespace
        # isolation_level=None: autocommit, each write is its own durable transaction
        self.db = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=60000")
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
            "prompt_tokens INTEGER, completion_tokens INTEGER, created REAL)"
        )

    def get_many(self, keys: Sequence[str]) -> dict[str, GenerationResult]:
        if self.refresh or not keys:
            return {}
        out: dict[str, GenerationResult] = {}
        for start in range(0, len(keys), 500):
            part = list(keys[start:start + 500])
            q = f"SELECT key, text, prompt_tokens, completion_tokens FROM {self.table} WHERE key IN ({','.join('?' * len(part))})"
            for key, text, pt, ct in self.db.execute(q, part):
                out[key] = GenerationResult(text, None, pt or 0, ct or 0, cached=True)
        return out

    def put(self, key: str, result: GenerationResult) -> None:
        self.put_many([(key, result)])

    def put_many(self, rows: Iterable[tuple[str, GenerationResult]]) -> None:
        rows = [(k, r.text, r.prompt_tokens, r.completion_tokens, time.time()) for k, r in rows if r.ok]
        if rows:
            self.db.executemany(f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?, ?, ?, ?)", rows)

    def count(self) -> int:
        return self.db.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0]

    def check(self) -> str:
        """SQLite's own integrity check: 'ok' when the file is sound."""
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self.db.close()
