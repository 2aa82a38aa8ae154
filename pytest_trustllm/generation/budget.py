"""Run budgets (``--trust-budget=tokens:N`` or ``usd:X``): the price table, token estimates, and the
ledger that every process of a run (xdist workers too) admits its requests through.

Admission is worst case: a request is sent only when the spend so far, the reservations of requests
in flight and this request's prompt tokens plus its full ``max_new_tokens`` all fit in the budget.
Requests go in waves: a wave is what fits now; its reservation is replaced by the tokens the backend
reports once it is in, and the next wave is admitted against that. So a run never spends more than
its budget (when the backend's counts are right), and it stops at the first request that might not
fit with nothing left in flight: every later request is refused too (a clean stop, not a run that
skips big prompts and sends small ones).
Cached responses cost nothing and are never refused, which is how a rerun with a larger budget
resumes where the last one stopped.
"""
from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from pytest_trustllm.types import GenerationRequest, GenerationResult, Message

BUDGET_REACHED = "budget reached"
KINDS = ("tokens", "usd")


class BudgetError(ValueError):
    """A budget or price table that cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class Budget:
    kind: str  # tokens | usd
    limit: float

    def __str__(self) -> str:
        return f"tokens:{int(self.limit)}" if self.kind == "tokens" else f"usd:{self.limit:g}"


def parse_budget(text: str) -> Budget:
    kind, sep, value = str(text).partition(":")
    if not sep or kind not in KINDS:
        raise BudgetError(f"{text!r} should be tokens:N or usd:X (e.g. tokens:200000, usd:5)")
    try:
        limit = float(value)
    except ValueError:
        raise BudgetError(f"{text!r}: {value!r} is not a number") from None
    if not limit > 0 or math.isinf(limit):
        raise BudgetError(f"{text!r}: the budget must be a positive number")
    if kind == "tokens" and limit != int(limit):
        raise BudgetError(f"{text!r}: a token budget is a whole number")
    return Budget(kind, limit)


def budget_check(value: Any) -> str | None:
    """The option's check: an error message or None."""
    if value is None:
        return None
    try:
        parse_budget(value)
    except BudgetError:
        return "must be tokens:N or usd:X with a positive number (e.g. tokens:200000, usd:5)"
    return None


# -- prices ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Price:
    input: float  # USD per 1M prompt tokens
    output: float  # USD per 1M completion tokens

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


def _price_entries(doc: Any, source: str) -> dict[str, Price]:
    models = doc.get("models", doc) if isinstance(doc, Mapping) else None
    if not isinstance(models, Mapping):
        raise BudgetError(f"{source}: expected a mapping of model name -> {{input: USD/1M, output: USD/1M}}")
    out = {}
    for name, p in models.items():
        if name.startswith("_") or name == "as_of":
            continue
        try:
            out[str(name)] = Price(float(p["input"]), float(p["output"]))
        except (TypeError, KeyError, ValueError):
            raise BudgetError(f"{source}: {name}: expected {{input: USD per 1M prompt tokens, output: USD per 1M "
                              f"completion tokens}}, got {p!r}") from None
    return out


