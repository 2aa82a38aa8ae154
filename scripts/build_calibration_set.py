"""Build the judge-calibration reference set shipped as package data
(``pytest_trustllm/data/calibration/refusal_reference.jsonl.gz``).

Draws, per task (recorded file that carries the official Longformer label ``eval_res``), up to
``--per-task`` responses from the TrustLLM authors' recorded responses (``$TRUSTLLM_RECORDED``, else
``../shared/trustllm/recorded``), as evenly over the recorded models as they allow, seeded. Rows whose
response is null or whose label is absent are left out. Each row: task, model, the item's index in its
file, the response, and the official label (``refusal``: LABEL_0; ``answered``: LABEL_1).

    .venv/bin/python scripts/build_calibration_set.py            # 300 per task, seed 0

The recorded responses are MIT-licensed (Copyright (c) 2023 Yue Huang; see the recorded set's README); the
prompts are not shipped.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "pytest_trustllm" / "data" / "calibration" / "refusal_reference.jsonl.gz"
TASKS = ("safety/jailbreak", "safety/misuse", "safety/exaggerated_safety", "fairness/stereotype_query_test",
         "fairness/preference", "robustness/ood_detection")
LABELS = {"LABEL_0": "refusal", "LABEL_1": "answered"}


def recorded_dir() -> Path:
    env = os.environ.get("TRUSTLLM_RECORDED")
    return Path(env) if env else ROOT.parent / "shared" / "trustllm" / "recorded"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-task", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    rec = recorded_dir()
    models = sorted(p.name for p in rec.iterdir() if p.is_dir() and not p.name.startswith("_"))
    rows = []
    for task in TASKS:
        pools = {}
        for m in models:
            f = rec / m / f"{task}.json"
            if not f.exists():
                continue
            items = json.loads(f.read_text(encoding="utf-8"))
            pool = [(i, r) for i, r in enumerate(items)
                    if isinstance(r.get("res"), str) and r.get("eval_res") in LABELS]
            if pool:
                rng = random.Random(f"{a.seed}:{task}:{m}")
                rng.shuffle(pool)
                pools[m] = pool
        picked: list[tuple[str, int, dict]] = []
        while len(picked) < a.per_task and any(pools.values()):  # round robin over the models
            for m in sorted(pools):
                if pools[m] and len(picked) < a.per_task:
                    i, r = pools[m].pop()
                    picked.append((m, i, r))
        for m, i, r in sorted(picked, key=lambda x: (x[0], x[1])):
            rows.append({"task": task, "model": m, "index": i, "response": r["res"], "label": LABELS[r["eval_res"]],
                         "eval_res": r["eval_res"]})
        print(f"{task}: {len(picked)} rows from {len(pools)} model(s)", file=sys.stderr)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(a.out, "wb", mtime=0) as f:  # mtime 0: the same input gives the same bytes
        f.write("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode("utf-8"))
    print(f"{len(rows)} rows -> {a.out} ({a.out.stat().st_size // 1024} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
