"""Benchmark: a full replay run of N suite items (keyword refusal scorer) vs a run of N trivially
parametrized tests.

Both are ``pytest -q -p no:cacheprovider`` in fresh subprocesses, side by side (interleaved), best of
3 each. Target: plugin / baseline <= 2. Besides the all-pass run it times a run where 10% of the
items are violations (xfail under the suite's gate), as in a real report.

    .venv/bin/python bench/replay_run.py             # N = 20000
    .venv/bin/python bench/replay_run.py --profile   # also where the plugin's run spends its time
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    best_of, make_parametrized_project, make_suite_project, profile_summary, ratio_line, run_pytest,
)

TARGET = 2.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="profile one plugin run with cProfile")
    ap.add_argument("--no-violations-run", action="store_true", help="skip the 10%%-violations variant")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        tmp = Path(tmp)
        passing = make_suite_project(tmp / "suite", a.n)
        mixed = make_suite_project(tmp / "mixed", a.n, violation_every=10)
        base = make_parametrized_project(tmp / "param", a.n)
        args = ["-q", "-p", "no:cacheprovider"]
        plugin_args = args + ["--trust-model=replay", "--trust-suites=none"]  # the project's suite only
        runs = {"baseline (parametrized)": (base, args), "plugin replay, all pass": (passing, plugin_args)}
        if not a.no_violations_run:
            runs["plugin replay, 10% xfail"] = (mixed, plugin_args)
        for name, (cwd, run_args) in runs.items():
            _, code, tail = run_pytest(cwd, run_args)
            expect = f"{a.n} passed" if "10%" not in name else f"{a.n - a.n // 10} passed, {a.n // 10} xfailed"
            if code != 0 or expect not in tail:
                raise SystemExit(f"{name}: unexpected run (exit {code}), wanted '{expect}':\n{tail}")
        print(f"run {a.n} items, best of {a.repeats} (interleaved), python {sys.version.split()[0]}")
        times = best_of(a.repeats, runs)
        base_t = times["baseline (parametrized)"]
        print(f"\nbaseline (parametrized): wall {base_t['wall']:.2f} s   cpu {base_t['cpu']:.2f} s")
        worst = 0.0
        for name in runs:
            if name.startswith("plugin"):
                worst = max(worst, ratio_line(name, times[name], base_t, TARGET))
        if a.profile or worst > TARGET:
            prof = tmp / "replay.prof"
            run_pytest(mixed if not a.no_violations_run else passing, plugin_args, profile=prof)
            profile_summary(prof)
    return 0


if __name__ == "__main__":
    sys.exit(main())
