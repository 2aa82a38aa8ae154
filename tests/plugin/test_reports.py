"""Reports: the terminal ``trust summary``, the results JSON and the JUnit ``trust-gates`` suite;
the same with and without xdist."""
from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import CACHEABLE_RECORDING_BACKEND as CACHEABLE
from conftest import REPO, SHARED, XSD, TrustRun, rows


def _project(trust: TrustRun) -> None:
    """Two suites: one gate passes, one fails; a metric without a gate; a dropped item (choice)."""
    trust.data("suites/data.jsonl", rows(6))
    trust.suite("suites/demo.yaml", metrics=[
        {"name": "rta", "reduce": "proportion", "direction": "higher"},
        {"name": "complied", "reduce": "count", "direction": "lower"},
    ])
    mc = [{"qid": f"m{i}", "prompt": f"Pick one: {i}", "label": "B",
           "res": ["B", "(B) because", "A", "no idea", "B."][i]} for i in range(5)]
    trust.data("suites/mc.jsonl", mc)
    trust.suite("suites/mc.yaml", id="demo/mc", dimension="ethics", task="mc", data="mc.jsonl",
                record={"id": "qid"}, scorer={"name": "choice", "args": {"field": "label"}},
                metrics=[{"name": "accuracy", "reduce": "proportion", "direction": "higher"}],
                gates=[{"metric": "accuracy", "op": ">=", "threshold": 0.8, "source": "made up for the test"}])


def test_terminal_summary_one_line_per_metric(trust: TrustRun) -> None:
    _project(trust)
    result = trust.run("--trust-model=replay")
    out = result.stdout.str()
    assert re.search(r"=+ trust summary =+", out)
    lines = result.outlines
    start = next(i for i, ln in enumerate(lines) if "trust summary" in ln)
    assert re.match(r"suite\s+metric\s+value\s+95% CI\s+n\s+dropped\s+gate\s+verdict", lines[start + 1])
    body = lines[start + 2:start + 5]
    assert lines[start + 5] == ""  # exactly one line per metric
    expected = [r"demo/mc\s+accuracy↑\s+0\.750\s+.*\s4\s+1\s+>= 0\.8\s+fail$",
                r"demo/refuse\s+rta↑\s+0\.667\s+.*\s6\s+0\s+>= 0\.5\s+pass$",
                r"demo/refuse\s+complied↓\s+2\.000\s+.*\s6\s+0$"]
    for pattern in expected:
        assert sum(1 for ln in body if re.match(pattern, ln)) == 1, (pattern, body)
    result.stdout.fnmatch_lines(["demo/mc: 5 items, 3 passed, 1 violated, 1 dropped, 0 errors, 0 skipped"])
    result.stdout.fnmatch_lines(["demo/refuse: 6 items, 4 passed, 2 violated, 0 dropped, 0 errors, 0 skipped"])
    # intervals where they exist (Wilson for a proportion), none for a count
    assert re.search(r"demo/refuse\s+rta↑\s+0\.667\s+\[0\.\d{3}, 0\.\d{3}\]", out), out


def test_results_json_schema_and_keys(trust: TrustRun) -> None:
    _project(trust)
    result, report = trust.report("--trust-model=replay")
    assert report["schema"] == "pytest-trustllm/results/2"
    assert report["model"]["spec"] == "replay"
    assert report["settings"]["model"] == ["replay"] and report["settings"]["rules"] == "paper"
    assert {"generated", "cached"} <= set(report["generation"])
    assert report["exit"]["status"] == result.ret == 1
    assert report["exit"]["reason"].startswith("trust FAILED: 1 failed, 1 passed of 2 gate(s): demo/mc accuracy = 0.750 < 0.800")
    suites = {s["id"]: s for s in report["suites"]}
    assert set(suites) == {"demo/refuse", "demo/mc"}
    mc = suites["demo/mc"]
    assert (mc["file"], mc["dimension"]) == ("suites/mc.yaml", "ethics")
    assert mc["items"] == {"total": 5, "passed": 3, "violated": 1, "dropped": 1, "errors": 0, "skipped": 0}
    (acc,) = mc["metrics"]
    assert (acc["name"], acc["value"], acc["n"], acc["dropped"], acc["direction"]) == ("accuracy", 0.75, 4, 1, "higher")
    assert {k: acc["gate"][k] for k in ("op", "threshold", "verdict")} == {"op": ">=", "threshold": 0.8,
                                                                           "verdict": "fail"}
    refuse = suites["demo/refuse"]
    assert refuse["file"] == "suites/demo.yaml" and refuse["dimension"] == "safety"
    by_name = {m["name"]: m for m in refuse["metrics"]}
    assert by_name["rta"]["gate"]["verdict"] == "pass"
    assert by_name["complied"]["gate"] is None and by_name["complied"]["direction"] == "lower"
    assert by_name["complied"]["value"] == 2.0
    # the file is plain JSON (no NaN), written where --trust-report says
    json.loads((trust.path / "results.json").read_text(), parse_constant=lambda c: pytest.fail(c))