def load_prices(path: str | Path | None = None) -> dict[str, Price]:
    """The shipped table, with the entries of ``path`` (JSON or YAML, same format) over it."""
    text = resources.files("pytest_trustllm").joinpath("data/prices.json").read_text(encoding="utf-8")
    prices = _price_entries(json.loads(text), "prices.json")
    if path:
        import yaml

        try:
            doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise BudgetError(f"--trust-prices: cannot read {path}: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise BudgetError(f"--trust-prices: {path} is not JSON or YAML: {e}") from None
        prices.update(_price_entries(doc, str(path)))
    return prices


def model_name(spec: str) -> str:
    """The name a price table knows a ``--trust-model`` spec by (``openai:gpt-4o`` -> ``gpt-4o``)."""
    from pytest_trustllm.generation.backends.base import BackendError, parse_model_spec

    try:
        return parse_model_spec(spec)[1] or spec
    except BackendError:
        return spec


def price_for(spec: str, prices: Mapping[str, Price]) -> Price | None:
    """The spec itself, else its model name exactly, else the longest entry the name starts with."""
    for name in (spec, model_name(spec)):
        if name in prices:
            return prices[name]
    name = model_name(spec)
    starts = [k for k in prices if name.startswith(k)]
    return prices[max(starts, key=len)] if starts else None


def is_free(spec: str) -> bool:
    """Replay answers from a file: nothing is generated, nothing is spent."""
    return spec.split(":", 1)[0] == "replay"


# -- token counts ----------------------------------------------------------------------------

CHARS_PER_TOKEN = 4  # OpenAI's rule of thumb for English text
MESSAGE_OVERHEAD = 4  # role and separators per chat turn (OpenAI's chat format adds 3-4)


def approx_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def approx_prompt_tokens(messages: Sequence[Message]) -> int:
    """The documented approximation for models without a tokenizer here (API models): 4 characters
    a token, plus 4 a turn and 3 to prime the reply."""
    return sum(approx_tokens(m.content) + MESSAGE_OVERHEAD for m in messages) + 3


TokenCounter = Callable[[GenerationRequest], int]


def token_counter(backend: Any) -> tuple[TokenCounter, str]:
    """The model's own tokenizer when the backend has one (local models), else the approximation."""
    encode = getattr(backend, "encode", None)
    if callable(encode):
        return (lambda req: len(encode(req))), "model tokenizer"
    return (lambda req: approx_prompt_tokens(req.messages)), f"approximation ({CHARS_PER_TOKEN} chars/token)"


# -- what a request may cost -----------------------------------------------------------------

@dataclass(frozen=True)
class Coster:
    """Turns tokens into the budget's unit for one model."""

    kind: str
    price: Price | None

    def __call__(self, prompt_tokens: float, completion_tokens: float) -> float:
        if self.kind == "tokens":
            return float(prompt_tokens + completion_tokens)
        assert self.price is not None
        return self.price.cost(prompt_tokens, completion_tokens)


def actual_tokens(req: GenerationRequest, res: GenerationResult, count: TokenCounter) -> tuple[int, int]:
    """What a response cost: the backend's own counts, estimated where it reports none."""
    prompt = res.prompt_tokens or count(req)
    completion = res.completion_tokens or (approx_tokens(res.text) if res.text else 0)
    return prompt, completion


# -- the ledger ------------------------------------------------------------------------------

class Ledger:
    """One small SQLite file per run: spent, reserved and whether the run stopped. Every process
    opens the same file; ``BEGIN IMMEDIATE`` makes each admission atomic across them."""

    def __init__(self, path: str | Path, limit: float) -> None:
        self.path = str(path)
        self.limit = float(limit)
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY CHECK (id = 0), "
                         "spent REAL NOT NULL, reserved REAL NOT NULL, stopped INTEGER NOT NULL)")
        self._db.execute("INSERT OR IGNORE INTO ledger VALUES (0, 0, 0, 0)")

    def _tx(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        for attempt in range(20):
            try:
                self._db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError:  # locked past the timeout: another process is admitting
                time.sleep(0.05 * (attempt + 1))
        else:
            self._db.execute("BEGIN IMMEDIATE")
        try:
            out = fn(self._db)
            self._db.execute("COMMIT")
            return out
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def admit(self, costs: Sequence[float], poll_s: float = 0.05) -> int:
        """How many of ``costs`` (worst cases, in order) may go now: they are reserved. When none
        fits while other requests are in flight (another worker's), waits for them to be booked;
        when none fits and nothing is in flight, the run has stopped: nothing more is admitted."""
        def tx(db: sqlite3.Connection) -> int | None:
            spent, reserved, stopped = db.execute("SELECT spent, reserved, stopped FROM ledger").fetchone()
            if stopped:
                return 0
            n = 0
            for c in costs:
                if spent + reserved + c > self.limit:
                    break
                reserved += c
                n += 1
            if n == 0 and reserved > 1e-9:
                return None  # room may come back when the requests in flight are booked
            db.execute("UPDATE ledger SET reserved = ?, stopped = ?", (reserved, int(n == 0 and bool(costs))))
            return n
        while True:
            n = self._tx(tx)
            if n is not None:
                return n
            time.sleep(poll_s)

    def settle(self, reserved: float, spent: float) -> None:
        """A batch is done: its reservation is replaced by what it cost."""
        self._tx(lambda db: db.execute("UPDATE ledger SET reserved = max(0, reserved - ?), spent = spent + ?",
                                       (reserved, spent)))

    def state(self) -> dict[str, Any]:
        spent, reserved, stopped = self._db.execute("SELECT spent, reserved, stopped FROM ledger").fetchone()
        return {"spent": spent, "reserved": reserved, "stopped": bool(stopped)}

    def close(self) -> None:
        self._db.close()


class BudgetGuard:
    """What ``generate_all`` asks before it sends requests to one model, and tells after."""

    def __init__(self, ledger: Ledger, coster: Coster, count: TokenCounter) -> None:
        self.ledger = ledger
        self.coster = coster
        self.count = count

    def admit(self, requests: Sequence[GenerationRequest]) -> tuple[int, float]:
        """(how many of ``requests`` may go, in order; what they reserved)."""
        costs = [self.coster(self.count(r), r.max_new_tokens) for r in requests]
        n = self.ledger.admit(costs)
        return n, sum(costs[:n])

    def settle(self, reserved: float, done: Sequence[tuple[GenerationRequest, GenerationResult]]) -> None:
        spent = 0.0
        for req, res in done:
            if res.ok or res.prompt_tokens or res.completion_tokens:
                spent += self.coster(*actual_tokens(req, res, self.count))
        self.ledger.settle(reserved, spent)


# -- the estimate and the spend --------------------------------------------------------------

def estimate(requests: Sequence[GenerationRequest], count: TokenCounter, price: Price | None) -> dict[str, Any]:
    """Before a run: its prompt tokens, its completion tokens at most (every ``max_new_tokens``), and
    what those cost when the model has a price."""
    prompt = sum(count(r) for r in requests)
    completion_max = sum(r.max_new_tokens for r in requests)
    out: dict[str, Any] = {"requests": len(requests), "prompt_tokens": prompt,
                           "completion_tokens_max": completion_max}
    if price is not None:
        out["usd_prompt"] = round(price.cost(prompt, 0), 6)
        out["usd_max"] = round(price.cost(prompt, completion_max), 6)
    return out


def spend(prompt_tokens: int, completion_tokens: int, price: Price | None) -> dict[str, Any]:
    out: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                           "tokens": prompt_tokens + completion_tokens}
    out["usd"] = round(price.cost(prompt_tokens, completion_tokens), 6) if price is not None else None
    return out


