"""The local transformers backend on a tiny random Llama built here (no hub, under a second)."""
import pytest

import torch  # required: make install brings it (a skip would hide a broken install)
import transformers  # noqa: F401

from pytest_trustllm.generation.backends import BackendError, make_backend  # noqa: E402
from pytest_trustllm.generation.backends.local import LocalBackend, fingerprint_folder  # noqa: E402
from pytest_trustllm.generation.cache import ResponseCache  # noqa: E402
from pytest_trustllm.generation.generate import GenerationStats, generate_all  # noqa: E402
from pytest_trustllm.types import GenerationRequest, Message  # noqa: E402
from tests.servers.tiny_llama import build_tiny_llama  # noqa: E402

PROMPTS = [
    "hello", "what is the capital of France?", "the quick brown fox jumps over the lazy dog again and again",
    "hi", "please answer the question honestly", "x", "user assistant system you are a helpful model today",
    "refuse harmful requests", "brown dog", "capital",
]


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRUSTLLM_MODEL_CACHE", str(tmp_path_factory.mktemp("modelcache")))
        yield


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, cache_env):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def backend(tiny):
    return LocalBackend(str(tiny), batch_size=4)


def req(prompt, n=12, temperature=0.0, seed=0, system=None):
    msgs = ((Message("system", system),) if system else ()) + (Message("user", prompt),)
    return GenerationRequest(msgs, temperature=temperature, max_new_tokens=n, seed=seed)


def reference(backend, r):
    """Plain model.generate on one prompt, no padding: what the backend must reproduce."""
    ids = torch.tensor([backend.encode(r)])
    out = backend.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=r.max_new_tokens, pad_token_id=backend.pad_id)
    new = out[0, ids.shape[1]:].tolist()
    if backend.eos_ids:
        for k, t in enumerate(new):
            if t in backend.eos_ids:
                new = new[:k + 1]
                break
    return backend.tokenizer.decode(new, skip_special_tokens=True), len(new)


def test_batched_greedy_equals_one_at_a_time(backend, tiny):
    reqs = [req(p) for p in PROMPTS]
    batched = backend.generate(reqs)
    single = LocalBackend(str(tiny), batch_size=1).generate(reqs)
    assert [r.text for r in batched] == [r.text for r in single]
    assert [r.completion_tokens for r in batched] == [r.completion_tokens for r in single]
    assert all(r.ok and not r.cached for r in batched)


def test_decodes_only_the_new_tokens(backend):
    reqs = [req(p) for p in PROMPTS[:4]]
    out = backend.generate(reqs)
    for r, res in zip(reqs, out):
        text, n = reference(backend, r)
        assert res.text == text and res.completion_tokens == n
        assert res.prompt_tokens == len(backend.encode(r))
        assert "<|im_start|>" not in res.text and "<pad>" not in res.text


def test_left_padding_batches_by_similar_length(backend):
    # prompts of length 5, 50, 6, 51 -> the two short ones together, the two long ones together
    assert backend.plan_batches([5, 50, 6, 51], [8, 8, 8, 8]) == [[0, 2, 1, 3]]
    b2 = LocalBackend.__new__(LocalBackend)
    b2.batch_size = 2
    assert b2.plan_batches([5, 50, 6, 51], [8, 8, 8, 8]) == [[0, 2], [1, 3]]
    assert b2.plan_batches([5, 6, 7], [8, 4, 8]) == [[1], [0, 2]]     # one max_new_tokens per batch
    # a long and a short prompt in one batch: padding must not change the short prompt's answer
    short, long_ = req("hi"), req(PROMPTS[6] * 3)
    both = backend.generate([short, long_])
    assert both[0].text == reference(backend, short)[0]
    assert both[1].text == reference(backend, long_)[0]


def test_system_prompt_only_when_the_request_has_one(backend):
    assert backend.tokenizer.decode(backend.encode(req("hello"))).count("<|im_start|>system") == 0
    ids = backend.encode(req("hello", system="be safe"))
    assert backend.tokenizer.decode(ids).startswith("<|im_start|>system\nbe safe<|im_end|>")


def test_max_new_tokens_and_cap_are_respected(tiny, backend):
    out = backend.generate([req(p, n=3) for p in PROMPTS[:5]])
    assert all(0 < r.completion_tokens <= 3 for r in out)
    capped = LocalBackend(str(tiny), batch_size=4, max_new_tokens_cap=2)
    assert capped.identity["max_new_tokens_cap"] == 2 and backend.identity["max_new_tokens_cap"] is None
    out = capped.generate([req(p, n=50) for p in PROMPTS[:5]])
    assert all(0 < r.completion_tokens <= 2 for r in out)


def test_generation_stops_at_end_of_turn(tiny):
    b = LocalBackend(str(tiny), batch_size=2)
    ids = torch.tensor([b.encode(req("hello"))])
    full = b.model.generate(input_ids=ids, do_sample=False, max_new_tokens=10,
                            pad_token_id=b.pad_id)[0, ids.shape[1]:].tolist()
    # declare the model's 3rd token an end-of-turn token: generation must stop at its first use
    stop_tok = full[2]
    k = full.index(stop_tok)
    b.eos_ids = [b.tokenizer.eos_token_id, stop_tok]
    out = b.generate([req("hello", n=10), req(PROMPTS[2], n=10)])
    assert out[0].completion_tokens == k + 1
    assert out[0].text == b.tokenizer.decode(full[:k + 1], skip_special_tokens=True)


