"""A pytest plugin (``-p rel_fakes``) for the reliability tests' subprocess sessions.

- ``--trust-model=fake`` / ``fake:DELAY_S``: a deterministic, *cacheable* fake model (unlike replay)
  that answers ``rel_helpers.model_reply(prompt)``. When ``REL_CALL_LOG`` names a file, every call
  appends one line ``<pid>\\t<prompt>`` to it (O_APPEND, one write per line), so a test can count
  calls per prompt across processes and reruns.
"""
from __future__ import annotations

import os
import time
from typing import Any, Mapping, Sequence

from rel_helpers import model_reply

from pytest_trustllm.types import GenerationRequest, GenerationResult


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


def pytest_trust_make_backend(spec: str, options: Mapping[str, Any]) -> Any:
    if spec == "fake" or spec.startswith("fake:"):
        return FakeModel(float(spec.partition(":")[2] or 0))
    return None
