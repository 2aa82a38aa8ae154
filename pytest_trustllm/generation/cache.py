"""The response cache: SQLite in WAL mode, shared by xdist workers, keyed by model identity,
generation parameters and the exact messages. Every response is committed as soon as it exists,
so a killed run loses only what was in flight, and a rerun resumes from the cache.

Several processes may read and write one file at once (WAL: readers never block, writers take
turns under a 60 s busy timeout). Only successful responses are stored: an error is retried on
the next run. ``refresh=True`` ignores what is stored and overwrites it; ``readonly=True`` reads
and never writes. ``check_cache(path)`` reports on a file without changing it.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from pytest_trustllm.types import GenerationRequest, GenerationResult

SCHEMA_VERSION = 1      # of the cache key (changing it invalidates every stored response)
TABLE_VERSION = 2       # of the file layout (PRAGMA user_version); older layouts are upgraded in place
SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 60.0


class CacheError(Exception):
    """The cache file cannot be used (not SQLite, corrupted, locked too long): a user-facing message."""


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


def model_id(identity: Mapping[str, Any]) -> str:
    """A short id for a model identity (the cache's ``models`` table maps it back)."""
    blob = json.dumps(identity, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _looks_like_sqlite(path: Path) -> bool:
    """True for an SQLite file or an empty one (SQLite makes a database of an empty file)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return True  # unreadable: let sqlite3 say why
    return not head or head == SQLITE_MAGIC


def _file_uri(path: Path) -> str:
    return "file:" + urllib.parse.quote(str(path.absolute()))


def _unusable(path: Path, why: str) -> CacheError:
    return CacheError(f"response cache {path} is unusable: {why}. Move or delete the file (a new cache is made "
                      f"in its place), or run without the cache; `python -m pytest_trustllm cache-check {path}` "
                      "reports what is wrong")


class ResponseCache:
    def __init__(self, path: str | Path, *, refresh: bool = False, namespace: str = "responses",
                 readonly: bool = False) -> None:
        self.path = Path(path)
        self.refresh = refresh
        self.readonly = readonly
        if not namespace.isidentifier():
            raise ValueError(f"cache namespace must be an identifier, got {namespace!r}")
        self.table = namespace
        self._lock = threading.Lock()
        self._models: set[str] = set()
        if self.path.exists() and not _looks_like_sqlite(self.path):
            raise _unusable(self.path, "it is not an SQLite database")
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise CacheError(f"response cache {self.path} does not exist (read-only cache)")
        try:
            self.db = self._connect()
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise CacheError(f"response cache {self.path} stayed locked for {BUSY_TIMEOUT_S:.0f} s by another "
                                 "process") from None
            raise _unusable(self.path, str(e)) from None
        except sqlite3.DatabaseError as e:
            raise _unusable(self.path, str(e)) from None

    def _connect(self) -> sqlite3.Connection:
        uri = f"{_file_uri(self.path)}?mode={'ro' if self.readonly else 'rwc'}"
        # isolation_level=None: autocommit, each write is its own durable transaction
        db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        if self.readonly:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # fails now on a corrupt file
            return db
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            # Switching to WAL needs a moment alone with the file; when several workers open a new
            # cache at once SQLite can answer "locked" without waiting, so wait here.
            try:
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                db.execute("PRAGMA synchronous=NORMAL")
                with db:  # one transaction: create and upgrade the layout atomically
                    db.execute("BEGIN IMMEDIATE")
                    self._create(db)
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        if str(mode).lower() != "wal":
            db.close()
            raise CacheError(f"response cache {self.path}: this filesystem does not support SQLite's WAL mode "
                             f"(journal_mode={mode}); put the cache on a local disk")
        return db

    def _create(self, db: sqlite3.Connection) -> None:
        t = self.table
        # WITHOUT ROWID: a lookup by key is one B-tree search, not an index search plus a table search
        db.execute(f"CREATE TABLE IF NOT EXISTS {t} (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
                   "prompt_tokens INTEGER, completion_tokens INTEGER, created REAL, model TEXT) WITHOUT ROWID")
        cols = {r[1] for r in db.execute(f"PRAGMA table_info({t})")}
        if "model" not in cols:  # layout 1 had no model column
            db.execute(f"ALTER TABLE {t} ADD COLUMN model TEXT")
        db.execute("CREATE TABLE IF NOT EXISTS models (model TEXT PRIMARY KEY, identity TEXT NOT NULL, created REAL)")
        if db.execute("PRAGMA user_version").fetchone()[0] < TABLE_VERSION:
            db.execute(f"PRAGMA user_version={TABLE_VERSION}")

    # -- reading ------------------------------------------------------------------------------
    def get_many(self, keys: Sequence[str]) -> dict[str, GenerationResult]:
        if self.refresh or not keys:
            return {}
        out: dict[str, GenerationResult] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = list(keys[start:start + 500])
                q = (f"SELECT key, text, prompt_tokens, completion_tokens FROM {self.table} "
                     f"WHERE key IN ({','.join('?' * len(part))})")
                for key, text, pt, ct in self._exec(q, part):
                    out[key] = GenerationResult(text, None, pt or 0, ct or 0, cached=True)
        return out

    def get(self, key: str) -> GenerationResult | None:
        return self.get_many([key]).get(key)

    # -- writing ------------------------------------------------------------------------------
    def register_model(self, identity: Mapping[str, Any]) -> str:
        """Record a model identity once; returns the id to pass to ``put(..., model=)``."""
        mid = model_id(identity)
        if mid not in self._models and not self.readonly:
            blob = json.dumps(identity, sort_keys=True, ensure_ascii=False)
            with self._lock:  # read first: a rerun then takes no write lock at all
                if not self._exec("SELECT 1 FROM models WHERE model = ?", (mid,)):
                    self._exec("INSERT OR IGNORE INTO models VALUES (?, ?, ?)", (mid, blob, time.time()))
        self._models.add(mid)
        return mid

    def put(self, key: str, result: GenerationResult, *, model: str | None = None) -> None:
        self.put_many([(key, result)], model=model)

    def put_many(self, rows: Iterable[tuple[str, GenerationResult]], *, model: str | None = None) -> None:
        if self.readonly:
            return
        now = time.time()
        rows = [(k, r.text, r.prompt_tokens, r.completion_tokens, now, model) for k, r in rows if r.ok]
        if not rows:
            return
        sql = f"INSERT OR REPLACE INTO {self.table} (key, text, prompt_tokens, completion_tokens, created, model) " \
              "VALUES (?, ?, ?, ?, ?, ?)"
        with self._lock:
            if len(rows) == 1:
                self._exec(sql, rows[0])
            else:
                try:
                    self.db.execute("BEGIN IMMEDIATE")
                    self.db.executemany(sql, rows)
                    self.db.execute("COMMIT")
                except BaseException:
                    if self.db.in_transaction:
                        self.db.execute("ROLLBACK")
                    raise

    def _exec(self, sql: str, params: Sequence[Any] = ()):
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise CacheError(f"response cache {self.path} stayed locked for {BUSY_TIMEOUT_S:.0f} s by another "
                                 "process") from None
            raise
        except sqlite3.DatabaseError as e:
            raise _unusable(self.path, str(e)) from None

    # -- inspection ---------------------------------------------------------------------------
    def count(self) -> int:
        with self._lock:
            return self._exec(f"SELECT COUNT(*) FROM {self.table}")[0][0]

    def check(self) -> str:
        """SQLite's own integrity check: 'ok' when the file is sound."""
        with self._lock:
            return "; ".join(r[0] for r in self._exec("PRAGMA integrity_check"))

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def __enter__(self) -> "ResponseCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class CacheReport:
    """What ``check_cache`` found. ``ok`` is False when the file cannot serve as a cache."""

    path: str
    ok: bool
    integrity: str = ""
    rows: int = 0
    models: Mapping[str, int] = field(default_factory=dict)   # model identity (JSON) -> rows
    table_version: int = 0
    size_bytes: int = 0
    wal_bytes: int = 0
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["models"], d["problems"] = dict(self.models), list(self.problems)
        return d

    def format(self) -> str:
        lines = [f"response cache {self.path}: {'OK' if self.ok else 'PROBLEM'}"]
        if self.integrity:
            lines.append(f"  integrity: {self.integrity}")
        lines.append(f"  responses: {self.rows}  size: {self.size_bytes} B (+ WAL {self.wal_bytes} B)  "
                     f"layout: {self.table_version}")
        for ident, n in sorted(self.models.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {n:>8}  {ident}")
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)

    __str__ = format


def check_cache(path: str | Path, namespace: str = "responses") -> CacheReport:
    """Inspect a cache file without changing it: SQLite integrity, layout, rows per model.

    Ready for ``python -m pytest_trustllm cache-check PATH`` (print ``report.format()``, exit 0 if
    ``report.ok`` else 1).
    """
    p = Path(path)
    if not p.is_file():
        return CacheReport(str(p), False, problems=(f"no such file: {p}",))
    size = p.stat().st_size
    wal = Path(f"{p}-wal")
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    if not _looks_like_sqlite(p):
        return CacheReport(str(p), False, size_bytes=size, problems=("not an SQLite database (wrong file header)",))
    problems: list[str] = []
    try:
        # mode=rw: no new file, but SQLite may still read the WAL and its index
        db = sqlite3.connect(f"{_file_uri(p)}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as e:
        return CacheReport(str(p), False, size_bytes=size, wal_bytes=wal_bytes, problems=(f"cannot open: {e}",))
    try:
        integrity = "; ".join(r[0] for r in db.execute("PRAGMA integrity_check").fetchall()[:20])
        if integrity != "ok":
            problems.append("SQLite integrity check failed")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        rows, models = 0, {}
        if namespace not in tables:
            problems.append(f"no '{namespace}' table: not a pytest-trustllm response cache")
        else:
            rows = db.execute(f"SELECT COUNT(*) FROM {namespace}").fetchone()[0]
            bad = db.execute(f"SELECT COUNT(*) FROM {namespace} WHERE length(key) != 64 OR text IS NULL").fetchone()[0]
            if bad:
                problems.append(f"{bad} rows with a malformed key or no text")
            cols = {r[1] for r in db.execute(f"PRAGMA table_info({namespace})")}
            names = {}
            if "models" in tables:
                names = dict(db.execute("SELECT model, identity FROM models").fetchall())
            if "model" in cols:
                for mid, n in db.execute(f"SELECT model, COUNT(*) FROM {namespace} GROUP BY model"):
                    label = names.get(mid, "(model not recorded)" if mid is None else f"(unknown model {mid})")
                    models[label] = models.get(label, 0) + n
    except sqlite3.DatabaseError as e:
        return CacheReport(str(p), False, size_bytes=size, wal_bytes=wal_bytes,
                           problems=tuple(problems) + (f"database error: {e}",))
    finally:
        db.close()
    return CacheReport(str(p), not problems, integrity, rows, models, version, size, wal_bytes, tuple(problems))


def default_cache_path(root: str | Path | None = None) -> Path:
    """``.trustllm-cache/responses.sqlite`` under ``root`` (the pytest rootdir), unless
    ``TRUSTLLM_CACHE`` names a file."""
    env = os.environ.get("TRUSTLLM_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(root or ".") / ".trustllm-cache" / "responses.sqlite"
