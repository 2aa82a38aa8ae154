"""docs/gating-in-ci.md: the workflow's shard and merge steps, run for real with bash on a replay of
recorded TrustLLM responses, shard and merge and decide exactly as one unsharded run does."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import xmlschema
import yaml

from conftest import REPO, SHARED, XSD

RECORDED = Path(os.environ.get("TRUSTLLM_RECORDED") or SHARED / "trustllm" / "recorded") / "mistral-7b"
LAST_RELEASE = RECORDED.parent / "bison-001"
SUITE = "suites/trustllm/robustness/advglue.yaml"
REPLAY = f"--trust-data={RECORDED} --trust-allow-modified-data --trust-cache=off"


def workflow() -> dict:
    text = (REPO / "docs" / "gating-in-ci.md").read_text(encoding="utf-8")
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))


def step(job: dict, name: str) -> dict:
    (found,) = [s for s in job["steps"] if s.get("name", "").startswith(name)]
    return found


def bash(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PATH": path, **env})


def test_workflow_is_complete():
    wf = workflow()
    shard, gate = wf["jobs"]["shard"], wf["jobs"]["gate"]
    assert gate["needs"] == "shard"
    assert len(shard["strategy"]["matrix"]["shard"]) == int(wf["env"]["SHARDS"])
    uses = [s.get("uses", "") for s in gate["steps"]]
    assert any(u.startswith("actions/download-artifact") for u in uses)
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    assert any("junit" in u for u in uses)
    uploaded = next(s for s in gate["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert {"trust.json", "trust.xml", "trust.html"} <= set(uploaded["with"]["path"].split())
    flags = re.findall(r"--trust-[a-z-]+", wf["env"]["TRUST_ARGS"] + step(shard, "trust run")["run"])
    from pytest_trustllm.settings import BY_NAME
    assert flags and all(f[len("--trust-"):] in BY_NAME for f in flags), flags


@pytest.mark.skipif(not RECORDED.is_dir(), reason=f"recorded responses not found at {RECORDED}")
@pytest.mark.slow
def test_workflow_steps_shard_merge_and_gate(tmp_path):
    """The documented steps with the documented TRUST_ARGS (confident gate, baseline of the last
    release), only the replay model's data flags added: four shards and the merge decide exactly as
    one unsharded run does, baseline comparison included."""
    wf = workflow()
    shards = int(wf["env"]["SHARDS"])
    documented = wf["env"]["TRUST_ARGS"]
    assert documented.split() == ["--trust-gate=confident", "--trust-baseline=trust/baseline.json"]
    run_shard = step(wf["jobs"]["shard"], "trust run")["run"]
    merge = step(wf["jobs"]["gate"], "merge and gate")["run"]
    (tmp_path / "suites" / "trustllm" / "robustness").mkdir(parents=True)
    shutil.copy(REPO / SUITE, tmp_path / SUITE)
    # the last release: bison-001's recorded answers, saved as the baseline the workflow reads
    last = bash(f"pytest {SUITE} --trust-model=replay --trust-data={LAST_RELEASE} --trust-allow-modified-data "
                "--trust-cache=off --trust-save-baseline=trust/baseline.json -q", tmp_path)
    assert "baseline saved: trust/baseline.json" in last.stdout, last.stdout[-3000:] + last.stderr
    args = f"{documented} {REPLAY}"
    env = {"TRUST_MODEL": "replay", "TRUST_SUITES": SUITE, "TRUST_ARGS": args, "SHARDS": str(shards)}

    whole = bash(f"pytest {SUITE} --trust-model=replay {args} --trust-report=whole.json "
                 "--trust-save-baseline=whole-baseline.json -q", tmp_path)
    for k in range(1, shards + 1):
        r = bash(run_shard, tmp_path, SHARD=str(k), **env)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr
        assert re.search(rf"shard {k} exit status [01]\b", r.stdout)
    done = bash(merge, tmp_path)

    one = json.loads((tmp_path / "whole.json").read_text())
    merged = json.loads((tmp_path / "trust.json").read_text())
    assert done.returncode == whole.returncode == one["exit"]["status"], done.stdout[-3000:] + done.stderr
    assert merged["suites"] == one["suites"] and merged["exit"] == one["exit"]
    assert merged["merged_from"] == [f"shard-{k}.json" for k in range(1, shards + 1)]
    # the baseline comparison, recomputed on all items: the same tests, p-values, flips and failures.
    # mistral-7b against bison-001 on AdvGLUE regresses (acc 0.877 -> 0.618, docs/decisions.md), so
    # the gate job fails on the regression
    assert merged["baseline"] == one["baseline"]
    assert one["baseline"]["path"] == "trust/baseline.json"
    assert any("trustllm/robustness/advglue acc regressed against the baseline" in f
               for f in one["baseline"]["failures"]), one["baseline"]["failures"]
    assert one["exit"]["status"] == 1 and "3 significant regression(s) against the baseline" in one["exit"]["reason"]
    assert "straddles the threshold" in one["exit"]["reason"]  # the confident gate decided on the interval
    xmlschema.XMLSchema(str(XSD)).validate(str(tmp_path / "trust.xml"))
    assert "<svg" in (tmp_path / "trust.html").read_text(encoding="utf-8")
    # the next release's baseline: the one an unsharded run saves
    candidate = json.loads((tmp_path / "candidate-baseline.json").read_text())
    assert candidate == json.loads((tmp_path / "whole-baseline.json").read_text())
    assert sum(len(s["records"]) for s in candidate["suites"]) == len(one["suites"][0]["records"]) > 0

    # a broken shard (here a usage error) fails its job instead of passing as a verdict
    bad = bash(run_shard, tmp_path, SHARD="1", **{**env, "TRUST_ARGS": args + " --trust-gate=sometimes"})
    assert bad.returncode != 0 and "shard 1 exit status 4" in bad.stdout
