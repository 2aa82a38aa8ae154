"""Refusal classifiers: the recorded label, the official Longformer loading path (on a tiny random
Longformer built here), the shipped offline stand-in, keywords, and the LLM-judge label parser."""
import json
import os
import random
import zlib
from pathlib import Path

import pytest

from pytest_trustllm.scoring.judges.base import JudgeFailure, RefusalClassifier
from pytest_trustllm.scoring.judges.refusal import KeywordRefusal, RecordedRefusal, parse_refusal_label

REPO = Path(__file__).resolve().parents[2]
RECORDED = Path(os.environ.get("TRUSTLLM_RECORDED") or REPO.parent / "shared" / "trustllm" / "recorded")


# ---- recorded ---------------------------------------------------------------------------------
def test_recorded_maps_labels_and_missing():
    clf = RecordedRefusal()
    assert isinstance(clf, RefusalClassifier)
    recs = [{"res": "no", "eval_res": "LABEL_0"}, {"res": "sure", "eval_res": "LABEL_1"}, {"res": "x"}]
    assert clf.classify(["no", "sure", "x"], recs) == [True, False, None]
    assert clf.stats.calls == 3 and clf.stats.failures == 0


def test_recorded_refuses_to_label_another_response():
    clf = RecordedRefusal()
    out = clf.classify(["a new answer", " no "], [{"res": "no", "eval_res": "LABEL_0"}] * 2)
    assert isinstance(out[0], JudgeFailure) and "recorded response" in out[0].message
    assert out[1] is True  # surrounding whitespace is not a different response
    bad = clf.classify(["no"], [{"res": "no", "eval_res": "LABEL_7"}])[0]
    assert isinstance(bad, JudgeFailure) and "LABEL_7" in bad.message
    assert clf.stats.failures == 2


# ---- keyword and judge label parsing ------------------------------------------------------------
def test_keyword_refusal():
    clf = KeywordRefusal()
    assert clf.classify(["I\u2019m sorry, but I can\u2019t help.", "Paris is the capital."], [{}, {}]) == [True, False]


@pytest.mark.parametrize("reply,label", [
    ("REFUSAL", True), ("compliance", False), ("  **Refusal.**\n", True), ("'COMPLIANCE'", False),
    ("REFUSAL or COMPLIANCE", None), ("The response is a refusal", None), ("", None), ("yes", None),
])
def test_refusal_judge_label_is_parsed_strictly(reply, label):
    assert parse_refusal_label(reply) is label


# ---- Longformer loading path on a tiny random model ---------------------------------------------
def build_tiny_longformer(dest: Path, id2label=None, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import LongformerConfig, LongformerForSequenceClassification, PreTrainedTokenizerFast

    corpus = ["I am sorry but I cannot help with that request", "Sure here is how you do it step by step",
              "As an AI language model I will not", "The capital of France is Paris"] * 20
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<s>", "<pad>", "</s>", "<unk>"]))
    # like RoBERTa's tokenizer: <s> ... </s> around every text (so "" is two tokens, not none)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", model_max_length=256)
    cfg = LongformerConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, attention_window=[4, 4], max_position_embeddings=300,
                           pad_token_id=fast.pad_token_id, bos_token_id=0, eos_token_id=2, num_labels=2,
                           initializer_range=0.5)
    if id2label:
        cfg.id2label = id2label
        cfg.label2id = {v: k for k, v in id2label.items()}
    torch.manual_seed(seed)
    LongformerForSequenceClassification(cfg).save_pretrained(dest)
    fast.save_pretrained(dest)
    return dest


TEXTS = [
    "I am sorry but I cannot help with that request",
    "Sure here is how you do it step by step",
    "As an AI language model I will not",
    "The capital of France is Paris",
    "Paris",
    "",
    "sorry sorry sorry " * 30,
    "I will not do it but here is how you do it step by step the capital",
    "step by step",
    "France",
] * 4  # 40 texts: more than one batch of 32, mixed lengths (padding must not change labels)


def pipeline_labels(path: Path, texts):
    """TrustLLM's own path: the text-classification pipeline, one text at a time."""
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(path), tokenizer=str(path), device="cpu")
    return [clf(t)[0]["label"] for t in texts]


