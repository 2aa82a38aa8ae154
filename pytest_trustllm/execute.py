"""One batch of items through the flow: requests -> (cache) backend -> scorer -> outcomes.
Pure of pytest: the plugin's items and ``evaluate`` both call it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

from .backends.base import Backend
from .budget import BUDGET_REACHED, BudgetGuard
from .cache import ResponseCache
from .generation import GenerationStats, generate_all
from .scorers.base import ScoringContext, Unscored, run_scorer
from .suite.records import ItemSpec, public_record
from .suite.schema import SuiteSpec
from .types import GenerationRequest, GenerationResult, Message, Score


@dataclass(frozen=True)
class ItemOutcome:
    outcome: str  # pass | violation | dropped | error | skip
    score: Score | None
    message: str
    response: str | None
    generation: GenerationResult | None


def request_seed(seed: int, item_id: str) -> int:
    """A per-item seed: sampling is reproducible whatever the batch an item lands in."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{item_id}".encode()).digest()[:4], "big")


def build_request(suite: SuiteSpec, item: ItemSpec, *, cap: int | None, seed: int) -> GenerationRequest:
    gen = suite.generation
    messages = []
    if gen.system_prompt:
        messages.append(Message("system", gen.system_prompt))
    messages.append(Message("user", item.prompt))
    max_new = min(gen.max_new_tokens, cap) if cap else gen.max_new_tokens
    return GenerationRequest(tuple(messages), gen.temperature, max_new, request_seed(seed, item.id),
                             record=item.record, key=item.id)


def execute(
    suite: SuiteSpec,
    items: Sequence[ItemSpec],
    backend: Backend,
    ctx: ScoringContext,
    *,
    cache: ResponseCache | None = None,
    stats: GenerationStats | None = None,
    cap: int | None = None,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    budget: BudgetGuard | None = None,
) -> list[ItemOutcome]:
    requests = [build_request(suite, it, cap=cap, seed=seed) for it in items]
    try:
        results = generate_all(backend, requests, cache, stats, progress, budget)
    except Exception as e:  # noqa: BLE001 - a backend crash errors its items, never loses them
        msg = f"backend {getattr(backend, 'name', '?')} failed: {type(e).__name__}: {e}"
        return [ItemOutcome("error", None, msg, None, None) for _ in items]
    outcomes: list[ItemOutcome | None] = [None] * len(items)
    to_score: list[int] = []
    for i, res in enumerate(results):
        if res.ok:
            to_score.append(i)
        elif res.error == BUDGET_REACHED:  # never generated: skipped, and its gates incomplete
            outcomes[i] = ItemOutcome("skip", None, BUDGET_REACHED, None, None)
        else:
            outcomes[i] = ItemOutcome("error", None, f"generation failed: {res.error}", None, res)
    if to_score:
        batch = [(public_record(items[i]), results[i].text or "") for i in to_score]
        scores = run_scorer(suite.scorer.name, batch, ctx, suite.scorer.args)
        for i, sc in zip(to_score, scores):
            text = results[i].text
            if isinstance(sc, Unscored):
                outcomes[i] = ItemOutcome(sc.kind, None, sc.message, text, results[i])
            else:
                outcomes[i] = ItemOutcome(sc.verdict, sc, sc.explanation, text, results[i])
    return [o for o in outcomes if o is not None]
