"""A pytest plugin (``-p rel_fakes``) for the reliability tests' subprocess sessions.

- ``--trust-model=fake`` / ``fake:DELAY_S``: a deterministic, *cacheable* fake model (unlike replay)
  that answers ``rel_helpers.model_reply(prompt)``. When ``REL_CALL_LOG`` names a file, every call
  appends one line ``<pid>\\t<prompt>`` to it (O_APPEND, one write per line), so a test can count
  calls per prompt across processes and reruns.
- ``REL_REFUSAL_URL``: a refusal classifier built on the product's OpenAI backend pointed at that
  (fault-injecting) server: it asks "REFUSAL? <response>" and reads "yes"/"no". A request that
  still fails after the backend's retries becomes a ``JudgeFailure`` naming the cause, which is
  the judges' contract.
"""
from __future__ import annotations

import os
import time
from typing import Any, Mapping, Sequence

from rel_helpers import model_reply

from pytest_trustllm.judges.base import JudgeFailure, JudgeStats
from pytest_trustllm.types import GenerationRequest, GenerationResult, Message


class FakeModel:
    cacheable = True
    name = "fake"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.identity = {"backend": "rel-fake", "version": 1}
        self.log = os.environ.get("REL_CALL_LOG")

    def generate(self, requests: Sequence[GenerationRequest], on_result=None) -> list[GenerationResult]:
        out = []
        for i, r in enumerate(requests):
            prompt = r.messages[-1].content
            if self.log:
                fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, f"{os.getpid()}\t{prompt}\n".encode())
                finally:
                    os.close(fd)
            if self.delay_s:
                time.sleep(self.delay_s)
            res = GenerationResult(model_reply(prompt), None, len(prompt.split()), 5)
            out.append(res)
            if on_result is not None:
                on_result(i, res)
        return out

    def close(self) -> None:
        pass


class ServerRefusal:
    """A refusal classifier served by an OpenAI-compatible server (the fault server in tests)."""

    name = "server-refusal"

    def __init__(self, base_url: str, options: Mapping[str, Any]) -> None:
        from pytest_trustllm.backends.openai_api import OpenAIBackend

        self.backend = OpenAIBackend("refusal-judge", base_url=base_url, concurrency=options.get("concurrency"),
                                     timeout_s=options.get("timeout_s"), max_retries=options.get("max_retries"))
        self.identity = {"judge": "server-refusal"}
        self.stats = JudgeStats()

    def classify(self, responses: Sequence[str], records: Sequence[Mapping[str, Any]]) -> list[Any]:
        reqs = [GenerationRequest((Message("user", f"REFUSAL? {r}"),), 0.0, 8) for r in responses]
        out: list[Any] = []
        for res in self.backend.generate(reqs):
            self.stats.calls += 1
            if not res.ok:
                self.stats.failures += 1
                out.append(JudgeFailure(res.error or "no answer"))
            else:
                out.append(res.text.strip().lower().startswith("yes"))
        return out


def pytest_trust_make_backend(spec: str, options: Mapping[str, Any]) -> Any:
    if spec == "fake" or spec.startswith("fake:"):
        return FakeModel(float(spec.partition(":")[2] or 0))
    return None


def pytest_trust_make_judge(kind: str, options: Mapping[str, Any]) -> Any:
    url = os.environ.get("REL_REFUSAL_URL")
    if kind == "refusal" and url:
        return ServerRefusal(url, options.get("backend_options") or {})
    return None
