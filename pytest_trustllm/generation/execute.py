"""One batch of items through the flow: requests -> (cache) backend -> scorer -> outcomes.
Pure of pytest: the plugin's items and ``evaluate`` both call it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

from pytest_trustllm.generation.backends.base import Backend
from pytest_trustllm.generation.budget import BUDGET_REACHED, BudgetGuard
from pytest_trustllm.generation.cache import ResponseCache
from pytest_trustllm.generation.generate import GenerationStats, generate_all
from pytest_trustllm.scoring.scorers.base import ScoringContext, Unscored, run_scorer
from pytest_trustllm.generation.repeats import effective_repeats, repeat_key, summarize
from pytest_trustllm.suite.records import ItemSpec, public_record
from pytest_trustllm.suite.schema import SuiteSpec
from pytest_trustllm.types import GenerationRequest, GenerationResult, Message, Score


@dataclass(frozen=True)
class ItemOutcome:
    outcome: str  # pass | violation | dropped | error | skip
    score: Score | None
    message: str
    response: str | None
    generation: GenerationResult | None
    repeats: tuple["ItemOutcome", ...] = ()  # --trust-repeats=K > 1: each repeat's own outcome


def request_seed(seed: int, item_id: str) -> int:
    """A per-item seed: sampling is reproducible whatever the batch an item lands in."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{item_id}".encode()).digest()[:4], "big")


def build_request(suite: SuiteSpec, item: ItemSpec, *, cap: int | None, seed: int, repeat: int = 0) -> GenerationRequest:
    gen = suite.generation
    messages = []
    if gen.system_prompt:
        messages.append(Message("system", gen.system_prompt))
    messages.append(Message("user", item.prompt))
    max_new = min(gen.max_new_tokens, cap) if cap else gen.max_new_tokens
    return GenerationRequest(tuple(messages), gen.temperature, max_new, request_seed(seed, repeat_key(item.id, repeat)),
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
    repeats: int = 1,
) -> list[ItemOutcome]:
    k = effective_repeats(repeats, suite.generation.temperature)
    requests = [build_request(suite, it, cap=cap, seed=seed, repeat=r) for r in range(k) for it in items]
    try:
        results = generate_all(backend, requests, cache, stats, progress, budget)
    except Exception as e:  # noqa: BLE001 - a backend crash errors its items, never loses them
        msg = f"backend {getattr(backend, 'name', '?')} failed: {type(e).__name__}: {e}"
        return [ItemOutcome("error", None, msg, None, None) for _ in items]
    n = len(items)
    # each repeat is scored as a whole batch: group rules see whole groups within one repeat
    per_repeat = [_score(suite, items, results[r * n:(r + 1) * n], ctx) for r in range(k)]
    if k == 1:
        return per_repeat[0]
    return [combine_repeats([per_repeat[r][i] for r in range(k)]) for i in range(n)]


def combine_repeats(reps: Sequence[ItemOutcome]) -> ItemOutcome:
    """One item's outcome from its repeats' (see ``repeats``): shown score and response are the
    first violating repeat's, else the first repeat's."""
    skipped = next((r for r in reps if r.outcome == "skip"), None)
    if skipped is not None:  # a repeat never scored (budget reached, no judge): the item is not complete
        return skipped
    summary = summarize([r.outcome for r in reps])
    shown = next((r for r in reps if r.outcome == summary.outcome), reps[0])
    detail = f": {shown.message}" if shown.message and summary.outcome in ("violation", "error") else ""
    return ItemOutcome(summary.outcome, shown.score, summary.message() + detail, shown.response, reps[0].generation,
                       tuple(reps))


def _score(suite: SuiteSpec, items: Sequence[ItemSpec], results: Sequence[GenerationResult],
           ctx: ScoringContext) -> list[ItemOutcome]:
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
