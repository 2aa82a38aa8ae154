"""Items: one per record, stable node ids, markers and pytest's own selection, sampling."""
from __future__ import annotations

import collections
import hashlib
import re

import pytest

from conftest import TrustRun, collected_ids, items, reported_ids, rows


def test_one_item_per_record(trust: TrustRun) -> None:
    trust.data("suites/data.jsonl", rows(150))
    trust.suite("suites/demo.yaml")
    result = trust.run("--trust-model=replay", "-rA")
    result.assert_outcomes(passed=100, xfailed=50)
    assert items(reported_ids(result)) == {("suites/demo.yaml", f"q{i}") for i in range(150)}


def test_node_ids_stable_across_runs_and_under_xdist(single: TrustRun) -> None:
    single.data("suites/data.jsonl", rows(150, refuse_every=10**9) + [{"prompt": "no id here", "res": "no"}])
    single.suite("suites/demo.yaml", record={"fields": ["kind"]})  # ids from index + content hash
    first = collected_ids(single.run("--collect-only", "-q"))
    second = collected_ids(single.run("--collect-only", "-q"))
    assert len(first) == 151 and first == second
    # the same node ids run under -n 2 (xdist also checks that both workers collected the same items)
    single.mode = "xdist-n2"
    ran = reported_ids(single.run("--trust-model=replay", "-rA"))
    assert set(ran) == set(first)


def test_record_id_field_or_index_and_hash(trust: TrustRun) -> None:
    records = rows(3)
    trust.data("suites/data.jsonl", records)
    trust.suite("suites/with_id.yaml", id="demo/with_id")
    trust.suite("suites/no_id.yaml", id="demo/no_id", record={"fields": ["kind"]})
    result = trust.run("--trust-model=replay", "-rA")
    names = items(reported_ids(result))
    assert {n for f, n in names if f == "suites/with_id.yaml"} == {"q0", "q1", "q2"}
    no_id = sorted(n for f, n in names if f == "suites/no_id.yaml")
    assert len(no_id) == 3
    for i, name in enumerate(no_id):
        m = re.fullmatch(r"r(\d{5})-([0-9a-f]{8})", name)
        assert m and int(m.group(1)) == i, name
    # the hash part follows the record's content: another prompt gives another id
    changed = [dict(r) for r in records]
    changed[1]["prompt"] = "a different prompt"
    trust.data("suites/data.jsonl", changed)
    again = sorted(n for f, n in items(reported_ids(trust.run("--trust-model=replay", "-rA")))
                   if f == "suites/no_id.yaml")
    assert again[0] == no_id[0] and again[2] == no_id[2] and again[1] != no_id[1]
    assert again[1].startswith("r00001-")


def _marker_project(trust: TrustRun) -> None:
    trust.data("suites/data.jsonl", rows(4))
    trust.suite("suites/jailbreak.yaml", id="demo/jailbreak", dimension="safety", task="jailbreak")
    trust.suite("suites/misuse.yaml", id="demo/misuse", dimension="safety", task="misuse",
                markers=["slowish"])
    trust.suite("suites/stereo.yaml", id="demo/stereo", dimension="fairness", task="stereotype_agreement")


@pytest.mark.parametrize("expr, expected", [
    ("fairness", {"stereo"}),
    ("safety and not jailbreak", {"misuse"}),
    ("jailbreak or stereotype_agreement", {"jailbreak", "stereo"}),
    ("slowish", {"misuse"}),
])
def test_markers_select_with_m(trust: TrustRun, expr: str, expected: set[str]) -> None:
    _marker_project(trust)
    result = trust.run("--trust-model=replay", "-rA", "--strict-markers", "-W", "error::pytest.PytestUnknownMarkWarning",
                       "-m", expr)
    assert result.ret == 0, result.stdout.str()
    files = {f for f, _ in items(reported_ids(result))}
    assert files == {f"suites/{name}.yaml" for name in expected}
    assert len(reported_ids(result)) == 4 * len(expected)


def test_keyword_and_deselect(trust: TrustRun) -> None:
    _marker_project(trust)
    result = trust.run("--trust-model=replay", "-rA", "-k", "misuse and (q1 or q2)")
    assert items(reported_ids(result)) == {("suites/misuse.yaml", "q1"), ("suites/misuse.yaml", "q2")}
    nodeid = next(n for n in reported_ids(result) if n.endswith("::q1"))
    result = trust.run("--trust-model=replay", "-rA", "--deselect", nodeid, "suites/misuse.yaml")
    assert items(reported_ids(result)) == {("suites/misuse.yaml", f"q{i}") for i in (0, 2, 3)}
    if not trust.xdist:  # under xdist the workers deselect, and the controller does not count them
        result.stdout.fnmatch_lines(["*1 deselected*"])


