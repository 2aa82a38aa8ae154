"""How well a classifier imitates the official labels: agreement and refusal rate (RtA) per model and task,
on the hold-out, leave-one-model-out and random splits, and the runtime classifier's own check."""
from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from .model import fit, predict, quantise

TARGET_AGREEMENT = 0.95
TARGET_RTA_DIFF = 0.03


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


def rta_rows_ok(res: dict) -> tuple[int, int]:
    rows = [v for k, v in res.items() if k[0] != "all" and k[1] != "all"]
    return sum(abs(v["rta_offline"] - v["rta_official"]) <= TARGET_RTA_DIFF for v in rows), len(rows)


def pooled(res_by_model: dict, models: list[str]) -> dict:
    allk = [res_by_model[(m, "all")] for m in models]
    n = sum(v["n"] for v in allk)
    return {"n": n, **{f: sum(v[f] * v["n"] for v in allk) / n for f in ("agree", "rta_official", "rta_offline")}}


def run_split(rows, X, train_models, test_models, C, balance):
    groups = np.array([r[0] for r in rows])
    tr = np.isin(groups, train_models)
    te = np.isin(groups, test_models)
    y = np.array([r[3] for r in rows])
    coef, b = fit(X[tr], y[tr], C, balance, groups[tr])
    q, s = quantise(coef)
    pred = predict(q, s, b, X[te])
    return evaluate([r for r, t in zip(rows, te) if t], pred)


def random_split(rows, X, C, balance, folds=5):
    from sklearn.model_selection import StratifiedKFold

    groups = np.array([r[0] for r in rows])
    y = np.array([r[3] for r in rows])
    pred = np.zeros(len(rows), bool)
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=0).split(X, groups):
        coef, b = fit(X[tr], y[tr], C, balance, groups[tr])
        q, s = quantise(coef)
        pred[te] = predict(q, s, b, X[te])
    return evaluate(rows, pred)


def runtime_speed(path: Path, texts: list[str], y: np.ndarray, insample_agree: float, n: int = 2000) -> float:
    """Responses/s of the runtime classifier loading the file just written (one process, one thread);
    also checks that it reproduces the training-side predictions on those responses."""
    from pytest_trustllm.scoring.judges.offline_refusal import OfflineRefusal

    clf = OfflineRefusal(path)
    idx = np.random.default_rng(0).permutation(len(texts))[:n]
    t0 = time.perf_counter()
    got = clf.classify([texts[i] for i in idx], [{}] * len(idx))
    speed = len(idx) / (time.perf_counter() - t0)
    agree = float(np.mean([g == bool(y[i]) for g, i in zip(got, idx)]))
    if abs(agree - insample_agree) > 0.02:
        raise RuntimeError(f"runtime classifier agrees {agree:.3f} on a sample, training side {insample_agree:.3f}")
    print(f"runtime: {speed:.0f} responses/s", file=sys.stderr)
    return speed
