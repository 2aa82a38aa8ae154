"""Load: two xdist workers share one SQLite response cache through a 5,000-item run, both writing
at once. No row is lost or written twice, every prompt is generated once, and the results equal a
single-process run's. The model is the deterministic, cacheable fake of ``rel_fakes`` (replay is
not cacheable), which logs every call with its process id."""
from __future__ import annotations

import collections
import sqlite3
from pathlib import Path

import pytest

import rel_helpers as H

pytestmark = pytest.mark.slow

N = 5000


def _calls(log: Path) -> list[tuple[int, str]]:
    if not log.exists():
        return []
    return [(int(pid), prompt) for pid, prompt in
            (line.split("\t", 1) for line in log.read_text(encoding="utf-8").splitlines())]


def test_two_workers_share_one_cache(tmp_path: Path) -> None:
    rows = H.records(N, prefix="L")
    shared, single = tmp_path / "shared", tmp_path / "single"
    for folder in (shared, single):
        H.write_suite(folder, rows, chunk_size=100)
    cache = shared / "cache.sqlite"
    log = shared / "calls.log"
    common = ("suites", "--trust-model=fake", "-q", "--trust-progress=off")

    r = H.run_pytest(shared, *common, f"--trust-cache={cache}", "--trust-report=results.json", "-n", "2",
                     timeout=300, extra_env={"REL_CALL_LOG": str(log)})
    assert r.returncode == 0, r.stdout[-2000:]

    calls = _calls(log)
    per_prompt = collections.Counter(p for _, p in calls)
    per_worker = collections.Counter(pid for pid, _ in calls)
    assert len(per_prompt) == N and max(per_prompt.values()) == 1, "a prompt was generated twice"
    assert len(per_worker) == 2 and min(per_worker.values()) > N // 10, per_worker  # both wrote, a lot

    db = sqlite3.connect(cache)
    try:
        total, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM responses").fetchone()
        texts = collections.Counter(t for (t,) in db.execute("SELECT text FROM responses"))
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    assert total == distinct == N, (total, distinct)
    assert texts == collections.Counter(H.model_reply(row["prompt"]) for row in rows)

    one = H.run_pytest(single, *common, "--trust-cache=cache.sqlite", "--trust-report=results.json",
                       "-p", "no:xdist", timeout=300)
    assert one.returncode == 0, one.stdout[-2000:]
    shared_res, single_res = H.load_json(shared / "results.json"), H.load_json(single / "results.json")
    assert shared_res["generation"]["generated"] == N
    assert H.comparable(shared_res) == H.comparable(single_res)