def test_last_failed_reruns_only_the_failed_items(trust: TrustRun) -> None:
    trust.data("suites/data.jsonl", rows(9))
    trust.suite("suites/demo.yaml", gates=None)  # no gates: a violation fails
    first = trust.run("--trust-model=replay", "-rA", cache=True)
    first.assert_outcomes(passed=6, failed=3)
    failed = {n for n, o in reported_ids(first).items() if o == "FAILED"}
    assert items(failed) == {("suites/demo.yaml", f"q{i}") for i in (0, 3, 6)}
    second = trust.run("--trust-model=replay", "-rA", "--lf", cache=True)
    second.assert_outcomes(failed=3, deselected=0 if trust.xdist else 6)
    assert set(reported_ids(second)) == failed


# -- sampling ---------------------------------------------------------------------------------

def _sample_project(trust: TrustRun, **record) -> None:
    def src(i: int) -> str:
        return "a" if i < 100 else "b" if i < 160 else "c"
    trust.data("suites/data.jsonl", rows(200, src=src, pair=lambda i: f"p{i // 2}"))
    trust.suite("suites/demo.yaml", record={"id": "qid", "fields": ["kind", "src"], **record})


def _kept(trust: TrustRun, *args: str, name: str = "results.json") -> list[dict]:
    result, report = trust.report("--trust-model=replay", *args, name=name)
    assert result.ret in (0, 1), result.stdout.str()
    (suite,) = report["suites"]
    return suite["records"]


def test_sample_is_seeded_and_stratified(trust: TrustRun) -> None:
    _sample_project(trust, stratify="src")
    a = _kept(trust, "--trust-sample=20", "--trust-seed=1", name="a.json")
    b = _kept(trust, "--trust-sample=20", "--trust-seed=1", name="b.json")
    c = _kept(trust, "--trust-sample=20", "--trust-seed=2", name="c.json")
    ids = [[r["id"] for r in x] for x in (a, b, c)]
    assert abs(len(ids[0]) - 20) <= 3
    assert ids[0] == ids[1]
    assert ids[0] != ids[2]
    # proportional to the strata (100/60/40 of 200): 10/6/4 of 20
    per = collections.Counter(r["fields"]["src"] for r in a)
    assert per == {"a": 10, "b": 6, "c": 4}
    # file order is kept
    assert [r["index"] for r in a] == sorted(r["index"] for r in a)


def test_sample_keeps_field_groups_whole(trust: TrustRun) -> None:
    _sample_project(trust, group="pair")
    kept = _kept(trust, "--trust-sample=30", "--trust-seed=5")
    pairs = collections.Counter(int(r["id"][1:]) // 2 for r in kept)
    assert 26 <= len(kept) <= 34
    assert set(pairs.values()) == {2}, pairs


def test_sample_keeps_consecutive_groups_whole(trust: TrustRun) -> None:
    # records 100..159 (src b) form consecutive pairs; the others are single units
    _sample_project(trust, group={"consecutive": 2, "where": {"src": "b"}})
    kept = _kept(trust, "--trust-sample=40", "--trust-seed=3")
    idx = {int(r["id"][1:]) for r in kept}
    for i in range(100, 160, 2):
        assert (i in idx) == (i + 1 in idx), (i, sorted(idx))
    assert any(100 <= i < 160 for i in idx)
    assert 34 <= len(kept) <= 46


def test_sample_larger_than_suite_keeps_everything(trust: TrustRun) -> None:
    _sample_project(trust)
    assert len(_kept(trust, "--trust-sample=1000")) == 200


def test_sampled_ids_identical_with_and_without_xdist(single: TrustRun) -> None:
    _sample_project(single, stratify="src", group="pair")
    plain = [r["id"] for r in _kept(single, "--trust-sample=25", "--trust-seed=9", name="plain.json")]
    single.mode = "xdist-n2"
    dist = [r["id"] for r in _kept(single, "--trust-sample=25", "--trust-seed=9", name="dist.json")]
    assert plain == dist


def test_hash_id_is_documented_shape() -> None:
    """The index + content-hash id: ``r<index:05d>-<first 8 hex of sha256(prompt)>``."""
    from pytest_trustllm.suite.records import content_hash

    assert content_hash({}, "hello") == hashlib.sha256(b"hello").hexdigest()[:8]
