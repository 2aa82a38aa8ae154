"""The OpenAI backend with the real openai client, against a fault-injecting local server and a
real ``transformers serve``."""
import asyncio
import time
from collections import Counter

import pytest

import openai  # noqa: F401  required: make install brings it (a skip would hide a broken install)

from pytest_trustllm.generation.backends.openai_api import OpenAIBackend  # noqa: E402
from pytest_trustllm.generation.backends.retry import RetryPolicy  # noqa: E402
from pytest_trustllm.generation.cache import ResponseCache  # noqa: E402
from pytest_trustllm.generation.generate import GenerationStats, generate_all  # noqa: E402
from pytest_trustllm.types import GenerationRequest, Message  # noqa: E402
from tests.servers.openai_fault import FaultConfig, FaultServer  # noqa: E402

FAST = RetryPolicy(max_retries=4, base_s=0.005, cap_s=0.02)
# Timeouts here are generous (a loaded 2-core machine may take a second to answer): a test checks
# behaviour and keeps lower bounds on time only; bench/ measures speed.
GENEROUS_S = 10.0


def reqs(n, prefix="p"):
    return [GenerationRequest((Message("user", f"{prefix}{i}"),), max_new_tokens=16) for i in range(n)]


def backend(srv, **kw):
    kw.setdefault("policy", FAST)
    kw.setdefault("timeout_s", GENEROUS_S)
    return OpenAIBackend("fault-model", base_url=srv.base_url, **kw)


def on(plan):
    """A plan from {attempt: fault} applied to every prompt."""
    return lambda prompt, attempt: plan.get(attempt)


def test_every_request_is_answered_or_an_error_none_lost_or_doubled():
    cfg = FaultConfig(latency_s=0.002, seed=3, hang_s=30, retry_after="0.01", rates={
        "429": 0.08, "500": 0.05, "503": 0.05, "timeout": 0.02, "reset": 0.05, "malformed": 0.05,
        "null": 0.03, "nochoices": 0.03, "empty": 0.04})
    calls = Counter()
    with FaultServer(cfg) as srv:
        rs = reqs(300)
        # 3 s: the planned hangs time out in a few seconds, and no real answer takes that long
        out = backend(srv, concurrency=12, timeout_s=3.0).generate(rs, lambda i, r: calls.update([i]))
    assert len(out) == 300 and calls == Counter(range(300))           # each reported exactly once
    causes = Counter()
    for i, r in enumerate(out):
        if r.ok:
            assert r.text in ("", f"echo: p{i}")                       # its own answer, never another's
        else:
            assert r.text is None and "gave up after 5 attempts" in r.error
            causes[r.error.split(": ", 2)[1]] += 1
    assert sum(r.ok for r in out) >= 290
    # a prompt that got a normal 200 answer was never sent again
    assert all(n <= 1 for n in srv.stats.answered.values())
    assert sum(srv.stats.outcomes[k] for k in ("429", "500", "503", "reset", "malformed")) > 30


@pytest.mark.parametrize("fault, cause", [
    ("503", "HTTP 503: The engine is currently overloaded"),
    ("500", "HTTP 500: The server had an error"),
    ("429", "HTTP 429: Rate limit reached"),
    ("timeout", "timed out: no response within 2 s"),
    ("reset", "connection failed"),
    ("malformed", "malformed response body"),
    ("null", "message content is null"),
    ("nochoices", "no choices"),
])
def test_a_request_that_keeps_failing_is_an_error_naming_the_cause(fault, cause):
    with FaultServer(FaultConfig(plan=lambda p, a: fault, retry_after="0", hang_s=30)) as srv:
        # only the hang needs to time out; every other fault is answered, however slowly
        out = backend(srv, policy=RetryPolicy(max_retries=2, base_s=0.001, cap_s=0.002),
                      timeout_s=2.0 if fault == "timeout" else GENEROUS_S).generate(reqs(3))
    assert all(not r.ok for r in out)
    for r in out:
        assert cause in r.error and "gave up after 3 attempts" in r.error
        assert srv.base_url in r.error
    assert srv.stats.attempts == Counter({"p0": 3, "p1": 3, "p2": 3})


