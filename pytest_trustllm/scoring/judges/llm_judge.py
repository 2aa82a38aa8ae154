"""``--trust-judge=MODEL_SPEC``: an LLM judge on any backend (spec §1.3): one user message, temperature 0.

The scorers build TrustLLM's judge prompts and parse the labels; this module only answers prompts.
The judge runs on its own backend, built from the run's backend options minus the model-only ones
(``base_url``, ``api_key``...) plus ``judge_*`` overrides (``judge_base_url`` -> ``base_url``), so a
model under test behind a local server does not send the judge there too. Judge tokens are counted
in the judge's own stats, apart from the model's.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Mapping, Sequence

from pytest_trustllm.types import GenerationRequest, Message
from pytest_trustllm.scoring.judges.base import JudgeFailure, JudgeStats

DEFAULT_MAX_NEW_TOKENS = 512
# options that describe the model under test's endpoint, not the judge's
MODEL_ONLY_OPTIONS = ("base_url", "api_key_env", "api_key", "organization", "headers")
OWN_OPTIONS = ("judge_max_new_tokens", "judge_backend_options")
NOT_BACKEND = ("refusal", "judge", "toxicity", "embedder", "cache_path", "cache_refresh", "rules", "hook",
               "_judges_shared", "chat_judge")


def judge_backend_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The judge backend's options: the run's ``backend_options`` minus the model-only ones, then
    ``judge_backend_options`` (a dict) and top-level ``judge_<name>`` keys (``judge_base_url``)."""
    base = options.get("backend_options")
    if base is None:  # a flat options dict (tests, scripts)
        base = {k: v for k, v in options.items() if not k.startswith("judge_") and k not in NOT_BACKEND}
    out = {k: v for k, v in dict(base).items() if k not in MODEL_ONLY_OPTIONS}
    out.update(options.get("judge_backend_options") or {})
    for k, v in options.items():
        if k.startswith("judge_") and k not in OWN_OPTIONS and v is not None:
            out[k[len("judge_"):]] = v
    if "device" not in out and options.get("device"):
        out["device"] = options["device"]
    return out


class BackendJudge:
    """A ChatJudge over a ``Backend``. A failed call is a ``JudgeFailure`` in that place."""

    name = "chat"

    def __init__(self, spec: str, backend: Any, *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                 secrets: tuple[str, ...] = ()) -> None:
        self.spec = spec
        self.backend = backend
        self.max_new_tokens = int(max_new_tokens)
        self.cacheable = bool(getattr(backend, "cacheable", True))
        self.identity: dict[str, Any] = {
            "kind": "judge", "name": "chat", "spec": spec, "backend": dict(backend.identity),
            "temperature": 0.0, "max_new_tokens": self.max_new_tokens,
        }
        self.stats = JudgeStats()
        self._secrets = secrets
        self._lock = threading.Lock()

    def complete(self, prompts: Sequence[str]) -> list[str | JudgeFailure]:
        from pytest_trustllm.scoring.judges.registry import redact

        reqs = [GenerationRequest(messages=(Message("user", str(p)),), temperature=0.0,
                                  max_new_tokens=self.max_new_tokens, key=f"judge-{i}")
                for i, p in enumerate(prompts)]
        if not reqs:
            return []
        try:
            results = self.backend.generate(reqs)
        except Exception as e:  # noqa: BLE001 - the whole batch failed: each prompt gets the failure
            msg = redact(f"judge {self.spec} failed: {type(e).__name__}: {e}", self._secrets)
            with self._lock:
                self.stats.calls += len(reqs)
                self.stats.failures += len(reqs)
            return [JudgeFailure(msg) for _ in reqs]
        out: list[str | JudgeFailure] = []
        with self._lock:
            for r in results:
                self.stats.calls += 1
                self.stats.prompt_tokens += int(r.prompt_tokens or 0)
                self.stats.completion_tokens += int(r.completion_tokens or 0)
                if r.ok:
                    out.append(r.text)
                else:
                    self.stats.failures += 1
                    out.append(JudgeFailure(redact(f"judge {self.spec} failed: {r.error or 'no text'}", self._secrets)))
        if len(out) != len(reqs):
            return [JudgeFailure(f"judge {self.spec} returned {len(out)} replies for {len(reqs)} prompts")] * len(reqs)
        return out

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close:
            close()


def make_chat_judge(spec: str, options: Mapping[str, Any]) -> BackendJudge:
    from pytest_trustllm.generation.backends.base import BackendError, make_backend
    from pytest_trustllm.scoring.judges.registry import JudgeConfigError, redact

    if not spec:
        raise JudgeConfigError("--trust-judge needs a model spec, e.g. --trust-judge=gpt-4-1106-preview")
    bopts = judge_backend_options(options)
    key_env = bopts.get("api_key_env") or "OPENAI_API_KEY"
    secrets = tuple(s for s in (os.environ.get(str(key_env)),) if s)
    try:
        backend = make_backend(spec, bopts)
    except BackendError as e:
        raise JudgeConfigError(redact(f"--trust-judge={spec}: {e}", secrets)) from None
    except ImportError as e:
        raise JudgeConfigError(f"--trust-judge={spec}: a dependency is missing ({e})") from None
    return BackendJudge(spec, backend, secrets=secrets,
                        max_new_tokens=int(options.get("judge_max_new_tokens") or DEFAULT_MAX_NEW_TOKENS))
