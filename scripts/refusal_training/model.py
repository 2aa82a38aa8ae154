"""The classifier: a logistic regression over the hashed features, shipped as float16 weights."""
from __future__ import annotations

import io
import json

import numpy as np


def equal_model_weights(groups: np.ndarray) -> np.ndarray:
    """Sample weights under which each training model weighs the same, whatever its size."""
    w = np.ones(len(groups))
    for m in set(groups):
        w[groups == m] = len(groups) / (groups == m).sum() / len(set(groups))
    return w


def fit(X, y, C, balance=False, groups=None):
    from sklearn.linear_model import LogisticRegression

    w = equal_model_weights(groups) if balance else None
    clf = LogisticRegression(C=C, solver="liblinear", max_iter=1000, random_state=0)
    clf.fit(X, y, sample_weight=w)
    return clf.coef_[0].astype(np.float64), float(clf.intercept_[0])


def quantise(coef: np.ndarray) -> tuple[np.ndarray, float]:
    """float16 after scaling into its exact range: the shipped weights are exactly what is evaluated."""
    scale = float(np.abs(coef).max() / 1000.0) or 1.0
    return (coef / scale).astype(np.float16), scale


def predict(coef16: np.ndarray, scale: float, intercept: float, X, threshold: float = 0.0) -> np.ndarray:
    w = coef16.astype(np.float32) * scale
    return (X @ w + intercept) >= threshold


def params_blob(q: np.ndarray, meta: dict) -> bytes:
    """The parameter file the runtime classifier loads (judges/offline_refusal.py)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, weights=q, meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8))
    return buf.getvalue()
