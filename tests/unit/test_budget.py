"""Run budgets: parsing, the price table, the ledger shared by processes, and generation in waves
that stops cleanly at the budget."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from pytest_trustllm.generation.budget import (BUDGET_REACHED, BudgetError, BudgetGuard, Coster, Ledger, Price,
                                    approx_prompt_tokens, estimate, load_prices, parse_budget, price_for)
from pytest_trustllm.generation.cache import ResponseCache
from pytest_trustllm.generation.generate import GenerationStats, generate_all
from pytest_trustllm.types import GenerationRequest, GenerationResult, Message


def test_parse_budget() -> None:
    assert parse_budget("tokens:1000").limit == 1000 and parse_budget("tokens:1000").kind == "tokens"
    assert parse_budget("usd:2.5").limit == 2.5
    for bad in ("1000", "tokens:", "tokens:-5", "tokens:1.5", "euro:3", "usd:nan", "usd:inf"):
        with pytest.raises(BudgetError):
            parse_budget(bad)


def test_price_table_and_override(tmp_path: Path) -> None:
    prices = load_prices()
    assert price_for("gpt-4o", prices) == Price(2.5, 10.0)
    assert price_for("openai:gpt-4o-2024-08-06", prices) == Price(2.5, 10.0)  # longest prefix, not gpt-4
    assert price_for("gpt-4-0613", prices) == Price(30.0, 60.0)
    assert price_for("openai:my-local", prices) is None
    f = tmp_path / "prices.yaml"
    f.write_text("models:\n  my-local: {input: 1, output: 3}\n  gpt-4o: {input: 5, output: 15}\n")
    over = load_prices(f)
    assert price_for("openai:my-local", over) == Price(1.0, 3.0)
    assert price_for("gpt-4o", over) == Price(5.0, 15.0)
    assert Price(1.0, 3.0).cost(1_000_000, 500_000) == pytest.approx(2.5)
    f.write_text(json.dumps({"models": {"x": {"input": "cheap"}}}))
    with pytest.raises(BudgetError, match="x: expected"):
        load_prices(f)


def test_ledger_admits_what_fits_then_stops(tmp_path: Path) -> None:
    a = Ledger(tmp_path / "l.sqlite", 100)
    b = Ledger(tmp_path / "l.sqlite", 100)  # another process's view of the same run
    assert a.admit([30, 30, 30, 30]) == 3
    a.settle(90, 20)  # the three cost 20 in all
    assert b.state() == {"spent": 20, "reserved": 0, "stopped": False}
    assert b.admit([30, 30, 30]) == 2  # 20 + 60 fits, 20 + 90 does not
    b.settle(60, 60)
    assert a.admit([30]) == 0  # 80 spent, nothing in flight: the run has stopped
    assert b.state()["stopped"]
    assert b.admit([1]) == 0  # and stays stopped, even for a request that would fit


def test_ledger_waits_for_requests_in_flight(tmp_path: Path) -> None:
    a = Ledger(tmp_path / "l.sqlite", 100)
    b = Ledger(tmp_path / "l.sqlite", 100)
    assert a.admit([80]) == 1
    got: list[int] = []
    t = threading.Thread(target=lambda: got.append(b.admit([50], poll_s=0.01)))
    t.start()
    t.join(0.3)
    assert t.is_alive() and not got  # room may come back: b waits rather than stopping the run
    a.settle(80, 10)
    t.join(5)
    assert got == [1]


class CountingBackend:
    """Answers every prompt with six words and reports its own token counts."""

    name = "counting"
    identity = {"backend": "counting"}
    cacheable = True

    def __init__(self) -> None:
        self.sent: list[str] = []

    def generate(self, requests, on_result=None):
        out = []
        for r in requests:
            self.sent.append(r.messages[-1].content)
            out.append(GenerationResult("one two three four five six", None, 10, 6))
        return out

    def close(self) -> None:
        pass


def _requests(n: int) -> list[GenerationRequest]:
    return [GenerationRequest((Message("user", f"question {i}"),), 0.0, 20, key=f"q{i}") for i in range(n)]


def test_generation_stops_cleanly_at_the_budget_and_resumes_from_the_cache(tmp_path: Path) -> None:
    count = lambda req: 10  # noqa: E731 - worst case per request: 10 prompt + 20 new = 30
    cache = ResponseCache(tmp_path / "c.sqlite")
    backend = CountingBackend()
    guard = BudgetGuard(Ledger(tmp_path / "run1.sqlite", 100), Coster("tokens", None), count)
    stats = GenerationStats()
    res = generate_all(backend, _requests(10), cache, stats, budget=guard)
    # waves: 3 admitted (90 reserved), booked at 16 each = 48; then 1 more (48 + 30 <= 100) = 64;
    # then 1 (64 + 30 = 94) = 80; then 80 + 30 > 100 with nothing in flight: stop
    assert [r.ok for r in res] == [True] * 5 + [False] * 5
    assert all(r.error == BUDGET_REACHED for r in res[5:])
    assert backend.sent == [f"question {i}" for i in range(5)]  # in order, and only those
    assert guard.ledger.state() == {"spent": 80, "reserved": 0, "stopped": True}
    assert (stats.generated, stats.errors) == (5, 0)  # a request never sent is not a failure

    # a rerun with a larger budget generates only what was missing
    backend2 = CountingBackend()
    guard2 = BudgetGuard(Ledger(tmp_path / "run2.sqlite", 1000), Coster("tokens", None), count)
    res2 = generate_all(backend2, _requests(10), cache, budget=guard2)
    assert all(r.ok for r in res2)
    assert backend2.sent == [f"question {i}" for i in range(5, 10)]
    assert guard2.ledger.state()["spent"] == 80
    cache.close()


def test_usd_coster_and_estimate() -> None:
    price = Price(2.0, 8.0)
    guard_cost = Coster("usd", price)
    assert guard_cost(1_000_000, 0) == pytest.approx(2.0)
    reqs = _requests(4)
    e = estimate(reqs, lambda r: approx_prompt_tokens(r.messages), price)
    # "question N" is 10 characters: 3 tokens + 4 for the turn + 3 to prime the reply
    assert e["prompt_tokens"] == 4 * 10 and e["completion_tokens_max"] == 80
    assert e["usd_max"] == pytest.approx((40 * 2.0 + 80 * 8.0) / 1e6)


def test_a_local_model_is_counted_with_its_own_tokenizer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from pytest_trustllm.generation.backends.local import LocalBackend
    from pytest_trustllm.generation.budget import token_counter
    from pytest_trustllm.plugin.budget import _estimate_counter
    from tests.servers.tiny_llama import build_tiny_llama

    monkeypatch.setenv("TRUSTLLM_MODEL_CACHE", str(tmp_path / "modelcache"))
    folder = build_tiny_llama(tmp_path / "model")
    before, how = _estimate_counter(f"hf:{folder}")  # before the run: the tokenizer files only
    assert how == "model tokenizer"
    during, how = token_counter(LocalBackend(str(folder), batch_size=2))  # while generating: the backend's
    assert how == "model tokenizer"
    req = GenerationRequest((Message("user", "the quick brown fox jumps over the lazy dog"),), 0.0, 8)
    assert before(req) == during(req) > 0
    assert before(req) != approx_prompt_tokens(req.messages)  # a real count, not the approximation
    assert _estimate_counter("openai:m")[1].startswith("approximation")


def test_spend_counts_generated_responses_and_judges_apart() -> None:
    from pytest_trustllm.generation.budget import judges_spend, model_spend

    gen = lambda p, c, **kw: {"prompt_tokens": p, "completion_tokens": c, **kw}  # noqa: E731
    suites = [{"model": "gpt-4o", "records": [
        {"generation": gen(100, 50)},
        {"generation": gen(100, 50, cached=True)},  # from the cache: free
        {"generation": None},  # skipped
        {"generation": gen(1, 1), "repeats": [{"generation": gen(10, 5)}, {"generation": gen(10, 5)}]},
    ]}]
    prices = load_prices()
    m = model_spend(suites, prices)["gpt-4o"]
    assert (m["prompt_tokens"], m["completion_tokens"], m["tokens"]) == (120, 60, 180)
    assert m["usd"] == pytest.approx((120 * 2.5 + 60 * 10.0) / 1e6)
    judges = [{"kind": "judge", "name": "chat", "identity": {"spec": "gpt-4o-mini"}, "prompt_tokens": 1000,
               "completion_tokens": 10},
              {"kind": "refusal", "name": "offline", "identity": {}, "prompt_tokens": 0, "completion_tokens": 0}]
    j = judges_spend(judges, prices)
    assert list(j) == ["judge:gpt-4o-mini"]
    assert j["judge:gpt-4o-mini"]["usd"] == pytest.approx((1000 * 0.15 + 10 * 0.6) / 1e6)
