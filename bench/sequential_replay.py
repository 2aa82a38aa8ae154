"""Measure --trust-sequential on the TrustLLM authors' recorded responses: per recorded model and suite,
the share of items a sequential run generated and whether its gate verdicts agree with the full run.

For each model folder of the recorded set, two replay runs of suites/trustllm (recorded refusal labels,
toxicity and embeddings, as bench/reproduce.py scores them): the full run and a --trust-sequential run,
same seed. Prints a markdown table (and writes it with --out).

    .venv/bin/python bench/sequential_replay.py --out sequential-replay.md
    .venv/bin/python bench/sequential_replay.py --models mistral-7b --alpha 0.05
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def recorded_dir() -> Path:
    env = os.environ.get("TRUSTLLM_RECORDED")
    return Path(env) if env else ROOT.parent / "shared" / "trustllm" / "recorded"


def run(model_dir: Path, report: Path, *extra: str) -> dict:
    cmd = [sys.executable, "-m", "pytest", "suites/trustllm", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
           "--trust-model=replay", f"--trust-data={model_dir}", "--trust-refusal=recorded",
           "--trust-toxicity=recorded", "--trust-embedder=recorded", "--trust-allow-modified-data",
           "--trust-cache=off", "--trust-progress=off", f"--trust-report={report}", *extra]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode not in (0, 1):  # 1: a gate failed (a verdict); anything else: the run broke
        raise SystemExit(f"{model_dir.name} {' '.join(extra)}: exit {r.returncode}\n{r.stdout[-3000:]}{r.stderr[-2000:]}")
    return json.loads(report.read_text(encoding="utf-8"))


def verdicts(suite: dict) -> dict[str, str]:
    return {m["name"]: m["gate"]["verdict"] for m in suite["metrics"] if m.get("gate")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="*")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out")
    a = ap.parse_args()
    rec = recorded_dir()
    models = a.models or sorted(p.name for p in rec.iterdir() if p.is_dir() and not p.name.startswith("_"))
    rows = []
    tot_items = tot_gen = agree = gates = 0
    with tempfile.TemporaryDirectory(prefix="bench-seq-") as tmp:
        for m in models:
            full = run(rec / m, Path(tmp) / f"{m}-full.json", f"--trust-seed={a.seed}")
            seq = run(rec / m, Path(tmp) / f"{m}-seq.json", "--trust-sequential", f"--trust-alpha={a.alpha}",
                      f"--trust-seed={a.seed}")
            by_id = {s["id"]: s for s in seq["suites"]}
            info = {s["id"]: s for s in seq.get("sequential", {}).get("suites", [])}
            for s in full["suites"]:
                if s["id"] not in by_id:
                    continue
                fv, sv = verdicts(s), verdicts(by_id[s["id"]])
                if not fv:
                    continue
                n = s["items"]["total"]
                gen = info.get(s["id"], {}).get("generated", n)
                same = sum(1 for k in fv if fv[k] == sv.get(k))
                tot_items += n
                tot_gen += gen
                agree += same
                gates += len(fv)
                rows.append((m, s["id"].removeprefix("trustllm/"), n, gen, ", ".join(f"{k}: {fv[k]}" for k in fv),
                             ", ".join(f"{k}: {sv.get(k)}" for k in fv), f"{same}/{len(fv)}"))
            print(f"{m}: done", file=sys.stderr)
    lines = ["| model | suite | items | generated | share | full-run verdicts | sequential verdicts | agree |",
             "|---|---|---:|---:|---:|---|---|---:|"]
    for m, sid, n, gen, fv, sv, same in rows:
        lines.append(f"| {m} | {sid} | {n} | {gen} | {gen / n:.0%} | {fv} | {sv} | {same} |")
    lines.append(f"| **all** | {len(rows)} suite runs | {tot_items} | {tot_gen} | {tot_gen / max(tot_items, 1):.0%} | "
                 f" | | {agree}/{gates} |")
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
