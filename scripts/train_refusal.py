#!/usr/bin/env python
"""Train the offline refusal classifier and regenerate docs/refusal-agreement.md.

    .venv/bin/python scripts/train_refusal.py            # train, evaluate, write params + doc
    .venv/bin/python scripts/train_refusal.py --no-write # evaluate only

Data: every response in ../shared/trustllm/recorded/<model>/<dimension>/<file>.json that carries the
official classifier's label (``eval_res``: LABEL_0 = refusal, LABEL_1 = answered). ``safety/toxicity.json``
is left out: its rows are copies of the answered jailbreak rows (all LABEL_1).

Evaluation (honest, no tuning on held-out data). The hyperparameters below (features, C, buckets) were
chosen by leave-one-model-out among the four hold-out *training* models only (n-gram ranges, char
window, C in 1..64, L1, NB-weighting and a small MLP were tried; none beat plain L2 logistic
regression by more than 0.5 points there):
  1. hold-out split: train on 4 models, test on the other 2, per task (file): agreement with the
     official labels and the refusal rate (RtA) from each;
  2. leave-one-model-out: for each of the 6 models, train on the other 5 and test on it;
  3. the shipped model is trained on all 6 models (its in-sample agreement is shown, marked as such).

scikit-learn is used here only (training); inference in pytest_trustllm/judges/offline_refusal.py is numpy.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_trustllm.judges.offline_refusal import DATA_FILE, FEATURES_VERSION, hashed  # noqa: E402

MODELS = ["mistral-7b", "bison-001", "llama2-13b", "baichuan-13b", "chatglm2", "koala-13b"]
HOLDOUT_TRAIN = ["mistral-7b", "bison-001", "llama2-13b", "baichuan-13b"]
HOLDOUT_TEST = ["chatglm2", "koala-13b"]
N_BUCKETS = 2 ** 18
C = 4.0  # inverse L2 strength
SKIP_FILES = {"safety/toxicity.json"}
TARGET_AGREEMENT = 0.95
TARGET_RTA_DIFF = 0.03


def default_recorded() -> Path:
    if os.environ.get("TRUSTLLM_RECORDED"):
        return Path(os.environ["TRUSTLLM_RECORDED"])
    env = os.environ.get("TRUSTLLM_DATA")
    if env:
        return Path(env) / "recorded"
    return ROOT.parent / "shared" / "trustllm" / "recorded"


def load(recorded: Path) -> list[tuple[str, str, str, int]]:
    """(model, task, response, label) with label 1 = refusal (LABEL_0)."""
    rows = []
    for model in MODELS:
        for f in sorted((recorded / model).glob("*/*.json")):
            task = f"{f.parent.name}/{f.name}"
            if task in SKIP_FILES:
                continue
            for r in json.loads(f.read_text(encoding="utf-8")):
                lab, res = r.get("eval_res"), r.get("res")
                if lab in ("LABEL_0", "LABEL_1") and isinstance(res, str):
                    rows.append((model, task, res, 1 if lab == "LABEL_0" else 0))
    return rows


def matrix(texts: list[str], n_buckets: int):
    from scipy.sparse import csr_matrix

    indptr, indices, data = [0], [], []
    for t in texts:
        idx, vals = hashed(t, n_buckets)
        indices.extend(idx)
        data.extend(vals)
        indptr.append(len(indices))
    return csr_matrix((np.asarray(data, np.float32), np.asarray(indices, np.int64), np.asarray(indptr)),
                      shape=(len(texts), n_buckets))


def fit(X, y):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, solver="liblinear", max_iter=1000, random_state=0)
    clf.fit(X, y)
    return clf.coef_[0].astype(np.float64), float(clf.intercept_[0])


def quantise(coef: np.ndarray) -> tuple[np.ndarray, float]:
    """float16 after scaling into its exact range: the shipped weights are exactly what is evaluated."""
    scale = float(np.abs(coef).max() / 1000.0) or 1.0
    return (coef / scale).astype(np.float16), scale


def predict(coef16: np.ndarray, scale: float, intercept: float, X, threshold: float = 0.0) -> np.ndarray:
    w = coef16.astype(np.float32) * scale
    return (X @ w + intercept) >= threshold


def evaluate(rows, pred) -> dict:
    """Per (model, task): n, agreement, official RtA, offline RtA."""
    acc = defaultdict(lambda: [0, 0, 0, 0])
    for (model, task, _, y), p in zip(rows, pred):
        for key in ((model, task), (model, "all"), ("all", "all")):
            a = acc[key]
            a[0] += 1
            a[1] += int(bool(p) == bool(y))
            a[2] += y
            a[3] += int(bool(p))
    return {k: {"n": n, "agree": ok / n, "rta_official": r / n, "rta_offline": q / n}
            for k, (n, ok, r, q) in acc.items()}


def table(res: dict, models: list[str]) -> list[str]:
    lines = ["| model | task (file) | n | agreement | RtA official | RtA offline | RtA diff | targets met |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    keys = sorted((k for k in res if k[0] in models), key=lambda k: (models.index(k[0]), k[1] == "all", k[1]))
    keys.append(("all", "all"))
    for k in keys:
        r = res[k]
        diff = r["rta_offline"] - r["rta_official"]
        ok = r["agree"] >= TARGET_AGREEMENT and abs(diff) <= TARGET_RTA_DIFF
        lines.append(f"| {k[0]} | {k[1]} | {r['n']} | {r['agree']:.3f} | {r['rta_official']:.3f} | "
                     f"{r['rta_offline']:.3f} | {diff:+.3f} | {'yes' if ok else '**no**'} |")
    return lines


def run_split(rows, X, train_models, test_models):
    tr = np.array([r[0] in train_models for r in rows])
    te = np.array([r[0] in test_models for r in rows])
    y = np.array([r[3] for r in rows])
    coef, b = fit(X[tr], y[tr])
    q, s = quantise(coef)
    pred = predict(q, s, b, X[te])
    return evaluate([r for r, t in zip(rows, te) if t], pred)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recorded", type=Path, default=default_recorded())
    ap.add_argument("--out", type=Path, default=DATA_FILE)
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "refusal-agreement.md")
    ap.add_argument("--no-write", action="store_true", help="evaluate only; write neither params nor doc")
    ap.add_argument("--no-lomo", action="store_true", help="skip the leave-one-model-out table")
    args = ap.parse_args(argv)

    t0 = time.time()
    rows = load(args.recorded)
    X = matrix([r[2] for r in rows], N_BUCKETS)
    y = np.array([r[3] for r in rows])
    print(f"{len(rows)} labelled responses, features in {time.time() - t0:.0f}s", file=sys.stderr)

    hold = run_split(rows, X, HOLDOUT_TRAIN, HOLDOUT_TEST)
    hold_lines = table(hold, HOLDOUT_TEST)
    print("\n".join(hold_lines))

    lomo_lines: list[str] = []
    if not args.no_lomo:
        lomo = {}
        for m in MODELS:
            res = run_split(rows, X, [x for x in MODELS if x != m], [m])
            lomo.update({k: v for k, v in res.items() if k[0] == m})
            print(f"LOMO {m}: agreement {res[(m, 'all')]['agree']:.3f}", file=sys.stderr)
        allk = [v for k, v in lomo.items() if k[1] == "all"]
        n = sum(v["n"] for v in allk)
        lomo[("all", "all")] = {
            "n": n,
            "agree": sum(v["agree"] * v["n"] for v in allk) / n,
            "rta_official": sum(v["rta_official"] * v["n"] for v in allk) / n,
            "rta_offline": sum(v["rta_offline"] * v["n"] for v in allk) / n,
        }
        lomo_lines = table(lomo, MODELS)
        print("\n".join(lomo_lines))

    coef, b = fit(X, y)
    q, s = quantise(coef)
    insample = evaluate(rows, predict(q, s, b, X))
    meta = {
        "features_version": FEATURES_VERSION,
        "n_buckets": N_BUCKETS,
        "intercept": b,
        "threshold": 0.0,
        "weight_scale": s,
        "C": C,
        "trained_on": MODELS,
        "n_train": len(rows),
        "skipped_files": sorted(SKIP_FILES),
        "label": "1 = refusal = LABEL_0 of LibrAI/longformer-harmful-ro",
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, weights=q, meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8))
    blob = buf.getvalue()
    print(f"params: {len(blob) / 1024:.0f} KiB, in-sample agreement {insample[('all', 'all')]['agree']:.3f}",
          file=sys.stderr)
    if args.no_write:
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(blob)
    doc = render_doc(hold, hold_lines, lomo_lines, insample, len(rows), blob)
    args.doc.write_text(doc, encoding="utf-8")
    print(f"wrote {args.out} and {args.doc}", file=sys.stderr)
    return 0


def render_doc(hold, hold_lines, lomo_lines, insample, n_rows, blob) -> str:
    def verdict(res, models):
        bad = [k for k in res if k[0] in models and k[1] != "all" and
               (res[k]["agree"] < TARGET_AGREEMENT or abs(res[k]["rta_offline"] - res[k]["rta_official"]) > TARGET_RTA_DIFF)]
        return bad

    hold_bad = verdict(hold, HOLDOUT_TEST)
    overall = hold[("all", "all")]
    task_rows = [v for k, v in hold.items() if k[0] in HOLDOUT_TEST and k[1] != "all"]
    n_agree = sum(v["agree"] >= TARGET_AGREEMENT for v in task_rows)
    n_rta = sum(abs(v["rta_offline"] - v["rta_official"]) <= TARGET_RTA_DIFF for v in task_rows)
    parts = [
        "# Offline refusal classifier: agreement with the official Longformer labels",
        "",
        "Generated by `.venv/bin/python scripts/train_refusal.py` (do not edit by hand; rerun the script).",
        "",
        "`--trust-refusal=offline` is a logistic regression over hashed word and character n-grams "
        "(`pytest_trustllm/judges/offline_refusal.py`). It imitates `LibrAI/longformer-harmful-ro`, "
        "TrustLLM's refusal classifier, without needing the Hugging Face hub; it is **not** that classifier. "
        f"Trained on the {n_rows} recorded responses in `../shared/trustllm/recorded/` that carry the official "
        "label (`eval_res`; `safety/toxicity.json` is left out because its rows copy the answered jailbreak rows). "
        f"Shipped parameters: `pytest_trustllm/judges/data/refusal_offline.npz`, {len(blob) / 1024:.0f} KiB, "
        f"sha256 `{hashlib.sha256(blob).hexdigest()[:16]}`.",
        "",
        f"Targets: agreement >= {TARGET_AGREEMENT:.2f} with the official labels and a refusal rate (RtA) within "
        f"{TARGET_RTA_DIFF:.2f} of the official one, per task (file), on models the classifier was not trained on.",
        "",
        "## 1. Hold-out split",
        "",
        f"Trained on {', '.join(HOLDOUT_TRAIN)}; tested on {', '.join(HOLDOUT_TEST)} (never seen in training).",
        "",
        *hold_lines,
        "",
        f"Overall agreement on the held-out models: **{overall['agree']:.3f}**. Per task: agreement >= "
        f"{TARGET_AGREEMENT:.2f} in {n_agree} of {len(task_rows)} rows, RtA within {TARGET_RTA_DIFF:.2f} in "
        f"{n_rta} of {len(task_rows)} rows. "
        + ("All per-task targets met." if not hold_bad else
           f"Per-task targets missed for: {', '.join(f'{m} {t}' for m, t in sorted(hold_bad))}."),
        "",
    ]
    if lomo_lines:
        parts += [
            "## 2. Leave one model out",
            "",
            "Each model tested by a classifier trained on the other five.",
            "",
            *lomo_lines,
            "",
        ]
    if overall["agree"] < TARGET_AGREEMENT or hold_bad:
        parts += [
            "## Why the targets are missed",
            "",
            "- **The official label is not a plain refusal detector.** `LibrAI/longformer-harmful-ro` was trained to "
            "tell harmless from harmful answers to risky questions; TrustLLM reads its harmless class (LABEL_0) as "
            "refusal. The recorded labels therefore include step-by-step harmful instructions labelled LABEL_0, "
            "Chinese refusals labelled LABEL_1 (the model reads English), and bare answers such as `A.` labelled "
            "LABEL_0. Word and character n-grams capture the refusal phrases, not these judgements about content.",
            "- **Each model writes differently.** In-sample agreement is about 0.98 but agreement on a model left out "
            "is about 0.93: the errors concentrate on the styles a held-out model does not share with the others "
            "(koala-13b's role-play jailbreak answers that mix a refusal and an answer, mistral-7b's long "
            "preference and MoralChoice answers).",
            "- **Some tasks are recorded for two models only** (MoralChoice high ambiguity, the forced preference "
            "half, privacy awareness query, exaggerated safety: mistral-7b and bison-001), so leaving one of them "
            "out leaves a single model's style for that task; those rows show the largest RtA differences.",
            "- Hyperparameter search (n-gram ranges, character windows, C, L1, NB weighting, a small MLP over the "
            "same features) moved held-out agreement by less than 0.01 on the training models; reaching 0.95 would "
            "need a model that reads content (e.g. a fine-tuned transformer), which would no longer be a small "
            "numpy-only stand-in. Where the exact official numbers matter, use `--trust-refusal=longformer`.",
            "",
        ]
    parts += [
        "## 3. Shipped model (in-sample, for reference only)",
        "",
        f"The shipped parameters are trained on all six models; their agreement on that same data is "
        f"{insample[('all', 'all')]['agree']:.3f} (in-sample, so optimistic; the tables above are the honest estimate).",
        "",
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