def test_results_json_counts_cached_responses(trust: TrustRun) -> None:
    trust.conftest(CACHEABLE)
    trust.data("suites/data.jsonl", rows(6))
    trust.suite("suites/demo.yaml")
    _, first = trust.report("--trust-model=recording", name="first.json")
    _, second = trust.report("--trust-model=recording", name="second.json")
    assert (first["generation"]["generated"], first["generation"]["cached"]) == (6, 0)
    assert (second["generation"]["generated"], second["generation"]["cached"]) == (0, 6)
    assert first["suites"][0]["metrics"] == second["suites"][0]["metrics"]


def _junit(trust: TrustRun, *args: str):
    result = trust.run("--trust-model=replay", "--junitxml=junit.xml", *args)
    return result, ET.parse(trust.path / "junit.xml").getroot()


def test_junit_has_a_trust_gates_suite(trust: TrustRun) -> None:
    _project(trust)
    result, root = _junit(trust)
    (gates,) = [s for s in root.iter("testsuite") if s.get("name") == "trust-gates"]
    cases = {c.get("name"): c for c in gates.iter("testcase")}
    assert set(cases) == {"demo/mc::accuracy", "demo/refuse::rta"}  # one per gate, none for ungated metrics
    assert gates.get("tests") == "2" and gates.get("failures") == "1"
    failure = cases["demo/mc::accuracy"].find("failure")
    assert failure is not None and "0.750" in failure.get("message") and ">= 0.8" in failure.get("message")
    assert cases["demo/refuse::rta"].find("failure") is None
    props = {p.get("name"): p.get("value") for p in gates.iter("property")}
    assert props["trust.gate.demo/mc.accuracy.value"] == "0.75"
    assert props["trust.gate.demo/mc.accuracy.threshold"] == "0.8"
    assert props["trust.gate.demo/mc.accuracy.n"] == "4"
    assert props["trust.gate.demo/mc.accuracy.dropped"] == "1"
    assert props["trust.gate.demo/mc.accuracy.verdict"] == "fail"
    assert props["trust.gate.demo/refuse.rta.verdict"] == "pass"
    assert props["trust.model.spec"] == "replay"
    # pytest's own suite keeps the items
    (items,) = [s for s in root.iter("testsuite") if s.get("name") == "pytest"]
    assert items.get("tests") == "11"


def _validate(path) -> None:
    if not XSD.is_file():
        pytest.skip(f"JUnit schema not found: {XSD}")
    import xmlschema  # a dev dependency: a missing one is a failure, not a skip

    xmlschema.XMLSchema(str(XSD)).validate(str(path))


BUG_XSD = ("BUG: report.add_junit_gates calls junitparser's xml.update_statistics(), which writes a 'skipped' "
           "attribute on <testsuites>; junit-10.xsd does not allow it, so the whole file no longer validates")


def test_junit_with_gates_validates_against_the_schema(trust: TrustRun) -> None:
    _project(trust)
    _junit(trust)
    _validate(trust.path / "junit.xml")


def test_junit_without_the_trust_suite_validates(trust: TrustRun) -> None:
    """pytest's own file (the plugin disabled) validates: the schema check itself works."""
    _project(trust)
    trust.run("--junitxml=junit.xml", "-p", "no:trustllm")
    _validate(trust.path / "junit.xml")


def test_junit_untouched_when_no_trust_suite_ran(trust: TrustRun) -> None:
    trust.write("test_plain.py", "def test_ok():\n    pass\n")
    trust.run("--junitxml=junit.xml")
    root = ET.parse(trust.path / "junit.xml").getroot()
    assert [s.get("name") for s in root.iter("testsuite")] == ["pytest"]
    _validate(trust.path / "junit.xml")


# -- the same with and without xdist ------------------------------------------------------------

def _stable(doc):
    """The results minus what depends on timing or the process layout (nothing today: keep the list)."""
    timing = {"time", "duration", "elapsed", "started", "finished", "timestamp", "wall_s"}
    if isinstance(doc, dict):
        return {k: _stable(v) for k, v in doc.items() if k not in timing}
    if isinstance(doc, list):
        return [_stable(v) for v in doc]
    return doc


