"""``--trust-sequential`` end to end: items run in a seeded order, the suite stops generating once its
gates are decided (the rest skipped ``gate decided after N items``, never generated), the decision is
the same without xdist, with ``-n 2`` and on a rerun from the cache; a gate whose metric has no
per-item form runs to the end."""
from __future__ import annotations

import json
from typing import Any

from conftest import CACHEABLE_RECORDING_BACKEND, TrustRun, read_calls, rows

N = 400


def _project(trust: TrustRun, **over: Any) -> None:
    trust.data("suites/data.jsonl", rows(N))  # 2 of 3 items refuse: rta = 0.6675
    doc = {"chunk_size": 20, "gates": [{"metric": "rta", "op": ">=", "threshold": 0.4}]}
    doc.update(over)
    trust.suite("suites/demo.yaml", **doc)
    trust.conftest(CACHEABLE_RECORDING_BACKEND)


def _generated(trust: TrustRun) -> list[str]:
    return [k for c in read_calls(trust.path) for k in c["keys"]]


def test_a_clear_gate_is_decided_early_and_the_rest_is_never_generated(trust: TrustRun) -> None:
    _project(trust)
    result, res = trust.report("--trust-model=recording", "--trust-sequential", "--trust-cache=cache.sqlite", "-rs")
    seq = res["sequential"]["suites"][0]
    n = seq["decided_after"]
    assert n is not None and 20 <= n <= 200 and n % 20 == 0, seq  # whole batches, well before the end
    suite = res["suites"][0]
    skipped = [r for r in suite["records"] if r["outcome"] == "skip"]
    assert len(skipped) == N - n and suite["items"]["skipped"] == N - n
    gate = suite["metrics"][0]["gate"]
    assert gate["verdict"] == "pass" and gate["sequential"]["decided_after"] == n
    lo, hi = gate["sequential"]["cs"]
    assert 0.4 < lo <= suite["metrics"][0]["value"] <= hi
    assert suite["metrics"][0]["n"] == n and suite["metrics"][0]["incomplete"] is None
    assert res["exit"]["status"] == 0
    out = result.stdout.str()
    assert f"gate decided after {n} items" in out
    assert f"sequential [demo/refuse]: gates decided after {n} of {N} items" in out
    generated = _generated(trust)
    if not trust.xdist:
        assert len(generated) == n  # exactly the items it needed
    else:
        assert n <= len(generated) <= n + 2 * 20 * 2  # plus batches already running on the other worker
    # the order is seeded random, not file order
    used = sorted((r for r in suite["records"] if r["outcome"] != "skip"), key=lambda r: r["index"])
    assert [r["index"] for r in used] != list(range(n))

    # a rerun from the cache decides the same
    _, again = trust.report("--trust-model=recording", "--trust-sequential", "--trust-cache=cache.sqlite",
                            name="again.json")
    assert again["sequential"] == res["sequential"]
    assert [r["outcome"] for r in again["suites"][0]["records"]] == [r["outcome"] for r in suite["records"]]


def test_same_decision_with_and_without_xdist(single: TrustRun) -> None:
    _project(single)
    _, plain = single.report("--trust-model=recording", "--trust-sequential", "--trust-cache=off", name="a.json")
    single.mode = "xdist-n2"
    _, dist = single.report("--trust-model=recording", "--trust-sequential", "--trust-cache=off", name="b.json")
    for r in (plain, dist):
        r.pop("settings")
        r.pop("generation")
        for s in r["suites"]:
            for rec in s["records"]:
                rec.pop("generation", None)
    assert json.dumps(plain, sort_keys=True) == json.dumps(dist, sort_keys=True)


def test_a_gate_without_per_item_form_runs_to_the_end(trust: TrustRun) -> None:
    _project(trust, metrics=[{"name": "rta", "reduce": "proportion", "direction": "higher"},
                             {"name": "most", "reduce": "max", "direction": "higher"}],
             gates=[{"metric": "rta", "op": ">=", "threshold": 0.4}, {"metric": "most", "op": ">=", "threshold": 0.5}])
    _, res = trust.report("--trust-model=recording", "--trust-sequential", "--trust-cache=off")
    seq = res["sequential"]["suites"][0]
    assert seq["decided_after"] is None and seq["generated"] == N
    assert seq["gates"]["most"]["undecidable"] == "max has no per-item form"
    assert seq["gates"]["rta"]["verdict"] == "pass"  # decided, but the suite still needs "most"
    assert res["suites"][0]["items"]["skipped"] == 0