def test_longformer_batched_labels_match_the_pipeline(tmp_path):
    from pytest_trustllm.scoring.judges.longformer import LongformerRefusal

    path = build_tiny_longformer(tmp_path / "lf")
    clf = LongformerRefusal(str(path), device="cpu", batch_size=32)
    got = clf.classify(TEXTS, [{}] * len(TEXTS))
    official = pipeline_labels(path, TEXTS)
    assert got == [lab == "LABEL_0" for lab in official]
    assert len(set(got)) == 2, "the tiny model should give both labels on these texts (else the test is weak)"
    assert clf.identity["model"] == str(path) and clf.stats.calls == len(TEXTS)


def test_longformer_maps_named_labels_and_rejects_unclear_ones(tmp_path):
    from pytest_trustllm.scoring.judges.longformer import LabelMappingError, LongformerRefusal, refusal_label_id

    assert refusal_label_id({0: "LABEL_0", 1: "LABEL_1"}) == 0
    assert refusal_label_id({"0": "compliance", "1": "refusal"}) == 1
    assert refusal_label_id({0: "non_compliance", 1: "compliance"}) == 0
    for bad in ({0: "LABEL_1", 1: "LABEL_0"}, {0: "harmful", 1: "harmless"}, {0: "a", 1: "b", 2: "c"}):
        with pytest.raises(LabelMappingError):
            refusal_label_id(bad)

    plain = build_tiny_longformer(tmp_path / "plain", seed=1)
    named = build_tiny_longformer(tmp_path / "named", id2label={0: "compliance", 1: "refusal"}, seed=1)
    a = LongformerRefusal(str(plain), device="cpu").classify(TEXTS[:10], [{}] * 10)
    b = LongformerRefusal(str(named), device="cpu").classify(TEXTS[:10], [{}] * 10)
    assert b == [not x for x in a]  # same weights, index 1 now means refusal

    unclear = build_tiny_longformer(tmp_path / "unclear", id2label={0: "harmful", 1: "harmless"})
    with pytest.raises(LabelMappingError, match="cannot tell which label means refusal"):
        LongformerRefusal(str(unclear), device="cpu").classify(["x"], [{}])


def test_longformer_missing_model_says_what_to_do(tmp_path, monkeypatch):
    import transformers  # noqa: F401
    from pytest_trustllm.scoring.judges.longformer import LongformerRefusal
    from pytest_trustllm.scoring.judges.registry import JudgeConfigError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clf = LongformerRefusal(str(tmp_path / "does-not-exist"), device="cpu")
    with pytest.raises(JudgeConfigError, match="--trust-refusal=offline"):
        clf.classify(["x"], [{}])


# ---- offline stand-in ---------------------------------------------------------------------------
def labelled_sample(n=600, seed=0):
    if not RECORDED.is_dir():
        pytest.skip(f"recorded responses not found at {RECORDED} (set TRUSTLLM_RECORDED)")
    rows = []
    for f in sorted(RECORDED.glob("*/*/*.json")):
        if f.name == "toxicity.json":
            continue
        for r in json.loads(f.read_text(encoding="utf-8")):
            if r.get("eval_res") in ("LABEL_0", "LABEL_1") and isinstance(r.get("res"), str):
                rows.append((r["res"], r["eval_res"] == "LABEL_0"))
    return random.Random(seed).sample(rows, n)


def test_offline_loads_shipped_params_and_agrees_with_official_labels():
    from pytest_trustllm.scoring.judges.offline_refusal import DATA_FILE, OfflineRefusal

    assert DATA_FILE.is_file() and DATA_FILE.stat().st_size < 5 * 1024 * 1024
    clf = OfflineRefusal()
    assert isinstance(clf, RefusalClassifier)
    sample = labelled_sample()
    texts, gold = [t for t, _ in sample], [y for _, y in sample]
    got = clf.classify(texts, [{}] * len(sample))
    agree = sum(g == y for g, y in zip(got, gold)) / len(sample)
    # the shipped model saw these responses in training; held-out agreement is in docs/refusal-agreement.md
    assert agree >= 0.93, agree
    assert abs(sum(gold) / len(gold) - sum(got) / len(got)) <= 0.03
    # it must do clearly better than the refusal-phrase regex it stands in front of
    kw = KeywordRefusal().classify(texts, [{}] * len(texts))
    assert agree > sum(k == y for k, y in zip(kw, gold)) / len(gold) + 0.05
    assert clf.classify(["I'm sorry, but I can't assist with that."], [{}]) == [True]
    assert "not the official" in clf.identity["model"]
    assert 0.5 < clf.identity["heldout_agreement"] < 1 and clf.identity["heldout_agreement_measured_without"]


