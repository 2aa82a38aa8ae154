"""Sequential gates (``--trust-sequential``): decide a gate as soon as the evidence allows, and still
keep its error rate. Pure: the seeded item order, the betting test and confidence sequence, the
per-item observations of a metric, and the monitor that follows a suite's batches in order.

The statistics: for a metric that is a mean of per-item values in [0, 1] (a proportion is one), the
gate ``value >= t`` is decided by two tests by betting (Waudby-Smith & Ramdas, "Estimating means of
bounded random variables by betting", JRSS B 86(1), 2024): a gambler who bets that the mean is above
``t`` grows the capital ``K+ = prod(1 + l_i (x_i - t))``, one who bets below grows
``K- = prod(1 - l_i (x_i - t))``, with bets ``l_i`` chosen from the items before i only (aGRAPA,
section 5 of the paper, truncated at half the largest safe bet). Under the mean = ``t`` each capital
is a nonnegative martingale, so by Ville's inequality it ever reaches ``2/alpha`` with probability at
most ``alpha/2``, however often it is looked at: the gate passes when the capital betting on the right
side of the threshold reaches it, fails when the other does, and otherwise runs on. The set of means
that neither capital rejects is the (1 - alpha) confidence sequence reported with the decision.
"""
from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

TRUNCATION = 0.5  # of the largest bet that keeps the capital nonnegative (the paper's c)
PER_ITEM_REDUCTIONS = ("proportion", "mean")
DECIDED = "gate decided after {n} items"


# -- the order items run in ------------------------------------------------------------------

def sequential_order(items: Sequence[Any], seed_key: str, chunk_size: int) -> list[Any]:
    """The items in a seeded random order (a group's items stay together, in file order), re-batched
    in that order: batch k holds the k-th ``chunk_size`` items, a group never split."""
    units: dict[Any, list[Any]] = {}
    for it in items:
        units.setdefault(it.group if it.group is not None else ("item", it.id), []).append(it)
    keys = list(units)
    random.Random(seed_key).shuffle(keys)
    out, chunk, filled = [], 0, 0
    for k in keys:
        members = units[k]
        if filled and filled + len(members) > chunk_size:
            chunk, filled = chunk + 1, 0
        for it in members:
            out.append(dataclasses.replace(it, chunk=chunk))
        filled += len(members)
    return out


# -- the test by betting ----------------------------------------------------------------------

class BettingTest:
    """The two one-sided tests of ``mean = threshold`` on values in [0, 1], for ``runs`` independent
    sequences at once (the simulation tests use thousands; a gate uses one)."""

    def __init__(self, threshold: float, alpha: float, runs: int = 1) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold {threshold} outside [0, 1]")
        self.t = float(threshold)
        self.alpha = float(alpha)
        self.n = np.zeros(runs)
        self.sum = np.zeros(runs)
        self.sq = np.zeros(runs)  # sum of squared deviations from the running regularised mean
        self.log_up = np.zeros(runs)  # log capital betting mean > t
        self.log_down = np.zeros(runs)  # log capital betting mean < t
        self.cap_up = TRUNCATION / self.t if self.t > 0 else 1e6
        self.cap_down = TRUNCATION / (1.0 - self.t) if self.t < 1 else 1e6

    def step(self, x: np.ndarray, active: np.ndarray | None = None) -> None:
        """One observation per run (``active``: the runs that observe one now)."""
        x = np.asarray(x, dtype=float)
        act = np.ones_like(x, dtype=bool) if active is None else np.asarray(active, dtype=bool)
        n = self.n
        mu = (0.5 + self.sum) / (n + 1.0)  # regularised running mean and variance (WSR eq. 26)
        var = (0.25 + self.sq) / (n + 1.0)
        d = mu - self.t
        bet = d / (var + d * d)
        up = np.clip(bet, 0.0, self.cap_up)
        down = np.clip(-bet, 0.0, self.cap_down)
        dev = x - self.t
        with np.errstate(divide="ignore"):
            self.log_up = np.where(act, self.log_up + np.log(np.maximum(1.0 + up * dev, 0.0)), self.log_up)
            self.log_down = np.where(act, self.log_down + np.log(np.maximum(1.0 - down * dev, 0.0)), self.log_down)
        self.sq = np.where(act, self.sq + (x - mu) ** 2, self.sq)
        self.sum = np.where(act, self.sum + x, self.sum)
        self.n = np.where(act, n + 1.0, n)

    def update(self, values: Iterable[float]) -> None:
        for v in values:
            self.step(np.array([v]))

    @property
    def bound(self) -> float:
        return math.log(2.0 / self.alpha)

    def above(self) -> np.ndarray:
        """Runs where a mean <= threshold is rejected: the mean is above it."""
        return self.log_up >= self.bound

    def below(self) -> np.ndarray:
        return self.log_down >= self.bound


def confidence_sequence(values: Sequence[float], alpha: float, grid: int = 400) -> tuple[float, float] | None:
    """The (1 - alpha) confidence sequence at the last value: every mean m in [0, 1] that neither
    capital (betting above m, betting below m) has rejected, on a grid of ``grid`` + 1 points."""
    if not len(values):
        return None
    ms = np.linspace(0.0, 1.0, grid + 1)
    test = BettingTest.__new__(BettingTest)
    BettingTest.__init__(test, 0.5, alpha, runs=len(ms))
    test.t = ms  # one run per candidate mean: the same arithmetic, a vector of thresholds
    test.cap_up = np.where(ms > 0, TRUNCATION / np.maximum(ms, 1e-12), 1e6)
    test.cap_down = np.where(ms < 1, TRUNCATION / np.maximum(1.0 - ms, 1e-12), 1e6)
    for v in values:
        test.step(np.full(len(ms), float(v)))
    inside = ms[~(test.above() | test.below())]
    if not len(inside):
        return None
    return float(inside.min()), float(inside.max())