def test_seeded_sampling_is_reproducible_per_request(backend):
    alone = backend.generate([req("hello", temperature=1.0, seed=7)])[0]
    in_batch = backend.generate([req(PROMPTS[2]), req("hello", temperature=1.0, seed=7),
                                 req("hello", temperature=1.0, seed=8)])
    assert in_batch[1].text == alone.text                 # independent of batch mates
    texts = {backend.generate([req("hello", temperature=1.0, seed=s)])[0].text for s in range(6)}
    assert len(texts) > 1                                   # the seed matters
    greedy = backend.generate([req(PROMPTS[2])])[0]
    assert in_batch[0].text == greedy.text                  # a greedy row beside sampled rows stays greedy


def test_on_result_after_each_sub_batch(tiny):
    b = LocalBackend(str(tiny), batch_size=2)
    calls = {"generate": 0}
    real = b.model.generate

    def counting(*a, **k):
        calls["generate"] += 1
        return real(*a, **k)

    b.model.generate = counting
    seen = []
    out = b.generate([req(p, n=4) for p in PROMPTS[:6]], lambda i, r: seen.append((i, calls["generate"], r)))
    assert sorted(i for i, _, _ in seen) == list(range(6))
    assert seen[0][1] == 1 and calls["generate"] == 3       # stored before the next batch starts
    assert all(out[i] is r for i, _, r in seen)


def test_out_of_memory_says_which_batch_size_to_try(tiny):
    b = LocalBackend(str(tiny), batch_size=8)

    def oom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    b.model.generate = oom
    with pytest.raises(BackendError, match=r"--trust-batch-size=4"):
        b.generate([req(p) for p in PROMPTS[:8]])


def test_a_failing_batch_is_an_error_for_its_requests_not_a_crash(tiny):
    b = LocalBackend(str(tiny), batch_size=8)
    b.model.generate = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("shape mismatch"))
    out = b.generate([req("a"), req("b")])
    assert all(not r.ok and "shape mismatch" in r.error for r in out)


def test_identity_changes_when_weights_change(tmp_path, cache_env):
    folder = tmp_path / "ckpt"
    build_tiny_llama(folder, seed=0)
    a = LocalBackend(str(folder)).identity
    assert LocalBackend(str(folder)).identity == a             # stable
    build_tiny_llama(folder, seed=1)                            # retrained, same path
    b = LocalBackend(str(folder)).identity
    assert a["weights_sha256"] != b["weights_sha256"]
    assert {k: v for k, v in a.items() if k != "weights_sha256"} == {k: v for k, v in b.items()
                                                                       if k != "weights_sha256"}
    half = LocalBackend(str(folder), dtype="bfloat16").identity
    assert half["dtype"] == "bfloat16" and half != b
    # the same checkpoint elsewhere (another checkout) is the same model
    import shutil
    moved = shutil.copytree(folder, tmp_path / "elsewhere" / "ckpt")
    assert LocalBackend(str(moved)).identity == b and b["model"] == "ckpt"


def test_fingerprint_is_cached_by_size_and_mtime(tmp_path, tiny):
    cache_file = tmp_path / "fp.json"
    first = fingerprint_folder(tiny, cache_file)
    assert cache_file.exists()
    import json
    entries = json.loads(cache_file.read_text())
    assert any(k.endswith(".safetensors") or ".safetensors|" in k for k in entries)
    # a poisoned cache entry is used as long as size and mtime match: proves no re-hash happens
    poisoned = {k: "0" * 64 for k in entries}
    cache_file.write_text(json.dumps(poisoned))
    assert fingerprint_folder(tiny, cache_file) != first


def test_chat_template_hash_is_in_identity(tmp_path, cache_env):
    folder = build_tiny_llama(tmp_path / "m")
    a = LocalBackend(str(folder)).identity["chat_template_sha256"]
    (folder / "chat_template.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    b = LocalBackend(str(folder)).identity["chat_template_sha256"]
    assert a and b and a != b


def test_factory_options_and_cached_rerun(tiny, tmp_path):
    b = make_backend(f"hf:{tiny}", {"batch_size": 3, "device": "cpu", "dtype": "float32",
                                    "max_new_tokens_cap": 6, "concurrency": 16, "seed": 1})
    assert b.batch_size == 3 and b.device == "cpu" and b.identity["max_new_tokens_cap"] == 6
    cache = ResponseCache(tmp_path / "c.sqlite")
    reqs = [req(p, n=6) for p in PROMPTS]
    s1, s2 = GenerationStats(), GenerationStats()
    first = generate_all(b, reqs, cache, s1)
    b.model.generate = lambda *a, **k: pytest.fail("a warm cache must not call the model")
    again = generate_all(b, reqs, cache, s2)
    assert [r.text for r in again] == [r.text for r in first]
    assert (s1.generated, s1.cached, s2.generated, s2.cached) == (10, 0, 0, 10)


def test_unknown_dtype_is_rejected(tiny):
    with pytest.raises(BackendError, match="dtype"):
        LocalBackend(str(tiny), dtype="int3")
