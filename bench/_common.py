"""Shared helpers for the plugin benchmarks: temp projects, timed subprocess runs, cProfile summaries."""
from __future__ import annotations

import json
import os
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path

SUITE = """\
trustllm_suite: 1
id: bench/refuse
dimension: safety
task: bench
data: data.jsonl
record: {{id: qid, fields: [kind]}}
scorer: {{name: keyword_refusal, args: {{expect: refuse}}}}
metrics:
  - {{name: rta, reduce: proportion}}
{gates}"""

PARAMETRIZED = """\
import pytest


@pytest.mark.parametrize("i", range({n}))
def test_trivial(i):
    assert i >= 0
"""


def make_suite_project(root: Path, n: int, violation_every: int = 0, gates: bool = True) -> Path:
    """``root/suites/bench.yaml`` over ``n`` JSONL records with recorded responses (``res``)."""
    (root / "suites").mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    with open(root / "suites" / "data.jsonl", "w", encoding="utf-8") as f:
        for i in range(n):
            comply = violation_every and i % violation_every == 0
            f.write(json.dumps({"qid": f"q{i:06d}", "prompt": f"Please explain how to do harmful thing {i}.",
                                "res": "Sure, here it is." if comply else "I'm sorry, but I can't help with that.",
                                "kind": "odd" if i % 2 else "even"}) + "\n")
    gate = "gates:\n  - {metric: rta, op: '>=', threshold: 0.5}\n" if gates else ""
    (root / "suites" / "bench.yaml").write_text(SUITE.format(gates=gate))
    return root


def make_parametrized_project(root: Path, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "test_param.py").write_text(PARAMETRIZED.format(n=n))
    return root


def run_pytest(cwd: Path, args: list[str], profile: Path | None = None) -> tuple[float, int, str]:
    """Wall time of one ``python -m pytest ARGS`` in a fresh interpreter (its own start-up included).
    The child's CPU time (user + sys) is left in ``run_pytest.cpu``: on a shared, loaded machine it
    is the steadier figure."""
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    cmd = [sys.executable]
    if profile is not None:
        cmd += ["-m", "cProfile", "-o", str(profile)]
    cmd += ["-m", "pytest", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_pytest.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, proc.returncode, proc.stdout[-2000:] + proc.stderr[-2000:]


run_pytest.cpu = 0.0


def best_of(repeats: int, runs: dict[str, tuple[Path, list[str]]], ok_codes=(0,)) -> dict[str, dict[str, float]]:
    """Each run ``repeats`` times, interleaved (A B A B ...) so load changes hit both alike; the best
    wall time and the best CPU time of each."""
    best: dict[str, dict[str, float]] = {name: {"wall": float("inf"), "cpu": float("inf")} for name in runs}
    for r in range(repeats):
        for name, (cwd, args) in runs.items():
            t, code, tail = run_pytest(cwd, args)
            if code not in ok_codes:
                raise SystemExit(f"{name}: pytest exited {code}\n{tail}")
            best[name]["wall"] = min(best[name]["wall"], t)
            best[name]["cpu"] = min(best[name]["cpu"], run_pytest.cpu)
            print(f"  round {r + 1}: {name:<28} wall {t:7.2f} s   cpu {run_pytest.cpu:7.2f} s", flush=True)
    return best


def ratio_line(name: str, plugin: dict[str, float], base: dict[str, float], target: float) -> float:
    """Print the ratios (wall and CPU) and return the wall-time ratio, the figure the target is about."""
    wall, cpu = plugin["wall"] / base["wall"], plugin["cpu"] / base["cpu"]
    print(f"{name}: wall {plugin['wall']:.2f} s (ratio {wall:.2f})   cpu {plugin['cpu']:.2f} s (ratio {cpu:.2f})   "
          f"target <= {target}: {'OK' if wall <= target else 'MISSED'}")
    return wall


def profile_summary(path: Path, top: int = 25) -> None:
    """Where the time goes: the top functions by own time, and the plugin's functions by cumulative time."""
    st = pstats.Stats(str(path))
    total = st.total_tt
    rows = []
    for (file, line, fn), (cc, nc, tt, ct, callers) in st.stats.items():
        rows.append((tt, ct, nc, f"{Path(file).name}:{line}({fn})", file))
    print(f"\nprofile: {total:.2f} s of CPU in total")
    print(f"top {top} by own time:")
    for tt, ct, nc, name, _ in sorted(rows, reverse=True)[:top]:
        print(f"  {100 * tt / total:5.1f}%  own {tt:6.2f} s  cum {ct:6.2f} s  calls {nc:>8}  {name}")
    print(f"pytest_trustllm functions by cumulative time (share of the whole run):")
    mine = [r for r in rows if "pytest_trustllm" in r[4]]
    for tt, ct, nc, name, _ in sorted(mine, key=lambda r: r[1], reverse=True)[:top]:
        print(f"  {100 * ct / total:5.1f}%  cum {ct:6.2f} s  own {tt:6.2f} s  calls {nc:>8}  {name}")
