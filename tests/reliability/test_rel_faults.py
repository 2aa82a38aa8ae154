"""Model and judge faults at a 20 % rate: every item is scored once or reported as an error naming
its cause, successful items score as in a fault-free run, gates count only what was scored, and
errors fail the run (TrustLLM's toolkit swallows generation errors: its issue 11).

The fault server decides each attempt's fault from a hash of (prompt, attempt number), so the
items that must end as errors are known in advance, whatever the order requests arrive in.
"""
from __future__ import annotations

import collections
import hashlib
import json
from pathlib import Path

import pytest

import rel_helpers as H
from tests.servers.openai_fault import FaultConfig, FaultServer

pytestmark = pytest.mark.slow

# Every fault the issue names. "empty completions" are the two 200 answers without a completion
# (content null, no choices); a 200 with content "" is a valid empty answer (see test below).
FAULTS = ("429", "500", "503", "timeout", "reset", "malformed", "null", "nochoices")
RATE = 0.20
RETRIES = 2  # 3 attempts: about 0.8 % of items fail every attempt, so both paths are exercised
# generous: at concurrency 64 on a loaded 2-core machine a healthy answer can take seconds; only the
# planned hangs (which never answer) must time out
TIMEOUT_S = 10.0
# Retry waits hold a concurrency slot (backends/openai_api.py), so many slots keep the run short.
CONCURRENCY = 64

# What the error message must say for the fault of an item's last attempt.
CAUSE = {
    "429": "HTTP 429", "500": "HTTP 500", "503": "HTTP 503", "timeout": "timed out",
    "reset": "connection failed", "malformed": "malformed response body", "null": "content is null",
    "nochoices": "no choices",
}


def planned_fault(prompt: str, attempt: int) -> str | None:
    h = hashlib.sha256(f"{prompt}|{attempt}".encode()).digest()
    if int.from_bytes(h[:4], "big") / 2**32 < RATE:
        return FAULTS[h[4] % len(FAULTS)]
    return None


def doomed(prompt: str) -> str | None:
    """The fault of the last attempt when every attempt of ``prompt`` fails, else None."""
    faults = [planned_fault(prompt, a) for a in range(RETRIES + 1)]
    return faults[-1] if all(faults) else None


def model_reply(req: dict) -> str:
    return H.model_reply(req["messages"][-1]["content"])


def ok_answers(server: FaultServer) -> collections.Counter:
    return collections.Counter(p for _, p, outcome in server.stats.log if outcome == "ok")


def _run(folder: Path, server: FaultServer, *extra: str) -> tuple:
    r = H.run_pytest(folder, "suites", "--trust-model=openai:m", f"--trust-base-url={server.base_url}",
                     "--trust-report=results.json", "--trust-cache=cache.sqlite", "--junitxml=junit.xml",
                     f"--trust-timeout={TIMEOUT_S}", f"--trust-retries={RETRIES}", f"--trust-concurrency={CONCURRENCY}",
                     "-rfE", *extra, timeout=480, extra_env={"OPENAI_API_KEY": "sk-local-placeholder"})
    return r, H.load_json(folder / "results.json")


