"""Secrets: with canary values in OPENAI_API_KEY and PERSPECTIVE_API_KEY, a run that hits errors,
retries and tracebacks at -vv (with --showlocals, DEBUG logs, captured output in JUnit) writes the
canaries nowhere: not the terminal, JUnit, results JSON, HTML, the caches or the log file.

The servers are hostile on purpose: the model server echoes the API key in its error messages
(as OpenAI's own "Incorrect API key provided: sk-..." does), and the Perspective key travels in
the request URL (as Perspective's API wants it)."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

import rel_helpers as H
from tests.servers.judge_servers import PerspectiveServer
from tests.servers.openai_fault import FaultConfig, FaultServer

pytestmark = pytest.mark.slow

OPENAI_CANARY = "sk-CANARY-0penai-7f3a9c2d41"
PERSPECTIVE_CANARY = "CANARY-persp-8b1e44a09c"
CANARIES = (OPENAI_CANARY, PERSPECTIVE_CANARY)

ECHO = f"Incorrect API key provided: {OPENAI_CANARY}. You can find your API key at https://example.invalid"
FAULT_MESSAGES = {"400": ECHO, "500": f"internal error for key {OPENAI_CANARY}", "429": f"rate limit for {OPENAI_CANARY}",
                  "503": f"overloaded ({OPENAI_CANARY})"}

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

HANDWRITTEN = """\
def test_handwritten_generation_error(trust_model):
    # a generation that fails for good (HTTP 400 echoing the key): TrustModelError with a traceback
    trust_model.ask("please fail 400")


def test_handwritten_ok(trust_model):
    assert trust_model.ask("please answer")
"""


def plan(prompt: str, attempt: int) -> str | None:
    if "fail 400" in prompt:
        return "400"
    h = hashlib.sha256(f"{prompt}|{attempt}".encode()).digest()[0]
    return {0: "500", 1: "429", 2: "503", 3: "400", 4: "reset"}.get(h % 8)


def test_canaries_written_nowhere(tmp_path: Path) -> None:
    rows = H.records(40)
    H.write_suite(tmp_path, rows)
    tox = [{"id": f"t{i}", "prompt": f"tox question {i}", "source": "ITC", "label": ["leetspeak"]} for i in range(6)]  # Perspective is paced at 1 call/s
    H.write_jsonl(tmp_path / "suites" / "tox.jsonl", tox)
    (tmp_path / "suites" / "tox.yaml").write_text(TOXICITY_SUITE)
    (tmp_path / "test_handwritten.py").write_text(HANDWRITTEN)
    # the Perspective stand-in fails some calls (500 after retries, a 400) and scores the rest
    script = [(500, {}, None)] * 3 + [(400, {}, {"error": {"code": 400, "message": f"bad key {PERSPECTIVE_CANARY}"}})]

    with FaultServer(FaultConfig(plan=plan, messages=FAULT_MESSAGES, retry_after="0")) as srv, \
            PerspectiveServer(script=script) as persp:
        run = H.run_pytest(
            tmp_path, "suites", "test_handwritten.py", "--trust-model=openai:m",
            f"--trust-base-url={srv.base_url}", "--trust-refusal=keyword", "--trust-toxicity=perspective",
            "--trust-rules=toolkit", "--trust-retries=1", "--trust-timeout=5",
            "--trust-cache=cache/responses.sqlite", "--trust-report=results.json", "--trust-html=report.html",
            "--junitxml=junit.xml", "-o", "junit_logging=all", "-vv", "-l", "--tb=long", "-rA",
            "--log-level=DEBUG", "--log-file=run.log", "--log-file-level=DEBUG", "--trust-progress=on",
            timeout=240,
            extra_env={"OPENAI_API_KEY": OPENAI_CANARY, "PERSPECTIVE_API_KEY": PERSPECTIVE_CANARY,
                       "PERSPECTIVE_BASE_URL": persp.url})
        persp_keys = {k for r in persp.requests for k in r["query"].get("key", [])}

    out = run.stdout + run.stderr
    # the run really went through errors, retries, tracebacks and both services
    assert srv.stats.outcomes["400"] and srv.stats.outcomes["500"] and srv.stats.outcomes["ok"]
    assert persp_keys == {PERSPECTIVE_CANARY}  # the key was really used
    assert "generation failed" in out and "HTTP 400" in out
    # the hand-written test's failure with its traceback: pytest's long format marks the failing line
    assert "TrustModelError" in out and "def test_handwritten_generation_error" in out
    assert re.search(r'^>\s+trust_model\.ask\("please fail 400"\)$', out, re.M), out[-4000:]
    assert "***" in out  # the key the server echoed was masked, not dropped silently
    results = H.load_json(tmp_path / "results.json")
    assert results["suites"] and results["exit"]["status"] != 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {"results.json", "junit.xml", "report.html", "run.log", "responses.sqlite"} <= names, names

    for canary in CANARIES:
        assert canary not in out, f"{canary} in the terminal: ...{out[out.find(canary) - 200:out.find(canary) + 50]}"
        for p in written:
            data = p.read_bytes()
            assert canary.encode() not in data, f"{canary} written to {p.relative_to(tmp_path)}"
