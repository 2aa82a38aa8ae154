"""Repeated sampling (``--trust-repeats=K``): each item of a sampling suite (temperature > 0) is
generated K times, with seeds derived from the run seed, the item and the repeat, each repeat its own
cache entry. Pure functions: the item outcome of K repeat outcomes, the scored items the metrics see,
and the per-suite consistency and flipping items.

- An item passes only when every scored repeat passes; its message says how many passed
  (``2/3 repeats passed``). A repeat that errors errors the item (errors are never passes).
- An item *flips* when its scored repeats disagree (some pass, some violate).
- Metrics use every repeat; an item's repeats are one cluster (``_cluster``) for the intervals.
- A suite's consistency: the share of its items with two or more scored repeats whose repeats agree.

A greedy suite (temperature 0) is generated once whatever K: its repeats would be the same response.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from pytest_trustllm.types import Score, ScoredItem


def effective_repeats(repeats: int, temperature: float) -> int:
    return repeats if temperature > 0 else 1


def repeat_key(item_id: str, r: int) -> str:
    """What seeds repeat ``r`` of an item: repeat 0 is the item itself (so K=1 is today's run and
    repeat 0 reuses its cached responses)."""
    return item_id if r == 0 else f"{item_id}#repeat{r}"


@dataclass(frozen=True)
class RepeatSummary:
    k: int
    passed: int
    violated: int
    dropped: int
    errors: int

    @property
    def flipping(self) -> bool:
        return self.passed > 0 and self.violated > 0

    @property
    def outcome(self) -> str:
        if self.errors:
            return "error"
        if self.violated:
            return "violation"
        if self.passed:
            return "pass"
        return "dropped"

    def message(self) -> str:
        scored = self.passed + self.violated
        text = f"{self.passed}/{scored} repeats passed" if scored else f"0 of {self.k} repeats scored"
        extra = [f"{n} {what}" for n, what in ((self.dropped, "dropped"), (self.errors, "errored")) if n]
        return text + (f" ({', '.join(extra)})" if extra else "") + (" — flipping" if self.flipping else "")


def summarize(outcomes: Sequence[str]) -> RepeatSummary:
    return RepeatSummary(len(outcomes), outcomes.count("pass"), outcomes.count("violation"),
                         outcomes.count("dropped"), outcomes.count("error"))


def repeat_payloads(reps: Sequence[Any], model: str | None) -> list[dict[str, Any]]:
    """Each repeat of an item outcome (``execute.ItemOutcome``) as JSON for the report payload."""
    out = []
    for r in reps:
        gen = r.generation
        out.append({"outcome": r.outcome, "score": r.score.to_json() if r.score else None,
                    "generation": None if gen is None else {
                        "cached": gen.cached, "error": gen.error, "prompt_tokens": gen.prompt_tokens,
                        "completion_tokens": gen.completion_tokens,
                        "replayed": str(model).split(":")[0] == "replay"}})
    return out


def expand(payload: Mapping[str, Any]) -> list[ScoredItem]:
    """The scored repeats of one item payload (or results record) as the metrics see them."""
    fields = dict(payload.get("fields") or {})
    cluster = fields.get("_group", payload["id"])
    out = []
    for r, rep in enumerate(payload["repeats"]):
        if rep.get("score") is None:
            continue
        f = dict(fields)
        f["_cluster"] = str(cluster)
        f["_repeat"] = r
        if fields.get("_group") is not None:  # pair rules (AdvGLUE) pair within one repeat
            f["_group"] = f"{fields['_group']}#repeat{r}"
        out.append(ScoredItem(payload["id"] if r == 0 else f"{payload['id']}#repeat{r}", f,
                              Score.from_json(rep["score"])))
    return out


def suite_repeats(records: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """``{"k", "items", "consistency", "flipping": [ids]}`` for a suite's records, None without repeats."""
    k = 0
    multi = agree = 0
    flipping = []
    for r in records:
        reps = r.get("repeats")
        if not reps:
            continue
        k = max(k, len(reps))
        verdicts = {x["outcome"] for x in reps if x["outcome"] in ("pass", "violation")}
        scored = sum(1 for x in reps if x["outcome"] in ("pass", "violation"))
        if scored >= 2:
            multi += 1
            if len(verdicts) == 1:
                agree += 1
            else:
                flipping.append(r["id"])
    if not k:
        return None
    return {"k": k, "items": multi, "consistency": agree / multi if multi else None, "flipping": flipping}


def record_generations(record: Mapping[str, Any]) -> list[Mapping[str, Any] | None]:
    """A record's responses: one, or one per repeat (--trust-repeats)."""
    reps = record.get("repeats")
    return [x.get("generation") for x in reps] if reps else [record.get("generation")]