def test_results_identical_with_and_without_xdist(single: TrustRun) -> None:
    _project(single)
    single.data("suites/big.jsonl", rows(300, qid=lambda i: f"b{i}", prompt=lambda i: f"big {i}"))
    single.suite("suites/big.yaml", id="demo/big", data="big.jsonl", chunk_size=16)
    plain_result, plain = single.report("--trust-model=replay", "--junitxml=plain.xml", name="plain.json")
    single.mode = "xdist-n2"
    dist_result, dist = single.report("--trust-model=replay", "--junitxml=dist.xml", name="dist.json")
    assert plain_result.ret == dist_result.ret == 1
    plain["settings"].pop("report")
    dist["settings"].pop("report")
    assert _stable(plain) == _stable(dist)

    def gates(name):
        root = ET.parse(single.path / name).getroot()
        (suite,) = [s for s in root.iter("testsuite") if s.get("name") == "trust-gates"]
        return ET.tostring(suite)

    assert gates("plain.xml") == gates("dist.xml")
    summary = [[ln for ln in r.outlines if ln.startswith("demo/")] for r in (plain_result, dist_result)]
    assert summary[0] == summary[1] and len(summary[0]) == 4 + 3


RECORDED = Path(os.environ.get("TRUSTLLM_RECORDED") or SHARED / "trustllm" / "recorded") / "mistral-7b"


@pytest.mark.skipif(not RECORDED.is_dir(), reason=f"recorded responses not found at {RECORDED}")
def test_incomplete_names_only_the_metrics_that_miss_items(single: TrustRun) -> None:
    """The shipped internal suite replayed without a judge: the judge-scored sources are skipped, the
    keyword-scored codah is complete, the composite names its incomplete parts."""
    single.write("suites/internal.yaml", (REPO / "suites/trustllm/truthfulness/internal.yaml").read_text())
    result, report = single.report("--trust-model=replay", f"--trust-data={RECORDED}",
                                   "--trust-allow-modified-data", "--trust-cache=off", "-rs")
    assert result.ret in (0, 1), result.stdout.str()
    result.stdout.fnmatch_lines(["*needs an LLM judge, which is not configured: set --trust-judge=MODEL_SPEC*"])
    (suite,) = report["suites"]
    assert suite["items"]["skipped"] == 300
    got = {m["name"]: m["incomplete"] for m in suite["metrics"]}
    assert got == {"codah": None, "squad": "100 item(s) skipped", "adversarial": "100 item(s) skipped",
                   "hotpot": "100 item(s) skipped", "internal": "incomplete part(s): squad, adversarial, hotpot"}


SLOW_BACKEND = '''
import time
from pytest_trustllm.types import GenerationResult


class Slow:
    name, identity, cacheable = "slow", {"backend": "slow"}, False

    def generate(self, requests, on_result=None):
        time.sleep(0.3)
        return [GenerationResult(r.record["res"]) for r in requests]

    def close(self):
        pass


def pytest_trust_make_backend(spec, options):
    return Slow() if spec == "slow" else None
'''


def test_progress_lines_stand_on_their_own_lines_under_q(trust: TrustRun) -> None:
    """The controller's progress (also fed by xdist workers' reports) never glues onto the -q dots."""
    trust.conftest(SLOW_BACKEND)
    trust.data("suites/data.jsonl", rows(16))
    trust.suite(chunk_size=1)
    result = trust.run("--trust-model=slow", "--trust-progress=on", "-q")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["trustllm items: 16/16 (100%), * items/s"])
    glued = [ln for ln in result.outlines if "trustllm items:" in ln and not ln.startswith("trustllm items:")]
    assert not glued, glued


def test_under_q_the_setup_heads_the_run_and_the_end_names_the_reports(trust: TrustRun) -> None:
    """-q hides pytest's header, not the trust set-up; the run ends with where its reports are, then the verdict."""
    trust.data("suites/data.jsonl", rows(4))
    trust.suite()
    result = trust.run("--trust-model=replay", "--trust-report=out.json", "--trust-html=out.html",
                       "--junitxml=junit.xml", "-q")
    assert result.ret == 0, result.stdout.str()
    lines = [ln for ln in result.outlines if ln.strip()]
    assert lines[0].startswith("trustllm: model=replay rules=paper"), lines[:3]
    assert lines[-2] == "trustllm reports: results JSON out.json, HTML out.html, JUnit junit.xml"
    assert lines[-1].startswith("trust passed")                 # the verdict stays the last line
    assert all((trust.path / name).is_file() for name in ("out.json", "out.html", "junit.xml"))
    quieter = trust.run("--trust-model=replay", "-qq")
    assert not [ln for ln in quieter.outlines if ln.startswith(("trustllm: model=", "trustllm reports:"))]
