"""The plugin's own hooks. Implement them in a ``conftest.py`` or a plugin."""
from __future__ import annotations

from typing import Any, Mapping

import pytest



@pytest.hookspec(firstresult=True)
def pytest_trust_make_backend(spec: str, options: Mapping[str, Any]) -> Any:
    """Return a backend for ``--trust-model=SPEC``, or None to leave it to the built-in registry.

    A backend has ``name``, ``identity`` (a JSON-able dict: part of every cache key), ``cacheable``,
    ``generate(requests, on_result=None) -> list[GenerationResult]`` and ``close()``.

    Implement it in a plugin or in an initial ``conftest.py`` (the rootdir's, or one in a folder named
    on the command line): unknown ``--trust-model`` specs are a usage error before collection unless
    such an implementation exists, and conftests deeper in the tree load too late to count.

    Example::

        from pytest_trustllm.types import GenerationResult

        class EchoBackend:
            name, identity, cacheable = "echo", {"backend": "echo"}, False
            def generate(self, requests, on_result=None):
                return [GenerationResult(r.messages[-1].content) for r in requests]
            def close(self): pass

        def pytest_trust_make_backend(spec, options):
            if spec == "echo":
                return EchoBackend()
    """


@pytest.hookspec(firstresult=True)
def pytest_trust_make_judge(kind: str, options: Mapping[str, Any]) -> Any:
    """Return a judge of ``kind`` (``refusal``, ``judge``, ``toxicity`` or ``embedder``), or None to
    use the built-in one named by ``--trust-refusal`` / ``--trust-judge`` / ``--trust-toxicity`` /
    ``--trust-embedder``. See ``pytest_trustllm.scoring.judges.base`` for the interfaces.

    Example::

        from pytest_trustllm.scoring.judges.base import JudgeStats

        class NeverRefuses:
            name, identity, stats = "never", {"judge": "never"}, JudgeStats()
            def classify(self, responses, records):
                return [False] * len(responses)

        def pytest_trust_make_judge(kind, options):
            if kind == "refusal" and options["refusal"] == "keyword":
                return NeverRefuses()
    """


def pytest_trust_register_scorers(registry: Any) -> None:
    """Register custom scorers (called once at configure time) on ``registry``, the scorer registry.

    Example::

        from pytest_trustllm import item_scorer, passed, violated

        def pytest_trust_register_scorers(registry):
            @item_scorer("mentions_policy")
            def mentions_policy(record, response, ctx):
                ok = "policy" in response.lower()
                return (passed if ok else violated)("mentions the policy" if ok else "no policy")
    """