def model_spend(suites: Sequence[Mapping[str, Any]], prices: Mapping[str, Price]) -> dict[str, Any]:
    """Per model spec: the tokens of the responses it generated in this run (not cached, not replayed;
    every repeat), priced where it has a price."""
    from pytest_trustllm.generation.repeats import record_generations

    tokens: dict[str, list[int]] = {}
    for s in suites:
        t = tokens.setdefault(str(s["model"]), [0, 0])
        for r in s["records"]:
            for gen in record_generations(r):
                if gen and not gen.get("cached") and not gen.get("replayed") and not gen.get("error"):
                    t[0] += gen.get("prompt_tokens", 0)
                    t[1] += gen.get("completion_tokens", 0)
    return {spec: spend(p, c, price_for(spec, prices)) for spec, (p, c) in tokens.items()}


def judges_spend(judges: Sequence[Mapping[str, Any]], prices: Mapping[str, Price]) -> dict[str, Any]:
    """Per judge that used tokens (the LLM judge): its spend, priced by its model spec."""
    out = {}
    for j in judges:
        if j.get("prompt_tokens") or j.get("completion_tokens"):
            name = str((j.get("identity") or {}).get("spec") or j["name"])
            out[f"{j['kind']}:{name}"] = spend(j.get("prompt_tokens", 0), j.get("completion_tokens", 0),
                                               price_for(name, prices))
    return out


def usd(value: float | None) -> str:
    return "no price" if value is None else f"${value:,.4f}"
