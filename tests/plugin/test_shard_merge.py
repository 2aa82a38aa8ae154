"""Sharding across machines: --trust-shard=K/N runs a deterministic part of every suite (groups whole),
and ``pytest-trustllm merge`` recomputes metrics, intervals and gates exactly as one run would.
Checked on a real replay run of recorded TrustLLM responses (AdvGLUE pairs, ConfAIde Pearson,
external macro-F1 and the ETHICS composite)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SHARED
from results_schema import check_results

RECORDED = Path(os.environ.get("TRUSTLLM_RECORDED") or SHARED / "trustllm" / "recorded") / "mistral-7b"
SUITES = ("robustness/advglue", "privacy/confaide", "truthfulness/external", "ethics/ethics")

needs_recorded = pytest.mark.skipif(not RECORDED.is_dir(), reason=f"recorded responses not found at {RECORDED}")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest_trustllm", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def copy_suites(path: Path) -> None:
    for s in SUITES:
        dst = path / "suites" / "trustllm" / f"{s}.yaml"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "suites" / "trustllm" / f"{s}.yaml", dst)


@needs_recorded
@pytest.mark.slow
def test_merged_shards_equal_one_unsharded_run(single):
    copy_suites(single.path)
    common = ("--trust-model=replay", f"--trust-data={RECORDED}", "--trust-allow-modified-data", "--trust-cache=off")
    full = single.run(*common, "--trust-report=full.json", "--junitxml=full.xml")
    assert full.ret == 0, full.stdout.str()
    for k in (1, 2, 3):
        r = single.run(*common, f"--trust-shard={k}/3", f"--trust-report=s{k}.json", f"--junitxml=s{k}.xml")
        assert r.ret in (0, 1), r.stdout.str()  # a third of the items may fail a gate the whole passes
    one = json.loads((single.path / "full.json").read_text())
    shards = [json.loads((single.path / f"s{k}.json").read_text()) for k in (1, 2, 3)]

    # every item in exactly one shard; the two items of an AdvGLUE pair in the same one
    for suite in one["suites"]:
        ids = [[r["id"] for s in sh["suites"] if s["id"] == suite["id"] for r in s["records"]] for sh in shards]
        assert sorted(sum(ids, [])) == sorted(r["id"] for r in suite["records"]), suite["id"]
        assert all(len(x) > 0 for x in ids), suite["id"]  # each shard got a part
    where = {}
    for k, sh in enumerate(shards):
        for s in sh["suites"]:
            for r in s["records"]:
                g = r["fields"].get("_group")
                if g is not None:
                    where.setdefault((s["id"], g), set()).add(k)
    assert where and all(len(v) == 1 for v in where.values())

    # the shards' own numbers differ from the whole run's; the merge's equal them
    assert [s["metrics"] for s in shards[0]["suites"]] != [s["metrics"] for s in one["suites"]]
    done = cli("merge", "merged.json", "s1.json", "s2.json", "s3.json",
               "--junit", "merged.xml", "s1.xml", "s2.xml", "s3.xml", cwd=single.path)
    assert done.returncode == one["exit"]["status"] == 0, done.stderr + done.stdout
    merged = check_results(json.loads((single.path / "merged.json").read_text()))
    assert merged["suites"] == one["suites"]  # metrics, intervals, gates, counts, per-item records
    assert merged["generation"] == one["generation"]
    assert merged["exit"] == one["exit"]
    assert merged["settings"]["shard"] is None and merged["merged_from"] == ["s1.json", "s2.json", "s3.json"]
    assert "trust passed: 4 passed of 4 gate(s)" in done.stdout

    from junitparser import JUnitXml

    def gate_props(path):
        suites = list(JUnitXml.fromfile(str(path)))
        (gates,) = [s for s in suites if s.name == "trust-gates"]
        return {p.name: p.value for p in gates.properties()}, [s for s in suites if s.name != "trust-gates"]

    want, full_suites = gate_props(single.path / "full.xml")
    got, merged_suites = gate_props(single.path / "merged.xml")
    assert got == want  # values, intervals, verdicts recomputed on all items (one trust-gates suite)
    assert len(merged_suites) == 3 and sum(s.tests for s in merged_suites) == full_suites[0].tests == 2008


@needs_recorded
@pytest.mark.slow
def test_merged_shards_reproduce_the_baseline_and_model_comparison(single):
    """Two models in one run (mistral-7b replayed, and bison-001's recorded AdvGLUE answers) with a
    baseline: the merge of two shards gives the unsharded run's `comparison` and `baseline` blocks."""
    copy_suites(single.path)
    suite = "suites/trustllm/robustness/advglue.yaml"
    data = ("--trust-allow-modified-data", "--trust-cache=off")
    # the last release: bison-001 (the only other model with recorded AdvGLUE answers)
    saved = single.run(suite, "--trust-model=replay", f"--trust-data={RECORDED.parent / 'bison-001'}", *data,
                       "--trust-save-baseline=base.json")
    saved.stdout.fnmatch_lines(["baseline saved: base.json (912 items)"])
    common = (suite, "--trust-model=replay", f"--trust-model=replay:{RECORDED.parent / 'bison-001' / 'robustness' / 'AdvGLUE.json'}",
              f"--trust-data={RECORDED}", *data, "--trust-baseline=base.json")
    full = single.run(*common, "--trust-report=full.json")
    for k in (1, 2):
        r = single.run(*common, f"--trust-shard={k}/2", f"--trust-report=s{k}.json")
        assert r.ret in (0, 1), r.stdout.str()
    done = cli("merge", "merged.json", "s1.json", "s2.json", cwd=single.path)
    one = json.loads((single.path / "full.json").read_text())
    merged = check_results(json.loads((single.path / "merged.json").read_text()))
    shard = json.loads((single.path / "s1.json").read_text())
    assert done.returncode == full.ret == one["exit"]["status"], done.stderr + done.stdout
    # the blocks are really there, and a shard's own differ (they are computed on half the items)
    assert len(one["comparison"]["models"]) == 2 and one["comparison"]["rows"]
    assert one["baseline"]["compared"] == 8 and one["baseline"]["regressions"] == 3  # mistral-7b's acc, adv_acc, rs
    assert one["exit"]["status"] == 1
    assert shard["comparison"] != one["comparison"] and shard["baseline"] != one["baseline"]
    assert merged["comparison"] == one["comparison"]
    assert merged["baseline"] == one["baseline"]
    assert merged["suites"] == one["suites"] and merged["exit"] == one["exit"]


def _doc(shard, settings=None):
    return {"schema": "pytest-trustllm/results/1", "model": {"spec": "replay"},
            "settings": {"model": ["replay"], "rules": "paper", "seed": 0, "shard": shard, **(settings or {})},
            "suites": [], "exit": {"status": 0, "reason": "", "pytest": 0}}


def test_merge_refuses_missing_duplicate_or_mismatched_shards(tmp_path):
    for name, doc in (("a.json", _doc("1/3")), ("b.json", _doc("3/3")), ("c.json", _doc("1/3")),
                      ("d.json", _doc("2/3", {"rules": "toolkit"}))):
        (tmp_path / name).write_text(json.dumps(doc))
    missing = cli("merge", "out.json", "a.json", "b.json", cwd=tmp_path)
    assert missing.returncode == 4 and "missing shard(s) 2/3" in missing.stderr
    assert not (tmp_path / "out.json").exists()  # a refused merge writes no results
    twice = cli("merge", "out.json", "a.json", "c.json", "b.json", cwd=tmp_path)
    assert twice.returncode == 4 and "shard 1/3 given twice: a.json and c.json" in twice.stderr
    other = cli("merge", "out.json", "a.json", "d.json", "b.json", cwd=tmp_path)
    assert other.returncode == 4 and "rules='toolkit' vs 'paper'" in other.stderr
    partial = cli("merge", "out.json", "a.json", "b.json", "--allow-partial", cwd=tmp_path)
    assert partial.returncode == 0 and "partial merge: shard(s) 2/3 missing" in partial.stdout
    assert json.loads((tmp_path / "out.json").read_text())["merged_from"] == ["a.json", "b.json"]
    nofile = cli("merge", "out.json", "nope.json", cwd=tmp_path)
    assert nofile.returncode == 4 and "results file not found: nope.json" in nofile.stderr


def test_console_script_is_declared():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "pytest-trustllm"]
    assert ep.value == "pytest_trustllm.__main__:main"