def test_client_errors_are_not_retried():
    with FaultServer(FaultConfig(plan=on({0: "400"}))) as srv:
        out = backend(srv).generate(reqs(2))
    assert [r.error for r in out] == [f"openai:fault-model at {srv.base_url}: HTTP 400: Invalid request: "
                                      "this prompt is rejected"] * 2
    assert srv.stats.requests == 2


def test_transient_faults_recover():
    plan = {0: "503", 1: "reset", 2: "timeout", 3: "malformed"}
    with FaultServer(FaultConfig(plan=on(plan), hang_s=30)) as srv:
        out = backend(srv, timeout_s=3.0).generate(reqs(4))
    assert [r.text for r in out] == [f"echo: p{i}" for i in range(4)]
    assert all(n == 5 for n in srv.stats.attempts.values())


def test_empty_content_is_a_valid_empty_answer_with_usage():
    with FaultServer(FaultConfig(plan=lambda p, a: "empty" if p == "p0" else None)) as srv:
        out = backend(srv).generate(reqs(2))
    assert out[0].ok and out[0].text == "" and srv.stats.attempts["p0"] == 1
    assert out[1].text == "echo: p1" and (out[1].prompt_tokens, out[1].completion_tokens) == (1, 2)


def _gaps(srv, prompt):
    times = [t for t, p, _ in srv.stats.log if p == prompt]
    return [b - a for a, b in zip(times, times[1:])]


@pytest.mark.parametrize("header, low", [
    ({"retry_after": "1"}, 1.0),
    ({"retry_after": None, "retry_after_ms": "300"}, 0.3),
    ({"retry_after": None, "retry_after_date_s": 2.0}, 0.9),  # an HTTP date has 1 s resolution
])
def test_retry_after_is_honoured(header, low):
    # backoff alone would wait ~1 ms: any longer wait comes from the header
    with FaultServer(FaultConfig(plan=on({0: "429"}), **header)) as srv:
        t0 = time.monotonic()
        out = backend(srv, policy=RetryPolicy(max_retries=2, base_s=0.001, cap_s=0.001)).generate(reqs(1))
        elapsed = time.monotonic() - t0
    assert out[0].text == "echo: p0"
    (gap,) = _gaps(srv, "p0")
    assert gap >= low and elapsed >= low  # lower bounds only: a loaded machine may wait longer


def test_without_retry_after_backoff_grows():
    with FaultServer(FaultConfig(plan=on({0: "500", 1: "500", 2: "500"}))) as srv:
        backend(srv, policy=RetryPolicy(max_retries=3, base_s=0.1, cap_s=10), rand=lambda: 1.0).generate(reqs(1))
    g = _gaps(srv, "p0")
    # rand=1.0: the full exponential waits 0.1, 0.2, 0.4 s; lower bounds only (a loaded machine adds)
    assert len(g) == 3 and g[0] >= 0.1 and g[1] >= 0.2 and g[2] >= 0.4, g


@pytest.mark.parametrize("concurrency", [1, 5, 16])
def test_concurrency_limit_is_respected_and_reached(concurrency):
    # the server holds the first requests until `concurrency` are in flight, so reaching the limit
    # does not depend on timing; exceeding it would show as a larger count
    cfg = FaultConfig(latency_s=0.01, hold_until_in_flight=concurrency)
    with FaultServer(cfg) as srv:
        out = backend(srv, concurrency=concurrency, timeout_s=60).generate(reqs(48))
    assert all(r.ok for r in out)
    assert srv.stats.max_in_flight == concurrency


def test_concurrency_holds_while_retrying():
    with FaultServer(FaultConfig(latency_s=0.01, rates={"429": 0.3, "503": 0.2}, retry_after="0.01")) as srv:
        out = backend(srv, concurrency=4, policy=RetryPolicy(max_retries=20, base_s=0.001, cap_s=0.01)).generate(reqs(60))
    assert all(r.ok for r in out) and srv.stats.max_in_flight <= 4


