"""Benchmark: the interval computation of a full replay run (every TrustLLM suite on recorded models)
with this checkout's ``intervals.py`` vs the one of a baseline commit, side by side.

The items are scored once (recorded responses and judges, as ``bench/reproduce.py`` does); then
``add_intervals`` runs over every suite with each module, interleaved, best of N (CPU time of this
process). The baseline module comes from ``git show REF:pytest_trustllm/metrics/intervals.py`` and runs on
this checkout's metrics, so the two differ only in how they evaluate resamples. Both must give the
same intervals; the bench says how many differ and by how much.

    TRUSTLLM_RECORDED=... .venv/bin/python bench/intervals.py                  # baseline 31a2c8c
    TRUSTLLM_RECORDED=... .venv/bin/python bench/intervals.py --models mistral-7b --repeats 5
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TARGET = 1.25  # "as fast as today": within noise of the baseline


def baseline_module(ref: str, tmp: Path):
    """The baseline's intervals.py as a module of its own (its relative imports made absolute)."""
    src = subprocess.run(["git", "show", f"{ref}:pytest_trustllm/metrics/intervals.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    src = src.replace("from .", "from pytest_trustllm.")
    path = tmp / f"intervals_{ref}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(f"intervals_{ref}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def scored_suites(models: list[str] | None):
    """(label, metric specs, scored items, metric values) of every suite on every recorded model."""
    import reproduce as R
    from pytest_trustllm.evaluate import carried_fields, evaluate_suite
    from pytest_trustllm.suite.load import load_suite
    from pytest_trustllm.types import ScoredItem

    out = []
    rec = R.recorded_dir()
    for model_dir in sorted(p for p in rec.iterdir() if p.is_dir() and not p.name.startswith("_")):
        if models and model_dir.name not in models:
            continue
        for path in R.suite_files():
            suite = load_suite(path)
            if not (model_dir / suite.data[len("trustllm:"):]).is_file():
                continue
            ev = evaluate_suite(path, model_dir, rules="paper", judges=R.recorded_judges(model_dir), model="replay")
            items = [ScoredItem(it.id, carried_fields(suite, it), o.score)
                     for it, o in zip(ev.items, ev.outcomes) if o.score is not None]
            out.append((f"{model_dir.name}/{suite.id}", suite.metrics_for("paper"), items, ev.metrics))
    return out


def run_all(add_intervals, suites) -> tuple[float, dict]:
    t = time.process_time()
    got = {}
    for label, specs, items, values in suites:
        for name, mv in add_intervals(specs, items, values, seed=0).items():
            got[f"{label}.{name}"] = mv.interval
    return time.process_time() - t, got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default="31a2c8c", help="git ref whose intervals.py is the baseline")
    ap.add_argument("--models", help="comma-separated recorded model folders (default: all)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    from pytest_trustllm.metrics import intervals as current

    with tempfile.TemporaryDirectory(prefix="bench-intervals-") as tmp:
        base = baseline_module(a.baseline, Path(tmp))
        suites = scored_suites(a.models.split(",") if a.models else None)
        n_items = sum(len(s[2]) for s in suites)
        n_metrics = sum(len(s[1]) for s in suites)
        print(f"intervals of {len(suites)} suite runs, {n_metrics} metrics, {n_items} scored items; "
              f"best of {a.repeats} (interleaved), CPU s, python {sys.version.split()[0]}")
        best = {"baseline": float("inf"), "current": float("inf")}
        results = {}
        for _ in range(a.repeats):
            for name, mod in (("baseline", base), ("current", current)):
                t, results[name] = run_all(mod.add_intervals, suites)
                best[name] = min(best[name], t)
    differ = [k for k in results["current"] if results["current"][k] != results["baseline"][k]]
    worst = max((max(abs(x - y) / max(abs(y), 1e-300) for x, y in zip(results["current"][k], results["baseline"][k]))
                 for k in differ if results["current"][k] and results["baseline"][k]), default=0.0)
    ratio = best["current"] / best["baseline"]
    print(f"baseline {a.baseline}: {best['baseline']:.2f} s   current: {best['current']:.2f} s   "
          f"ratio {ratio:.2f} (target <= {TARGET})")
    print(f"intervals not bit-identical: {len(differ)} of {len(results['current'])}"
          + (f" (largest relative difference {worst:.1e}: {', '.join(differ[:4])})" if differ else ""))
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
