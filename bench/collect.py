"""Benchmark: collecting a suite of N records vs collecting N trivially parametrized tests.

Both are ``pytest --collect-only -q -p no:cacheprovider`` in fresh subprocesses, run side by side
(interleaved), best of 3 each. Target: plugin / baseline <= 1.3.

    .venv/bin/python bench/collect.py            # N = 20000
    .venv/bin/python bench/collect.py --n 5000 --repeats 5
    .venv/bin/python bench/collect.py --profile  # also where the plugin's collection spends its time
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

TARGET = 1.3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="profile one plugin collection with cProfile")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
        tmp = Path(tmp)
        suite = make_suite_project(tmp / "suite", a.n)
        base = make_parametrized_project(tmp / "param", a.n)
        args = ["--collect-only", "-q", "-p", "no:cacheprovider"]
        # check both collect N items before timing anything
        for cwd in (suite, base):
            _, code, tail = run_pytest(cwd, args)
            if code != 0 or f"{a.n} tests collected" not in tail:
                raise SystemExit(f"{cwd}: unexpected collection:\n{tail}")
        print(f"collect {a.n} items, best of {a.repeats} (interleaved), python {sys.version.split()[0]}")
        times = best_of(a.repeats, {"baseline (parametrized)": (base, args), "plugin (suite records)": (suite, args)})
        base_t = times["baseline (parametrized)"]
        print(f"\nbaseline (parametrized): wall {base_t['wall']:.2f} s   cpu {base_t['cpu']:.2f} s")
        ratio = ratio_line("plugin (suite records)", times["plugin (suite records)"], base_t, TARGET)
        if a.profile or ratio > TARGET:
            prof = tmp / "collect.prof"
            run_pytest(suite, args, profile=prof)
            profile_summary(prof)
    return 0


if __name__ == "__main__":
    sys.exit(main())
