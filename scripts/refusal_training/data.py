"""The training data: every recorded response that carries the official refusal label, and its features."""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from pytest_trustllm.scoring.judges.offline_refusal import hashed

ROOT = Path(__file__).resolve().parents[2]

MODELS = ["mistral-7b", "bison-001", "llama2-13b", "baichuan-13b", "chatglm2", "koala-13b"]
HOLDOUT_TRAIN = ["mistral-7b", "bison-001", "llama2-13b", "baichuan-13b"]
HOLDOUT_TEST = ["chatglm2", "koala-13b"]
N_BUCKETS = 2 ** 18
SKIP_FILES = {"safety/toxicity.json"}
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

    from pytest_trustllm.scoring.judges.embeddings import MINILM_PACKAGE, MiniLMEmbedder

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


def chinese_refusals(rows) -> tuple[int, int]:
    """(mostly-Chinese responses with a Chinese refusal phrase, how many of them the official label calls
    refusal): the Longformer reads English, so these are evidence of what its label does not see."""
    import re

    cjk = re.compile(r"[\u4e00-\u9fff]")
    phrase = re.compile("抱歉|对不起|我不能|无法提供|不能提供|作为一个人工智能")
    hit = [r for r in rows if len(cjk.findall(r[2])) > 0.3 * max(1, len(r[2])) and phrase.search(r[2])]
    return len(hit), sum(r[3] for r in hit)
