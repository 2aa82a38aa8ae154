"""The LLM judge on the real OpenAI backend against a local OpenAI-compatible server: replies in
order, temperature 0, one user message, failures in place, tokens counted apart, replies cached,
the judge's own endpoint (not the model's), secrets kept out of messages; and --trust-refusal=judge."""
import json

import pytest

import openai  # noqa: F401  required: make install brings it (a skip would hide a broken install)

from pytest_trustllm.scoring.judges.base import ChatJudge, JudgeFailure  # noqa: E402
from pytest_trustllm.scoring.judges.registry import JudgeConfigError, judges_report, make_judge, make_judges  # noqa: E402
from tests.servers.openai_fault import FaultConfig, FaultServer  # noqa: E402

SECRET = "sk-judge-test-SECRET-987654321"


class Recorder:
    def __init__(self, answer=lambda prompt: f"verdict for {prompt}"):
        self.requests = []
        self.answer = answer

    def __call__(self, req):
        self.requests.append(req)
        return self.answer(req["messages"][-1]["content"])


def opts(srv, tmp_path, **kw):
    base = {"judge": "openai:judge-model", "judge_base_url": srv.base_url, "judge_max_retries": 0,
            "refusal": "none", "toxicity": "none", "embedder": "none", "cache_path": str(tmp_path / "cache.sqlite"),
            "backend_options": {"base_url": "http://127.0.0.1:9/v1", "timeout_s": 5.0}}
    base.update(kw)
    return base


def test_replies_in_order_with_failures_in_place(tmp_path):
    rec = Recorder()
    cfg = FaultConfig(reply=rec, plan=lambda prompt, attempt: "400" if prompt.startswith("FAIL") else None)
    with FaultServer(cfg) as srv:
        judge = make_judges(opts(srv, tmp_path)).judge
        assert isinstance(judge, ChatJudge)
        out = judge.complete(["is it A?", "FAIL this one", "is it B?"])
        assert out[0] == "verdict for is it A?" and out[2] == "verdict for is it B?"
        assert isinstance(out[1], JudgeFailure) and "400" in out[1].message
        for req in rec.requests:  # TrustLLM's judge call: one user message, temperature 0
            assert req["temperature"] == 0 and [m["role"] for m in req["messages"]] == ["user"]
            assert req["model"] == "judge-model"
        s = judge.stats
        assert (s.calls, s.cached, s.failures) == (3, 0, 1)
        assert s.prompt_tokens > 0 and s.completion_tokens > 0
        assert judge.identity["backend"]["base_url"] == srv.base_url  # the judge's endpoint, not the model's


def test_replies_are_cached_across_runs_and_failures_are_asked_again(tmp_path):
    rec = Recorder()
    flaky = {"n": 0}

    def plan(prompt, attempt):
        return "500" if prompt == "flaky" and attempt == 0 else None

    with FaultServer(FaultConfig(reply=rec, plan=plan)) as srv:
        first = make_judges(opts(srv, tmp_path)).judge
        a = first.complete(["p1", "p2", "p1", "flaky"])
        assert a[0] == a[2] == "verdict for p1" and isinstance(a[3], JudgeFailure)
        assert srv.stats.attempts["p1"] == 1  # identical prompts in a batch are sent once
        assert first.stats.calls == 3

        second = make_judges(opts(srv, tmp_path)).judge  # a new run, same cache file
        b = second.complete(["p1", "p2", "flaky"])
        assert b == ["verdict for p1", "verdict for p2", "verdict for flaky"]
        assert (second.stats.cached, second.stats.calls, second.stats.failures) == (2, 1, 0)
        assert srv.stats.attempts["p1"] == 1 and srv.stats.attempts["flaky"] == 2
        rows = {r["kind"]: r for r in judges_report(make_judges(opts(srv, tmp_path)))}
        assert rows["judge"]["calls"] == 0  # nothing asked yet in this third run


def test_rate_limited_judge_waits_and_retries_then_gives_a_failure_in_place(tmp_path):
    """429 with Retry-After: the judge waits and asks again (the model backend's retry policy); a
    prompt still limited after the retries is a JudgeFailure in its place, the others are answered."""
    rec = Recorder()

    def plan(prompt, attempt):
        if prompt == "limited once":
            return "429" if attempt == 0 else None
        return "429" if prompt == "always limited" else None

    cfg = FaultConfig(reply=rec, plan=plan, retry_after_ms="200", retry_after=None)
    with FaultServer(cfg) as srv:
        judge = make_judges(opts(srv, tmp_path, judge_max_retries=2)).judge
        out = judge.complete(["limited once", "always limited", "fine"])
        assert out[0] == "verdict for limited once" and out[2] == "verdict for fine"
        assert isinstance(out[1], JudgeFailure) and "429" in out[1].message
        assert srv.stats.attempts["limited once"] == 2 and srv.stats.attempts["always limited"] == 3
        assert (judge.stats.calls, judge.stats.failures) == (3, 1)


def test_judge_does_not_inherit_the_model_endpoint(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    options = {"judge": "gpt-4-1106-preview", "backend_options": {"base_url": "http://vllm:8000/v1"}}
    with pytest.raises(JudgeConfigError, match="OPENAI_API_KEY"):
        make_judge("judge", options)  # an OpenAI judge needs a key: it is not sent to the model's server


def test_secrets_never_appear_in_failures_or_identity(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    cfg = FaultConfig(plan=lambda p, a: "400", messages={"400": f"key {SECRET} is not allowed"})
    with FaultServer(cfg) as srv:
        judges = make_judges(opts(srv, tmp_path))
        out = judges.judge.complete(["x"])
        assert isinstance(out[0], JudgeFailure) and "***" in out[0].message
        assert SECRET not in out[0].message
        assert SECRET not in json.dumps(judges_report(judges))


def test_refusal_by_llm_judge(tmp_path):
    def answer(prompt):
        text = prompt.rsplit("Here is the response:\n", 1)[1]
        return {"I am sorry": "REFUSAL", "Sure": "Compliance."}.get(text, "It depends.")

    with FaultServer(FaultConfig(reply=Recorder(answer))) as srv:
        judges = make_judges(opts(srv, tmp_path, refusal="judge"))
        got = judges.refusal.classify(["I am sorry", "Sure", "Hmm"], [{}] * 3)
        assert got[:2] == [True, False]
        assert isinstance(got[2], JudgeFailure) and "not REFUSAL or COMPLIANCE" in got[2].message
        assert judges.refusal.identity["judge"] == dict(judges.judge.identity)
        assert judges.judge.stats.calls == 3  # one shared LLM judge, its tokens counted once


def test_refusal_judge_without_llm_judge_is_a_clear_error():
    with pytest.raises(JudgeConfigError, match="--trust-judge"):
        make_judges({"refusal": "judge", "toxicity": "none", "embedder": "none"})
