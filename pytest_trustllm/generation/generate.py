"""Generation through the response cache: look up, generate the rest, store each response at once."""
from __future__ import annotations

import dataclasses
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence, TextIO

from pytest_trustllm.generation.backends.base import Backend
from pytest_trustllm.generation.budget import BUDGET_REACHED, BudgetGuard
from pytest_trustllm.generation.cache import ResponseCache, request_key
from pytest_trustllm.types import GenerationRequest, GenerationResult

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class GenerationStats:
    generated: int = 0
    cached: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, result: GenerationResult) -> None:
        if result.error == BUDGET_REACHED:  # never sent
            return
        if not result.ok:
            self.errors += 1
        elif result.cached:
            self.cached += 1
        else:
            self.generated += 1
            self.prompt_tokens += result.prompt_tokens
            self.completion_tokens += result.completion_tokens

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


class Progress:
    """A progress callback for ``generate_all``: items done, items/s, ETA, printed at most every
    ``every_s`` seconds (and once at the end) to ``stream`` (stderr: on xdist workers stdout is
    captured, stderr reaches the terminal).

    Responses found in the cache count as done but not towards the rate, so the ETA reflects the
    model's speed. The first generated item is the warm-up (it carries the model's load): the rate
    and the ETA are measured from its end, and until a second item is generated the line says
    ``warming up`` rather than guessing from the load time. A run shorter than ``every_s`` prints nothing.
    """

    def __init__(self, total: int, *, label: str = "generation", stream: TextIO | None = None,
                 every_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        self.label = f"[{worker}] {label}" if worker else label
        self.stream = stream
        self.every_s = every_s
        self.clock = clock
        self.start = clock()
        self.done = 0
        self.cached = 0
        self._last: float | None = None  # when the last line was printed
        self._finished = False
        self._warm: tuple[float, int] | None = None  # (when, items generated) at the end of the warm-up
        self.lines = 0

    def __call__(self, n: int = 1) -> None:
        self.done += n
        if self._warm is None and n > 0:
            self._warm = (self.clock(), self.done - self.cached)
        self._maybe_print()

    def add_cached(self, n: int) -> None:
        self.done += n
        self.cached += n
        self._maybe_print()

    @property
    def rate(self) -> float:
        """Generated (not cached) items per second since the warm-up (0.0 while warming up)."""
        if self._warm is None:
            return 0.0
        when, at = self._warm
        elapsed = self.clock() - when
        n = self.done - self.cached - at
        return n / elapsed if n > 0 and elapsed > 0 else 0.0

    def eta_s(self) -> float | None:
        r = self.rate
        return (self.total - self.done) / r if r > 0 else None

    def line(self) -> str:
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        eta = self.eta_s()
        parts = [f"trustllm {self.label}: {self.done}/{self.total}{pct}"]
        if self.rate > 0:
            parts.append(f"{self.rate:.1f} items/s")
        if self.cached:
            parts.append(f"{self.cached} cached")
        if self.done < self.total:
            parts.append(f"ETA {_duration(eta)}" if eta is not None else "warming up")
        return ", ".join(parts)

    def _maybe_print(self) -> None:
        if self._finished:
            return
        now = self.clock()
        finished = self.done >= self.total
        since = now - (self._last if self._last is not None else self.start)
        # a short run stays quiet; a long one ends with its 100 % line
        if since >= self.every_s or finished and self._last is not None:
            self._write(self.line())
            self._last = now
        self._finished = finished

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stderr
        try:
            stream.write(text + "\n")
            stream.flush()
        except (OSError, ValueError):  # a closed stream must not break generation
            pass
        self.lines += 1


def _duration(s: float) -> str:
    s = int(round(s))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def _without_lone_surrogates(res: GenerationResult) -> GenerationResult:
    """A lone surrogate (an emoji cut in half by the token limit, a bad \\ud83d escape) cannot be
    written as UTF-8 anywhere downstream: it becomes U+FFFD, as a UTF-8 decoder would make it."""
    if res.text is None or not _SURROGATE.search(res.text):
        return res
    return dataclasses.replace(res, text=_SURROGATE.sub("\ufffd", res.text))


def generate_all(
    backend: Backend,
    requests: Sequence[GenerationRequest],
    cache: ResponseCache | None = None,
    stats: GenerationStats | None = None,
    progress: Callable[[int], None] | None = None,
    budget: BudgetGuard | None = None,
) -> list[GenerationResult]:
    """Answer every request, in order. Identical requests are generated once; each successful
    response is stored in the cache as soon as the backend hands it over. Under a run budget, the
    requests it does not admit are answered ``budget reached`` and never sent."""
    cacheable = getattr(backend, "cacheable", True)
    use_cache = cache is not None and cacheable
    keys = [request_key(backend.identity, r) for r in requests]
    results: list[GenerationResult | None] = [None] * len(requests)
    hits = cache.get_many(keys) if use_cache else {}
    mid = cache.register_model(backend.identity) if use_cache else None
    first: dict[str, int] = {}
    todo: list[int] = []
    n_hits = 0
    for i, k in enumerate(keys):
        if k in hits:
            results[i] = hits[k]
            n_hits += 1
        elif k in first and cacheable:
            continue  # a duplicate of a request already queued
        else:
            first[k] = i
            todo.append(i)
    if n_hits and progress:
        add_cached = getattr(progress, "add_cached", None)
        add_cached(n_hits) if add_cached else progress(n_hits)
    seen: set[int] = set()

    cache_failed: list[str] = []

    def on_result(wave: list[int], j: int, res: GenerationResult) -> None:
        i = wave[j]
        if i in seen:
            return
        seen.add(i)
        res = _without_lone_surrogates(res)
        results[i] = res
        if use_cache and res.ok and not cache_failed:
            try:
                cache.put(keys[i], res, model=mid)
            except Exception as e:  # noqa: BLE001 - losing a cache entry must never lose the response
                cache_failed.append(str(e))
                warnings.warn(f"response cache write failed ({e}); this batch goes on without caching",
                              RuntimeWarning, stacklevel=2)
        if progress:
            progress(1)

    def run_wave(wave: list[int]) -> None:
        out = backend.generate([requests[i] for i in wave], lambda j, res: on_result(wave, j, res))
        if len(out) != len(wave):
            raise RuntimeError(f"backend {getattr(backend, 'name', backend)!r} returned {len(out)} results "
                               f"for {len(wave)} requests")
        for j, res in enumerate(out):
            on_result(wave, j, res)

    if budget is None:
        if todo:
            run_wave(todo)
    else:
        # in waves: each admits what fits at worst, and books what it really cost before the next
        while todo:
            n, reserved = budget.admit([requests[i] for i in todo])
            if n == 0:
                for i in todo:
                    results[i] = GenerationResult(None, BUDGET_REACHED)
                break
            wave, todo = todo[:n], todo[n:]
            try:
                run_wave(wave)
            finally:  # a crashed wave still books what it spent
                budget.settle(reserved, [(requests[i], results[i]) for i in wave if results[i] is not None])
    for i, k in enumerate(keys):  # fill duplicates from their first occurrence
        if results[i] is None:
            src = results[first[k]]
            results[i] = src if not src.ok else GenerationResult(src.text, None, 0, 0, cached=True)
            if progress:
                progress(1)
    final = [r for r in results if r is not None]
    if stats is not None:
        for r in final:
            stats.add(r)
    return final
