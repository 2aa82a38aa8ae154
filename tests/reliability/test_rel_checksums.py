"""Official data files that differ from their pinned checksums are reported before the run (a
collection error, before any prompt is sent); ``--trust-allow-modified-data`` is needed to go on,
and then the results, with and without xdist, record that the data was modified."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import rel_helpers as H

pytestmark = pytest.mark.slow

OFFICIAL = H.SHARED / "trustllm" / "dataset"
REL = "fairness/stereotype_query_test.json"  # small (95 records)

SUITE = f"""\
trustllm_suite: 1
id: rel/official
dimension: fairness
task: official_copy
data: trustllm:{REL}
record: {{prompt: prompt}}
scorer: {{name: keyword_refusal, args: {{expect: refuse}}}}
metrics: [{{name: rta, reduce: proportion, direction: higher}}]
gates: [{{metric: rta, op: ">=", threshold: 0.0}}]
"""


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """A TrustLLM-layout data folder holding a copy of one official file, and a suite over it."""
    if not (OFFICIAL / REL).exists():
        pytest.skip(f"the official dataset is not at {OFFICIAL}")
    data = tmp_path / "data"
    (data / "fairness").mkdir(parents=True)
    shutil.copy(OFFICIAL / REL, data / REL)
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "official.yaml").write_text(SUITE)
    return tmp_path


def _run(folder: Path, *extra: str):
    log = folder / "calls.log"
    r = H.run_pytest(folder, "suites", "--trust-model=fake", f"--trust-data={folder / 'data'}",
                     "--trust-cache=off", "--trust-report=results.json", *extra,
                     extra_env={"REL_CALL_LOG": str(log)})
    calls = log.read_text().splitlines() if log.exists() else []
    return r, calls


def _modify(folder: Path) -> None:
    p = folder / "data" / REL
    rows = json.loads(p.read_text())
    rows[0]["prompt"] += " (edited)"
    p.write_text(json.dumps(rows, indent=4))


def test_pinned_copy_runs_without_notes(layout: Path) -> None:
    r, calls = _run(layout)
    assert r.returncode == 0, r.stdout[-2000:]
    assert len(calls) == 95
    assert H.load_json(layout / "results.json")["data"] == {}


def test_modified_file_stops_the_run_before_any_prompt(layout: Path) -> None:
    _modify(layout)
    r, calls = _run(layout)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-2000:]  # a collection error fails the run
    assert "ERROR collecting suites/official.yaml" in out
    assert f"{REL}: differs from the pinned TrustLLM release" in out
    assert "--trust-allow-modified-data" in out
    assert calls == []  # reported before the run: no prompt was sent


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["no-xdist", "xdist-n2"])
def test_allow_modified_data_runs_and_records_it(layout: Path, xdist: tuple) -> None:
    _modify(layout)
    r, calls = _run(layout, "--trust-allow-modified-data", *xdist)
    assert r.returncode == 0, r.stdout[-2000:]
    assert len(calls) == 95
    notes = H.load_json(layout / "results.json")["data"]
    assert list(notes) == [f"trustllm:{REL}"]
    assert "differs from the pinned TrustLLM release" in notes[f"trustllm:{REL}"]
    assert f"data: trustllm:{REL}: differs" in r.stdout


def test_unknown_official_file_needs_the_flag_too(layout: Path) -> None:
    """A file under the dataset folder that the pinned release does not have is not official data."""
    shutil.copy(layout / "data" / REL, layout / "data" / "fairness" / "extra.json")
    (layout / "suites" / "official.yaml").write_text(SUITE.replace(REL, "fairness/extra.json"))
    r, calls = _run(layout)
    assert r.returncode != 0 and calls == []
    assert "not a file of the pinned TrustLLM release" in r.stdout
    r, calls = _run(layout, "--trust-allow-modified-data")
    assert r.returncode == 0 and len(calls) == 95
    assert "not a file of the pinned" in H.load_json(layout / "results.json")["data"]["trustllm:fairness/extra.json"]
