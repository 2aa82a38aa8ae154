"""The Perspective client against a local HTTP server: success, 429 + Retry-After, 5xx, malformed
bodies, non-retryable errors, pacing, and a key that never leaks into messages or the identity."""
import json
import time

import pytest

from pytest_trustllm.scoring.judges.base import JudgeFailure, ToxicityScorer
from pytest_trustllm.scoring.judges.perspective import PerspectiveToxicity, make_perspective
from pytest_trustllm.scoring.judges.registry import JudgeConfigError, judges_report, make_judges
from tests.servers.judge_servers import PerspectiveServer, toy_toxicity

KEY = "pk-test-SECRET-123456"


class Sleeps:
    """Records requested sleeps and sleeps only a token amount (keeps backoff tests fast)."""

    def __init__(self):
        self.calls = []

    def __call__(self, s):
        self.calls.append(round(s, 3))
        time.sleep(min(s, 0.002))


def client(srv, **kw):
    kw.setdefault("qps", 0)
    return PerspectiveToxicity(KEY, base_url=srv.url, **kw)


def test_scores_read_span_score_and_send_the_trustllm_request():
    with PerspectiveServer() as srv:
        c = client(srv)
        assert isinstance(c, ToxicityScorer)
        texts = ["you stupid idiot", "have a nice day"]
        assert c.score(texts, [{}, {}]) == [toy_toxicity(texts[0]), 0.0]
        req = srv.requests[0]
        assert req["path"] == "/v1alpha1/comments:analyze" and req["query"]["key"] == [KEY]
        assert req["body"] == {"comment": {"text": "you stupid idiot"}, "requestedAttributes": {"TOXICITY": {}}}
        assert c.stats.calls == 2 and c.stats.failures == 0


def test_429_waits_retry_after_then_succeeds():
    sleeps = Sleeps()
    with PerspectiveServer(script=[(429, {"Retry-After": "2"}, None), (503, {}, None)]) as srv:
        c = client(srv, sleep=sleeps, backoff=0.25)
        assert c.score(["idiot"], [{}]) == [1.0]
        assert len(srv.requests) == 3
        assert 2.0 in sleeps.calls  # Retry-After honoured
        assert 0.5 in sleeps.calls  # then exponential backoff for the 503 (second attempt: 0.25 * 2)
        assert c.stats.failures == 0


def test_persistent_500_is_a_judge_failure_counted_and_shown():
    """The service's fault, not the text's: the item must error (fail the run), not be dropped."""
    sleeps = Sleeps()
    with PerspectiveServer(script=[(500, {}, None)] * 3) as srv:
        c = client(srv, sleep=sleeps, max_retries=2, backoff=0.1)
        [result] = c.score(["hello"], [{}])
        assert isinstance(result, JudgeFailure) and "HTTP 500" in result.message
        assert len(srv.requests) == 3  # first try + 2 retries
        assert c.stats.failures == 1
        assert any("HTTP 500" in p and "after 3 attempts" in p for p in c.problems)


def test_malformed_body_and_client_errors_are_not_retried():
    """A malformed answer is the service's failure; a text it cannot score (400) is None, skipped as
    TrustLLM skips it."""
    with PerspectiveServer(script=[(200, {}, b"not json"), (200, {}, {"attributeScores": {}}),
                                   (400, {}, {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                                        "details": [{"errorType": "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"}]}}),
                                   ]) as srv:
        c = client(srv, sleep=Sleeps())
        assert c.score(["a", "b", "c", "d"], [{}] * 4) == [
            JudgeFailure("Perspective API: malformed response (no attributeScores.TOXICITY.spanScores[0].score.value)"),
        ] * 2 + [None, 0.0]
        assert len(srv.requests) == 4
        assert c.stats.failures == 3
        assert sum(v for k, v in c.problems.items() if k.startswith("malformed")) == 2
        assert any("LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE" in k for k in c.problems)


def test_requests_are_paced_at_the_configured_rate(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    with PerspectiveServer() as srv:
        c = client(srv, qps=20)  # one request every 50 ms
        c.score(["a"] * 6, [{}] * 6)
        sent = c.request_times  # when the client let each request go
        gaps = [b - a for a, b in zip(sent, sent[1:])]
        assert min(gaps) >= 0.049, gaps
        arrived = [r["t"] for r in srv.requests]
        assert len(arrived) == 6 and arrived[-1] - arrived[0] >= 0.2


def test_rate_is_split_across_xdist_workers(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
    c = PerspectiveToxicity(KEY, qps=1.0)
    assert c.interval == 4.0  # 1 request/s for the whole run = 1 per 4 s per worker


def test_network_error_is_a_counted_judge_failure():
    sleeps = Sleeps()
    c = PerspectiveToxicity(KEY, base_url="http://127.0.0.1:9", qps=0, max_retries=1, timeout=2, sleep=sleeps)
    [result] = c.score(["x"], [{}])
    assert isinstance(result, JudgeFailure) and "network error" in result.message
    assert c.stats.failures == 1 and any("network error" in p for p in c.problems)
    assert len(sleeps.calls) == 1  # one backoff between the two attempts, none after the last


def test_key_required_and_never_shown(monkeypatch):
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)
    with pytest.raises(JudgeConfigError, match="PERSPECTIVE_API_KEY"):
        make_perspective("", {})
    monkeypatch.setenv("PERSPECTIVE_API_KEY", KEY)
    with PerspectiveServer(script=[(403, {}, {"error": {"message": f"bad key {KEY}"}})]) as srv:
        judges = make_judges({"toxicity": f"perspective:{srv.url}", "refusal": "none", "embedder": "none"})
        [result] = judges.toxicity.score(["x"], [{}])
        assert isinstance(result, JudgeFailure) and KEY not in result.message  # a bad key fails the run
        dump = json.dumps(judges_report(judges))
        assert KEY not in dump and "HTTP 403" in dump
        assert KEY not in json.dumps(dict(judges.toxicity.identity))


def test_default_toxicity_is_perspective_only_with_a_key(monkeypatch):
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)
    assert make_judges({"refusal": "none", "embedder": "none"}).toxicity is None
    monkeypatch.setenv("PERSPECTIVE_API_KEY", KEY)
    assert make_judges({"refusal": "none", "embedder": "none"}).toxicity.name == "perspective"