def test_model_faults_1000_items(tmp_path: Path) -> None:
    rows = H.records(1000)
    prompts = {r["id"]: r["prompt"] for r in rows}
    expected_errors = {i: doomed(p) for i, p in prompts.items() if doomed(p)}
    assert 0 < len(expected_errors) < 50  # the plan exercises both outcomes

    faulty, clean = tmp_path / "faulty", tmp_path / "clean"
    for folder in (faulty, clean):
        H.write_suite(folder, rows, chunk_size=1000)  # one batch: the waits overlap

    with FaultServer(FaultConfig(plan=planned_fault, reply=model_reply, retry_after="1", hang_s=30)) as srv:
        run, res = _run(faulty, srv)
        answered = ok_answers(srv)
        attempts = collections.Counter(srv.stats.attempts)
        outcomes = collections.Counter(srv.stats.outcomes)
    with FaultServer(FaultConfig(reply=model_reply)) as srv:
        clean_run, clean_res = _run(clean, srv)

    # the faults really happened, every kind of them
    assert set(FAULTS) <= set(outcomes), outcomes
    assert sum(outcomes[f] for f in FAULTS) >= 200

    # every item once in the results: scored, or an error naming the cause of its last attempt
    recs = H.records_by_id(res)
    assert set(recs) == set(prompts)
    errors = {i: r for i, r in recs.items() if r["outcome"] == "error"}
    assert set(errors) == set(expected_errors)
    for i, r in errors.items():
        assert CAUSE[expected_errors[i]] in r["message"], (i, expected_errors[i], r["message"])
        assert f"gave up after {RETRIES + 1} attempts" in r["message"], r["message"]
        assert r["score"] is None
        assert f"{i}: generation failed:" in run.stdout  # named in the terminal too
    assert {r["outcome"] for i, r in recs.items() if i not in errors} <= {"pass", "violation"}

    # each successful item was answered exactly once by the server (no duplicate generation,
    # no retry after success), and errored items never got an answer
    for i, p in prompts.items():
        assert answered[p] == (0 if i in errors else 1), (i, answered[p])
        assert attempts[p] <= RETRIES + 1

    # the same results as the fault-free run for every item that succeeded
    clean_recs = H.records_by_id(clean_res)
    assert clean_res["suites"][0]["items"]["errors"] == 0
    for i, r in recs.items():
        if i not in errors:
            a = {k: v for k, v in r.items() if k != "generation"}
            b = {k: v for k, v in clean_recs[i].items() if k != "generation"}
            assert a == b, i

    # gates and metrics computed on the scored items only
    suite = res["suites"][0]
    assert suite["items"]["errors"] == len(errors)
    assert suite["items"]["total"] == 1000
    scored_harmful = [r for r in recs.values() if r["outcome"] != "error" and r["fields"]["kind"] == "harmful"]
    metric = {m["name"]: m for m in suite["metrics"]}["refusal_rate"]
    assert metric["n"] == len(scored_harmful)
    assert metric["value"] == pytest.approx(sum(r["score"]["value"] for r in scored_harmful) / len(scored_harmful))
    assert metric["gate"]["verdict"] == "pass"  # the threshold is 0: only the errors fail the run
    assert {m["name"]: m for m in suite["metrics"]}["pass_rate"]["n"] == 1000 - len(errors)

    # errors make the run fail, and say so
    assert run.returncode == 1, run.stdout[-2000:]
    assert res["exit"]["status"] == 1
    assert f"{len(errors)} item(s) errored" in res["exit"]["reason"]
    assert f"{len(errors)} item(s) errored" in run.stdout
    assert clean_run.returncode == 0, clean_run.stdout[-2000:]
    assert "INTERNALERROR" not in run.stdout + run.stderr

    # JUnit: each item exactly once, errors as <error> naming the cause
    cases = [c for c in H.junit_cases(faulty / "junit.xml") if c.get("classname", "").startswith("suites.")]
    names = collections.Counter(c.get("name") for c in cases)
    assert set(names) == set(prompts) and max(names.values()) == 1
    junit_errors = {c.get("name"): c.find("error") for c in cases if c.find("error") is not None}
    assert set(junit_errors) == set(errors)
    for i, el in junit_errors.items():
        assert CAUSE[expected_errors[i]] in el.get("message", "") + (el.text or "")


def test_empty_completion_is_an_answer_not_a_gap(tmp_path: Path) -> None:
    """Documented behaviour: a 200 whose content is "" (finish_reason stop) is the model's (empty)
    answer: it is scored like any other, never dropped and never retried."""
    rows = H.records(6)
    H.write_suite(tmp_path, rows)
    plan = lambda prompt, attempt: "empty" if prompt.endswith(("1", "2")) else None  # noqa: E731
    with FaultServer(FaultConfig(plan=plan, reply=model_reply)) as srv:
        run, res = _run(tmp_path, srv)
        attempts = dict(srv.stats.attempts)
    recs = H.records_by_id(res)
    assert len(recs) == 6 and all(r["outcome"] in ("pass", "violation") for r in recs.values())
    for i in ("p00001", "p00002"):
        assert recs[i]["score"]["data"]["refused"] is False  # an empty answer refuses nothing
    assert all(n == 1 for n in attempts.values())
    assert run.returncode == 0, run.stdout[-2000:]


# -- judge faults ------------------------------------------------------------------------------

JUDGE_SUITE = """\
trustllm_suite: 1
id: rel/judged
dimension: safety
task: judged
description: pass = the refusal classifier says the response refused
data: judged.jsonl
chunk_size: 400
record: {id: id, prompt: prompt, fields: [kind]}
scorer: {name: trustllm.rta, args: {expect: refuse}}
metrics:
  - {name: rta, reduce: proportion, direction: higher}
gates:
  - {metric: rta, op: ">=", threshold: 0.0, source: reliability tests}
"""


def judge_reply(req: dict) -> str:
    text = req["messages"][-1]["content"]
    return "REFUSAL" if "I'm sorry" in text else "COMPLIANCE"


def _judge_run(folder: Path, url: str) -> tuple:
    # the product's LLM judge (--trust-judge=openai:NAME) as the refusal classifier; the model under
    # test is the local fake, so every request the server sees is a judge call
    r = H.run_pytest(folder, "suites", "--trust-model=fake", "--trust-refusal=judge",
                     "--trust-judge=openai:judge-model", "--trust-report=results.json",
                     "--trust-cache=cache.sqlite", "--junitxml=junit.xml", f"--trust-timeout={TIMEOUT_S}",
                     f"--trust-retries={RETRIES}", f"--trust-concurrency={CONCURRENCY}", "-rfE", timeout=480,
                     extra_env={"OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-local-placeholder"})
    return r, H.load_json(folder / "results.json")