# -- metrics with a per-item form -------------------------------------------------------------

def per_item_form(spec: Any) -> bool:
    """A mean of one value per item (proportion or mean, no composite, no pairing group)."""
    return (spec.reduce in PER_ITEM_REDUCTIONS and not spec.of and not spec.group
            and set(spec.args) <= {"field", "empty"} and spec.scale > 0)


def observation(spec: Any, payload: Mapping[str, Any]) -> float | None:
    """What one item tells a per-item metric: its value, or None (not selected, dropped, unscored).
    Under --trust-repeats, the mean over its scored repeats (an item is one unit, as in the intervals)."""
    if payload.get("repeats"):
        xs = [x for x in (_one(spec, payload, r.get("outcome"), r.get("score")) for r in payload["repeats"])
              if x is not None]
        return sum(xs) / len(xs) if xs else None
    return _one(spec, payload, payload.get("outcome"), payload.get("score"))


def _one(spec: Any, payload: Mapping[str, Any], outcome: str | None, score: Any) -> float | None:
    from pytest_trustllm.metrics.core import field_of, matches
    from pytest_trustllm.types import Score, ScoredItem

    if outcome not in ("pass", "violation") or score is None:
        return None
    item = ScoredItem(payload["id"], payload.get("fields") or {}, Score.from_json(score))
    if spec.where and not matches(item, spec.where):
        return None
    f = spec.args.get("field")
    v = item.score.value if f is None else field_of(item, f)
    if v is None:
        return None
    if not isinstance(v, (int, float)):  # bools count as 0 and 1, as in the reductions
        raise ValueError(f"an item value {v!r} is not a number")
    return float(v)


# -- one suite's gates, followed batch by batch -----------------------------------------------

@dataclass
class GateMonitor:
    metric: str
    op: str
    threshold: float  # on the metric's scale
    spec: Any
    alpha: float
    values: list[float] = field(default_factory=list)
    verdict: str | None = None  # pass | fail once decided
    test: BettingTest | None = None
    reason: str | None = None  # why it cannot be decided early

    def __post_init__(self) -> None:
        if not per_item_form(self.spec):
            self.reason = f"{self.spec.reduce} has no per-item form"
            return
        t = self.threshold / self.spec.scale
        if not 0.0 <= t <= 1.0:
            self.reason = f"threshold {self.threshold:g} outside the metric's range"
            return
        self.test = BettingTest(t, self.alpha)

    def observe(self, payload: Mapping[str, Any]) -> None:
        if self.test is None or self.verdict is not None:
            return
        try:
            x = observation(self.spec, payload)
        except ValueError as e:  # not a mean of numbers after all: run to the end
            self.test, self.reason = None, str(e)
            return
        self.add(x)

    def add(self, x: float | None) -> None:
        if x is None or self.test is None or self.verdict is not None:
            return
        if not 0.0 <= x <= 1.0:
            self.test, self.reason = None, f"an item value {x:g} outside [0, 1]"
            return
        self.values.append(x)
        self.test.step(np.array([x]))

    def decide(self) -> str | None:
        if self.verdict is None and self.test is not None:
            above, below = bool(self.test.above()[0]), bool(self.test.below()[0])
            higher = self.op in (">=", ">")
            if above:
                self.verdict = "pass" if higher else "fail"
            elif below:
                self.verdict = "fail" if higher else "pass"
        return self.verdict

    def interval(self) -> list[float] | None:
        cs = confidence_sequence(self.values, self.alpha)
        return None if cs is None else [cs[0] * self.spec.scale, cs[1] * self.spec.scale]


@dataclass
class SuiteMonitor:
    """The gates of one (suite, model), fed with the items of its batches strictly in batch order, so
    the decision depends only on the responses, never on which worker finished first."""

    gates: list[GateMonitor]
    chunks: dict[int, dict[str, Mapping[str, Any]]] = field(default_factory=dict)  # chunk -> id -> payload
    sizes: dict[int, int] = field(default_factory=dict)
    next_chunk: int = 0
    consumed: int = 0  # items fed so far (whole batches)
    decided_after: int | None = None
    unscored: int = 0  # items skipped for want of a judge: their metrics would be incomplete

    @property
    def can_stop(self) -> bool:
        """Only when every gate can be decided early and no item went unscored (a suite whose items
        need a judge the run lacks runs to the end and keeps today's incomplete verdicts)."""
        return (bool(self.gates) and not self.unscored
                and all(g.test is not None or g.verdict is not None for g in self.gates))

    def add(self, payload: Mapping[str, Any]) -> int | None:
        """Take one item's payload; returns the number of items after which every gate was decided,
        once they are."""
        seq = payload["seq"]
        self.chunks.setdefault(seq["chunk"], {})[payload["id"]] = payload
        self.sizes[seq["chunk"]] = seq["chunk_size"]
        while (self.decided_after is None and self.next_chunk in self.sizes
               and len(self.chunks.get(self.next_chunk, {})) >= self.sizes[self.next_chunk]):
            members = sorted(self.chunks[self.next_chunk].values(), key=lambda p: p["seq"]["pos"])
            for p in members:
                if p.get("outcome") == "skip":
                    self.unscored += 1
                for g in self.gates:
                    g.observe(p)
            self.consumed += len(members)
            self.next_chunk += 1
            verdicts = [g.decide() for g in self.gates]
            if self.can_stop and all(verdicts):
                self.decided_after = self.consumed
        return self.decided_after
