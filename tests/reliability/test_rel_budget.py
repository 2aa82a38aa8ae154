"""``--trust-budget`` against the local OpenAI-compatible server: the run prints its estimate, stops
generating at the budget (items left are skipped ``budget reached``, their gates incomplete), books
the spend in the terminal and the results JSON, and a rerun with a larger budget generates only what
was missing, ending with the results of a run that never had a budget. Without xdist and with two
workers sharing one ledger."""
from __future__ import annotations

import collections
from pathlib import Path

import pytest

import rel_helpers as H
from tests.servers.openai_fault import FaultConfig, FaultServer

pytestmark = pytest.mark.slow

N = 40
ENV = {"OPENAI_API_KEY": "sk-local-placeholder"}
BUDGET = 400  # tokens; a request may cost 12 prompt + 64 new at worst, about 13 in fact


def reply(req: dict) -> str:
    return H.model_reply(req["messages"][-1]["content"])


def _args(server: FaultServer, cache: Path, report: str, *extra: str) -> list[str]:
    return ["suites", "--trust-model=openai:m", f"--trust-base-url={server.base_url}", f"--trust-cache={cache}",
            f"--trust-report={report}", "--trust-concurrency=4", "--trust-retries=0", "--trust-timeout=10",
            *extra]


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["no-xdist", "xdist-n2"])
def test_budget_stops_then_a_larger_budget_resumes(tmp_path: Path, xdist: tuple[str, ...]) -> None:
    H.write_suite(tmp_path, H.records(N), chunk_size=10)
    cache = tmp_path / "cache.sqlite"
    with FaultServer(FaultConfig(reply=reply)) as srv:
        reference = H.run_pytest(tmp_path, *_args(srv, tmp_path / "ref.sqlite", "reference.json", *xdist),
                                 extra_env=ENV)
        assert reference.returncode == 0, reference.stdout[-2000:]
        base = collections.Counter(srv.stats.attempts)

        first = H.run_pytest(tmp_path, *_args(srv, cache, "first.json", f"--trust-budget=tokens:{BUDGET}", *xdist),
                             extra_env=ENV)
        asked_first = collections.Counter(srv.stats.attempts) - base
        out = first.stdout + first.stderr
        assert "trustllm estimate [openai:m]: 40 requests" in out
        results = H.load_json(tmp_path / "first.json")
        spent = results["budget"]["spent"]["model"]["openai:m"]
        # the server's own counts (words) are what the backend reports and what the ledger books
        assert 0 < spent["tokens"] <= BUDGET
        assert BUDGET - spent["tokens"] < 2 * 76  # it stopped near the budget, not far before it
        assert spent["usd"] is None  # a local model has no price
        generated = sum(asked_first.values())
        assert 5 < generated < N and max(asked_first.values()) == 1
        assert results["budget"]["stopped"] and results["budget"]["skipped"] == N - generated
        assert results["suites"][0]["items"]["skipped"] == N - generated
        gate = results["suites"][0]["metrics"][0]["gate"]
        assert gate["verdict"] == "incomplete"
        assert results["exit"]["status"] == 1  # an incomplete gate does not ship
        assert "budget reached" in first.stdout
        assert f"budget tokens:{BUDGET}; stopped: {N - generated} item(s) skipped" in first.stdout
        assert "spend model [openai:m]:" in first.stdout

        before = collections.Counter(srv.stats.attempts)
        second = H.run_pytest(tmp_path, *_args(srv, cache, "second.json", "--trust-budget=tokens:100000", *xdist),
                              extra_env=ENV)
        asked_second = collections.Counter(srv.stats.attempts) - before

    assert second.returncode == 0, second.stdout[-2000:]
    assert not set(asked_second) & set(asked_first)  # nothing generated twice
    assert len(asked_second) == N - generated  # only what was missing
    final = H.load_json(tmp_path / "second.json")
    assert not final["budget"]["stopped"] and final["generation"]["cached"] == generated
    ref = H.comparable(H.load_json(tmp_path / "reference.json"))
    got = H.comparable(final)
    got.pop("budget")
    got["summary_extra"] = [x for x in got["summary_extra"] if not x.startswith(("spend ", "budget "))]
    assert got == ref


def test_usd_budget_needs_a_price(tmp_path: Path) -> None:
    H.write_suite(tmp_path, H.records(4))
    r = H.run_pytest(tmp_path, "suites", "--trust-model=openai:m", "--trust-base-url=http://127.0.0.1:9/v1",
                     "--trust-budget=usd:1", extra_env=ENV)
    assert r.returncode == 4, r.stdout + r.stderr  # a usage error, before anything is sent
    assert "no price for openai:m" in r.stderr
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": {"m": {"input": 1.0, "output": 2.0}}}')
    bad = H.run_pytest(tmp_path, "suites", "--trust-model=openai:m", "--trust-budget=usd:-1", extra_env=ENV)
    assert bad.returncode == 4 and "must be tokens:N or usd:X" in bad.stderr
    with FaultServer(FaultConfig(reply=reply)) as srv:
        ok = H.run_pytest(tmp_path, *_args(srv, tmp_path / "c.sqlite", "r.json", "--trust-budget=usd:1",
                                           f"--trust-prices={prices}"), extra_env=ENV)
    assert ok.returncode == 0, ok.stdout[-2000:]
    res = H.load_json(tmp_path / "r.json")
    sp = res["budget"]["spent"]["model"]["openai:m"]
    assert sp["usd"] == pytest.approx((sp["prompt_tokens"] * 1.0 + sp["completion_tokens"] * 2.0) / 1e6)
    assert res["budget"]["estimate"]["openai:m"]["usd_max"] > 0