def test_api_key_never_appears_in_errors(monkeypatch):
    key = "sk-live-THIS-IS-SECRET-42"
    monkeypatch.setenv("TEST_TRUST_KEY", key)
    cfg = FaultConfig(plan=on({0: "400"}), messages={"400": f"Incorrect API key provided: {key}"})
    with FaultServer(cfg) as srv:
        b = backend(srv, api_key_env="TEST_TRUST_KEY")
        out = b.generate(reqs(1))
    assert key not in out[0].error and "Incorrect API key provided: ***" in out[0].error
    assert key not in repr(b) and key not in str(b.identity) and key not in str(b.stats_json())


def test_parameters_sent_to_the_server():
    seen = []
    cfg = FaultConfig(reply=lambda req: seen.append(req) or "ok")
    with FaultServer(cfg) as srv:
        b = backend(srv, max_new_tokens_cap=8)
        b.generate([GenerationRequest((Message("system", "be brief"), Message("user", "hi")), temperature=0.7,
                                      max_new_tokens=64, seed=11),
                    GenerationRequest((Message("user", "hey"),), max_new_tokens=4)])
    by_prompt = {r["messages"][-1]["content"]: r for r in seen}
    assert by_prompt["hi"]["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert (by_prompt["hi"]["max_tokens"], by_prompt["hi"]["temperature"], by_prompt["hi"]["seed"]) == (8, 0.7, 11)
    assert by_prompt["hey"]["max_tokens"] == 4 and "seed" not in by_prompt["hey"]
    official = OpenAIBackend.__new__(OpenAIBackend)
    official.__dict__.update(b.__dict__, official=True)
    assert "max_completion_tokens" in official._params(GenerationRequest((Message("user", "x"),)))


def test_generate_works_inside_a_running_event_loop():
    with FaultServer() as srv:
        b = backend(srv)

        async def inside():
            return b.generate(reqs(3))

        out = asyncio.run(inside())
    assert [r.text for r in out] == ["echo: p0", "echo: p1", "echo: p2"]


def test_resume_regenerates_only_what_failed(tmp_path):
    """First run: half the prompts fail for good; rerun against a healthy server asks only those."""
    cache = ResponseCache(tmp_path / "c.sqlite")
    rs = reqs(20)
    failing = {f"p{i}" for i in range(0, 20, 2)}
    with FaultServer(FaultConfig(plan=lambda p, a: "400" if p in failing else None)) as srv:
        s1 = GenerationStats()
        first = generate_all(backend(srv), rs, cache, s1)
    assert (s1.generated, s1.errors) == (10, 10)
    assert all((not r.ok) == (f"p{i}" in failing) for i, r in enumerate(first))
    with FaultServer(port=srv.port) as srv2:   # the same URL: the same model identity
        s2 = GenerationStats()
        second = generate_all(backend(srv2), rs, cache, s2)
    assert set(srv2.stats.attempts) == failing
    assert (s2.generated, s2.cached, s2.errors) == (10, 10, 0)
    assert [r.text for r in second] == [f"echo: p{i}" for i in range(20)]


# -- a real server ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served_smollm2(tmp_path_factory):
    from tests.servers.serve import serving_available, transformers_serve

    why = serving_available()
    if why:
        pytest.skip(why)
    import gguf  # noqa: F401
    from tests.servers.models import smollm2_folder

    folder = smollm2_folder(tmp_path_factory)
    with transformers_serve(folder) as url:
        yield url, str(folder)


@pytest.mark.slow
def test_real_transformers_serve(served_smollm2):
    url, name = served_smollm2
    b = OpenAIBackend(name, base_url=url, concurrency=2, timeout_s=120)
    out = b.generate([GenerationRequest((Message("user", "What is the capital of France?"),), max_new_tokens=12),
                      GenerationRequest((Message("user", "Say hello."),), max_new_tokens=6)])
    assert out[0].ok and "Paris" in out[0].text, out[0]
    assert out[1].ok and 0 < out[1].completion_tokens <= 6 and out[0].prompt_tokens > 5
    assert b.stats_json()["served_models"] == [name]
    # the server's own refusal of a wrong model name is reported, with its message, without retries
    wrong = OpenAIBackend("not-the-pinned-model", base_url=url, timeout_s=60).generate(
        [GenerationRequest((Message("user", "hi"),), max_new_tokens=4)])[0]
    assert not wrong.ok and "HTTP 400" in wrong.error and "not-the-pinned-model" in wrong.error
