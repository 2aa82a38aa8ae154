"""Judge-result cache: a wrapper that serves any cacheable judge from SQLite.

Results are keyed by (judge kind, judge identity, exact input text) and stored as JSON text in the
``judges`` table of a ``ResponseCache`` file (the same WAL SQLite the responses use, so xdist
workers share it). Failures (``JudgeFailure``, and ``None`` from a scoring service) are never
stored: the next run asks again. A judge opts in with ``cacheable = True``, which promises that its
output depends on the input text alone (not on the record), so one cached value serves every
record with that text.
"""
from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from pytest_trustllm.generation.cache import ResponseCache
from pytest_trustllm.types import GenerationResult
from pytest_trustllm.scoring.judges.base import JudgeFailure

KEY_VERSION = 1
TABLE = "judges"

# kind -> the method a judge of that kind answers, and whether it takes records
METHODS = {
    "refusal": ("classify", True),
    "judge": ("complete", False),
    "toxicity": ("score", True),
    "embedder": ("embed", False),
}


def judge_key(kind: str, identity: Mapping[str, Any], text: str) -> str:
    blob = json.dumps({"v": KEY_VERSION, "kind": kind, "judge": identity, "input": text},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JudgeCache:
    """An in-memory layer (always) over an optional SQLite file."""

    def __init__(self, path: str | Path | None = None, *, refresh: bool = False) -> None:
        self.path = Path(path) if path else None
        self.db = ResponseCache(path, refresh=refresh, namespace=TABLE) if path else None
        self.refresh = refresh
        self.mem: dict[str, Any] = {}
        self.lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        with self.lock:
            out = {k: self.mem[k] for k in keys if k in self.mem}
            missing = [k for k in dict.fromkeys(keys) if k not in out]
            if self.db is not None and missing:
                for k, res in self.db.get_many(missing).items():
                    try:
                        out[k] = self.mem[k] = json.loads(res.text)
                    except (TypeError, ValueError):
                        pass  # a damaged row counts as a miss and is overwritten
            return out

    def put_many(self, items: Sequence[tuple[str, Any]]) -> None:
        with self.lock:
            for k, v in items:
                self.mem[k] = v
            if self.db is not None and items:
                self.db.put_many((k, GenerationResult(json.dumps(v, ensure_ascii=False))) for k, v in items)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def _is_failure(value: Any) -> bool:
    return value is None or isinstance(value, JudgeFailure)


class CachedJudge:
    """Same interface as the wrapped judge (``name``, ``identity``, ``stats`` and the kind's method);
    counts cache hits in the wrapped judge's ``stats.cached``. Identical inputs in one batch are
    sent once."""

    def __init__(self, kind: str, inner: Any, cache: JudgeCache) -> None:
        if kind not in METHODS:
            raise ValueError(f"unknown judge kind {kind!r}")
        self.kind = kind
        self.inner = inner
        self.cache = cache
        method, takes_records = METHODS[kind]
        self._method: Callable[..., list[Any]] = getattr(inner, method)
        self._takes_records = takes_records
        setattr(self, method, self._call)

    name = property(lambda self: self.inner.name)
    identity = property(lambda self: self.inner.identity)
    stats = property(lambda self: self.inner.stats)

    def __getattr__(self, attr: str) -> Any:  # extras of the wrapped judge (problems, selection...)
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def _call(self, texts: Sequence[str], records: Sequence[Mapping[str, Any]] | None = None) -> list[Any]:
        texts = list(texts)
        identity = self.inner.identity
        keys = [judge_key(self.kind, identity, t) if isinstance(t, str) else None for t in texts]
        hits = self.cache.get_many([k for k in keys if k is not None])
        out: list[Any] = [None] * len(texts)
        todo: dict[str, list[int]] = {}  # key -> positions still to judge
        uncacheable: list[int] = []
        for i, k in enumerate(keys):
            if k is None:
                uncacheable.append(i)
            elif k in hits:
                out[i] = hits[k]
                self.inner.stats.cached += 1
            else:
                todo.setdefault(k, []).append(i)
        first = [pos[0] for pos in todo.values()] + uncacheable
        if first:
            sub_texts = [texts[i] for i in first]
            if self._takes_records:
                recs = list(records) if records is not None else [{}] * len(texts)
                got = self._method(sub_texts, [recs[i] for i in first])
            else:
                got = self._method(sub_texts)
            if len(got) != len(first):
                raise RuntimeError(f"judge {self.inner.name!r} returned {len(got)} results for {len(first)} inputs")
            fresh: list[tuple[str, Any]] = []
            by_first = dict(zip(first, got))
            for k, pos in todo.items():
                value = by_first[pos[0]]
                for i in pos:
                    out[i] = value
                if not _is_failure(value):
                    fresh.append((k, _jsonable(value)))
            for i in uncacheable:
                out[i] = by_first[i]
            self.cache.put_many(fresh)
        return out


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def with_cache(kind: str, judge: Any, cache: JudgeCache | None) -> Any:
    """Wrap ``judge`` when it is cacheable and a cache is configured; otherwise return it as is."""
    if judge is None or cache is None or not getattr(judge, "cacheable", False):
        return judge
    return CachedJudge(kind, judge, cache)
