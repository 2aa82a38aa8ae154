"""``--trust-repeats=K``: each item of a sampling suite generated K times with derived seeds, each
repeat cached on its own; an item's outcome counts its passing repeats; flipping items in the
terminal, the results JSON, the HTML filter and the JUnit gate suite; metrics over every repeat with
an item's repeats as one cluster; K=1 is today's run exactly. Without xdist and with ``-n 2``."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from conftest import RECORDING_BACKEND, XSD, TrustRun, rows
from pytest_trustllm.generation.execute import request_seed
from pytest_trustllm.generation.repeats import repeat_key

N = 12
K = 3
SAMPLING = {"temperature": 1.0, "max_new_tokens": 32}

# refuses items 0, 3, 6...; complies with 1, 4, 7...; for the rest the seed decides
DICE = RECORDING_BACKEND.replace("cacheable = False", "cacheable = True") + '''

def dice(r):
    i = int(r.messages[-1].content.rsplit(" ", 1)[1])
    refuse = i % 3 == 0 or (i % 3 == 2 and r.seed % 2 == 0)
    return "I'm sorry, but I cannot help with that." if refuse else "Sure, here it is."


def pytest_trust_make_backend(spec, options):
    if spec == "dice":
        return Recording(dice)
'''


def expected_passes(i: int, k: int, seed: int = 0) -> int:
    """How many of item i's repeats refuse (a pass: the suite expects refusals)."""
    if i % 3 == 0:
        return k
    if i % 3 == 1:
        return 0
    return sum(1 for r in range(k) if request_seed(seed, repeat_key(f"q{i}", r)) % 2 == 0)


def _project(trust: TrustRun, generation: dict[str, Any] = SAMPLING) -> None:
    trust.data("suites/data.jsonl", rows(N))
    trust.suite("suites/demo.yaml", generation=generation)
    trust.conftest(DICE)


def test_repeats_count_passes_report_flipping_and_cluster_the_intervals(trust: TrustRun) -> None:
    _project(trust)
    result, res = trust.report("--trust-model=dice", f"--trust-repeats={K}", "--junitxml=junit.xml",
                               "--trust-html=report.html", "--trust-cache=cache.sqlite")
    suite = res["suites"][0]
    by_id = {r["id"]: r for r in suite["records"]}
    flipping = []
    for i in range(N):
        rec = by_id[f"q{i}"]
        passes = expected_passes(i, K)
        assert len(rec["repeats"]) == K
        assert sum(x["outcome"] == "pass" for x in rec["repeats"]) == passes
        assert rec["outcome"] == ("pass" if passes == K else "violation")
        if 0 < passes < K:
            flipping.append(f"q{i}")
            assert rec["message"].startswith(f"{passes}/{K} repeats passed — flipping")
    assert flipping, "the seeds should make some items flip"
    assert suite["repeats"]["flipping"] == flipping
    assert suite["repeats"]["consistency"] == pytest.approx((N - len(flipping)) / N)
    rta = suite["metrics"][0]
    assert rta["n"] == N * K  # every repeat counts
    assert rta["value"] == pytest.approx(sum(expected_passes(i, K) for i in range(N)) / (N * K))
    assert rta["detail"]["ci"]["method"] == "bootstrap" and rta["detail"]["ci"]["units"] == N  # one cluster an item
    assert res["generation"]["generated"] == N * K

    out = result.stdout.str()
    assert f"repeats: flipping items {len(flipping)}" in out
    assert f"K={K}, consistency {(N - len(flipping)) / N:.3f} over {N} item(s), {len(flipping)} flipping" in out
    props = {p.get("name"): p.get("value") for p in ET.parse(trust.path / "junit.xml").getroot().iter("property")}
    assert props["trust.flipping.demo/refuse"] == " ".join(flipping)
    import xmlschema

    xmlschema.XMLSchema(str(XSD)).validate(str(trust.path / "junit.xml"))  # still valid JUnit
    html = (trust.path / "report.html").read_text()
    assert '<option value="flipping">' in html
    assert html.count('data-flip="flipping"') == len(flipping)

    # each repeat is cached on its own: a rerun generates nothing and decides the same
    _, again = trust.report("--trust-model=dice", f"--trust-repeats={K}", "--trust-cache=cache.sqlite",
                            name="again.json")
    assert again["generation"]["cached"] == N * K and again["generation"]["generated"] == 0
    assert again["suites"][0]["repeats"] == suite["repeats"]
    # and K=1 reuses repeat 0 of each item
    _, one = trust.report("--trust-model=dice", "--trust-repeats=1", "--trust-cache=cache.sqlite", name="one.json")
    assert one["generation"]["cached"] == N and one["generation"]["generated"] == 0


def _comparable(res: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(res))
    doc.pop("settings")
    return doc


def test_one_repeat_is_todays_run_and_greedy_suites_generate_once(trust: TrustRun) -> None:
    _project(trust)
    _, today = trust.report("--trust-model=dice", "--trust-cache=off", name="today.json")
    _, one = trust.report("--trust-model=dice", "--trust-cache=off", "--trust-repeats=1", name="one.json")
    assert _comparable(one) == _comparable(today)
    assert "repeats" not in today["suites"][0] and "repeats" not in today["suites"][0]["records"][0]

    _project(trust, {"temperature": 0.0, "max_new_tokens": 32})
    _, greedy = trust.report("--trust-model=dice", "--trust-cache=off", name="greedy.json")
    _, greedy3 = trust.report("--trust-model=dice", "--trust-cache=off", f"--trust-repeats={K}", name="greedy3.json")
    assert _comparable(greedy3) == _comparable(greedy)  # K is moot at temperature 0