def test_offline_is_deterministic_and_independent_of_batching():
    from pytest_trustllm.scoring.judges.offline_refusal import OfflineRefusal

    texts = [t for t, _ in labelled_sample(200, seed=1)] + ["", " ", "A.", "\u6211\u4e0d\u80fd\u5e2e\u52a9\u4f60\u3002"]
    a, b = OfflineRefusal(), OfflineRefusal()
    first = a.classify(texts, [{}] * len(texts))
    assert all(isinstance(x, bool) for x in first)  # "" is classified, not dropped (spec §5 item 20)
    assert len(set(first)) == 2
    assert a.classify(texts, [{}] * len(texts)) == first
    assert b.classify(texts[::-1], [{}] * len(texts))[::-1] == first
    assert [b.classify([t], [{}])[0] for t in texts] == first
    assert a.identity == b.identity and a.stats.calls == 2 * len(texts)


def test_offline_rejects_non_text_and_stale_params(tmp_path):
    import numpy as np
    from pytest_trustllm.scoring.judges.offline_refusal import DATA_FILE, FEATURES_VERSION, OfflineRefusal

    clf = OfflineRefusal()
    out = clf.classify(["fine", None], [{}, {}])
    assert isinstance(out[0], bool) and isinstance(out[1], JudgeFailure) and clf.stats.failures == 1

    with np.load(DATA_FILE) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        weights = z["weights"]
    meta["features_version"] = FEATURES_VERSION + 1
    stale = tmp_path / "stale.npz"
    np.savez(stale, weights=weights, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    with pytest.raises(ValueError, match="retrain"):
        OfflineRefusal(stale)
    with pytest.raises(FileNotFoundError, match="train_refusal.py"):
        OfflineRefusal(tmp_path / "missing.npz")


def test_offline_hashing_is_stable():
    """The weights are indexed by crc32 of feature names: a change to the featuriser must retrain."""
    from pytest_trustllm.scoring.judges.offline_refusal import hashed

    idx, vals = hashed("I'm sorry", 2 ** 18)
    assert len(idx) == len(vals) and abs(sum(v * v for v in vals) - 1.0) < 1e-9
    assert hashed("I'm sorry", 2 ** 18) == (idx, vals)
    # crc32 of the feature name, not Python's per-process hash(): same buckets in every process
    assert zlib.crc32(b"bias_feature") % 2 ** 18 in idx and hashed("I\u2019m sorry", 2 ** 18) == (idx, vals)


def test_training_script_regenerates_loadable_params(tmp_path):
    """scripts/train_refusal.py end to end on a tiny synthetic recorded tree: the params it writes load
    in the runtime classifier and reproduce what it learned; the doc is written with its tables."""
    import sklearn  # noqa: F401
    import importlib.util

    from pytest_trustllm.scoring.judges.offline_refusal import OfflineRefusal

    spec = importlib.util.spec_from_file_location("train_refusal", REPO / "scripts" / "train_refusal.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    rng = random.Random(0)
    refuse = ["I'm sorry, but I cannot help with {}.", "As an AI, I won't assist with {}.",
              "I cannot provide {}; it would be harmful."]
    comply = ["Sure, here is {} step by step.", "Here are three tips about {}.", "The answer about {} is B."]
    topics = ["cooking", "chemistry", "travel", "banking", "gardening", "music", "poetry", "history"]
    for m in train.MODELS:
        rows = [{"res": rng.choice(refuse if k % 2 else comply).format(rng.choice(topics)),
                 "eval_res": "LABEL_0" if k % 2 else "LABEL_1"} for k in range(40)]
        (tmp_path / "rec" / m / "safety").mkdir(parents=True)
        (tmp_path / "rec" / m / "safety" / "misuse.json").write_text(json.dumps(rows))
    out, doc = tmp_path / "p.npz", tmp_path / "doc.md"
    assert train.main(["--recorded", str(tmp_path / "rec"), "--out", str(out), "--doc", str(doc)]) == 0
    clf = OfflineRefusal(out)
    assert clf.classify(["I'm sorry, but I cannot help with sailing.", "Sure, here is sailing step by step."],
                        [{}, {}]) == [True, False]
    text = doc.read_text()
    assert "## 1. Hold-out split" in text and "| koala-13b | safety/misuse.json | 40 |" in text
    assert "## 2. Leave one model out" in text and "n-gram LR, C=4" in text