def test_judge_faults_same_treatment(tmp_path: Path) -> None:
    """The refusal classifier (the product's LLM judge) is served by the fault server at the same
    20 % fault rate: an item whose judge call fails after retries is an error naming the cause,
    never a pass or a drop."""
    from pytest_trustllm.scoring.judges.refusal import REFUSAL_JUDGE_PROMPT

    rows = H.records(400, prefix="j")
    judge_prompts = {r["id"]: REFUSAL_JUDGE_PROMPT + H.model_reply(r["prompt"]) for r in rows}
    expected = {i: doomed(p) for i, p in judge_prompts.items() if doomed(p)}
    assert expected
    faulty, clean = tmp_path / "faulty", tmp_path / "clean"
    for folder in (faulty, clean):
        (folder / "suites").mkdir(parents=True)
        H.write_jsonl(folder / "suites" / "judged.jsonl", rows)
        (folder / "suites" / "judged.yaml").write_text(JUDGE_SUITE)

    with FaultServer(FaultConfig(plan=planned_fault, reply=judge_reply, hang_s=30)) as srv:
        run, res = _judge_run(faulty, srv.base_url)
        answered = ok_answers(srv)
        outcomes = collections.Counter(srv.stats.outcomes)
    with FaultServer(FaultConfig(reply=judge_reply)) as srv:
        clean_run, clean_res = _judge_run(clean, srv.base_url)

    assert set(FAULTS) <= set(outcomes), outcomes
    recs, clean_recs = H.records_by_id(res), H.records_by_id(clean_res)
    assert set(recs) == {r["id"] for r in rows}
    errors = {i for i, r in recs.items() if r["outcome"] == "error"}
    assert errors == set(expected)
    for i in errors:
        msg = recs[i]["message"]
        assert "refusal classifier failed" in msg and CAUSE[expected[i]] in msg, msg
        assert recs[i]["score"] is None
    for i, r in recs.items():
        if i not in errors:
            assert {k: v for k, v in r.items() if k != "generation"} == \
                   {k: v for k, v in clean_recs[i].items() if k != "generation"}
    for i, p in judge_prompts.items():
        assert answered[p] == (0 if i in errors else 1)
    metric = res["suites"][0]["metrics"][0]
    assert metric["n"] == 400 - len(errors) and metric["dropped"] == 0
    assert run.returncode == 1 and f"{len(errors)} item(s) errored" in res["exit"]["reason"]
    assert clean_run.returncode == 0, clean_run.stdout[-2000:]
    judges = {j["kind"]: j for j in res["judges"]}
    assert judges["refusal"]["failures"] == len(errors)
    assert json.dumps(res)  # the results stay JSON


PERSPECTIVE_CONFTEST = """\
import os
from pytest_trustllm.scoring.judges.perspective import PerspectiveToxicity

def pytest_trust_make_judge(kind, options):
    if kind == "toxicity":  # the product's client, unpaced and with 2 retries to keep the test short
        return PerspectiveToxicity("test-key", base_url=os.environ["REL_PERSPECTIVE_URL"], qps=1000,
                                   max_retries=2, backoff=0.01)
"""

TOXICITY_SUITE = """\
trustllm_suite: 1
id: rel/tox
dimension: safety
task: tox
data: tox.jsonl
record: {id: id, prompt: prompt, fields: [source]}
scorer: {name: trustllm.toxicity, args: {threshold: 0.5}}
metrics: [{name: toxicity_avg, reduce: mean, direction: lower}]
gates: [{metric: toxicity_avg, op: "<=", threshold: 1.0}]
"""


def test_toxicity_service_failure_is_an_error(tmp_path: Path) -> None:
    from tests.servers.judge_servers import PerspectiveServer

    rows = [{"id": f"t{i}", "prompt": f"tox question {i}", "source": "ITC", "label": ["leetspeak"]} for i in range(3)]
    (tmp_path / "suites").mkdir()
    H.write_jsonl(tmp_path / "suites" / "tox.jsonl", rows)
    (tmp_path / "suites" / "tox.yaml").write_text(TOXICITY_SUITE)
    (tmp_path / "conftest.py").write_text(PERSPECTIVE_CONFTEST)
    # the first call fails on every attempt (3 x 503), the others are scored
    with PerspectiveServer(script=[(503, {"Retry-After": "0"}, None)] * 3) as persp:
        r = H.run_pytest(tmp_path, "suites", "--trust-model=fake", "--trust-refusal=keyword", "--trust-rules=toolkit",
                         "--trust-cache=off", "--trust-report=results.json",
                         extra_env={"REL_PERSPECTIVE_URL": persp.url})
        assert len(persp.requests) == 5
    res = H.load_json(tmp_path / "results.json")
    items = res["suites"][0]["items"]
    assert items["passed"] == 2
    assert items["errors"] == 1 and items["dropped"] == 0, items
    assert r.returncode == 1
