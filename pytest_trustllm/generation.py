"""Generation through the response cache: look up, generate the rest, store each response at once."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from .backends.base import Backend
from .cache import ResponseCache, request_key
from .types import GenerationRequest, GenerationResult


@dataclass
class GenerationStats:
    generated: int = 0
    cached: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, result: GenerationResult) -> None:
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


def generate_all(
    backend: Backend,
    requests: Sequence[GenerationRequest],
    cache: ResponseCache | None = None,
    stats: GenerationStats | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[GenerationResult]:
    """Answer every request, in order. Identical requests are generated once."""
    use_cache = cache is not None and getattr(backend, "cacheable", True)
    keys = [request_key(backend.identity, r) for r in requests]
    results: list[GenerationResult | None] = [None] * len(requests)
    hits = cache.get_many(keys) if use_cache else {}
    first: dict[str, int] = {}
    todo: list[int] = []
    for i, k in enumerate(keys):
        if k in hits:
            results[i] = hits[k]
        elif k in first and getattr(backend, "cacheable", True):
            continue  # a duplicate of a request already queued
        else:
            first[k] = i
            todo.append(i)
    if hits and progress:
        progress(len(hits))
    seen: set[int] = set()

    def on_result(j: int, res: GenerationResult) -> None:
        i = todo[j]
        if i in seen:
            return
        seen.add(i)
        results[i] = res
        if use_cache and res.ok:
            cache.put(keys[i], res)
        if progress:
            progress(1)

    if todo:
        out = backend.generate([requests[i] for i in todo], on_result)
        for j, res in enumerate(out):
            on_result(j, res)
    for i, k in enumerate(keys):  # fill duplicates from their first occurrence
        if results[i] is None:
            src = results[first[k]]
            results[i] = src if not src.ok else GenerationResult(src.text, None, 0, 0, cached=True)
    final = [r for r in results if r is not None]
    if stats is not None:
        for r in final:
            stats.add(r)
    return final
