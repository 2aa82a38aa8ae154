"""The backend interface and the registry that maps a ``--trust-model`` spec to a backend."""
from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from pytest_trustllm.registry import Registry, lazy, unknown_name_message
from pytest_trustllm.types import GenerationRequest, GenerationResult


OnResult = Callable[[int, GenerationResult], None]


class BackendError(Exception):
    """A backend that cannot start (missing extra, missing model): a clear, user-facing message."""


@runtime_checkable
class Backend(Protocol):
    """``generate`` answers every request, in order: a text, or an error for that request.

    A backend calls ``on_result(index, result)`` as each request finishes (in any order), so the
    response cache can store it at once and a killed run loses only what was in flight.
    ``cacheable = False`` (replay) skips the response cache.
    """

    name: str
    identity: Mapping[str, Any]  # JSON-able; part of every cache key and report
    cacheable: bool

    def generate(self, requests: Sequence[GenerationRequest],
                 on_result: OnResult | None = None) -> list[GenerationResult]: ...

    def close(self) -> None: ...


# A factory takes (spec_argument, options) and returns a Backend. ``options`` is a plain dict
# of the run's settings (base_url, device, batch size...).
Factory = Callable[[str, Mapping[str, Any]], Backend]
BACKENDS: Registry[Factory] = Registry("backend")
BACKENDS.register("replay", lazy("pytest_trustllm.generation.backends.replay", "make_replay"))
BACKENDS.register("openai", lazy("pytest_trustllm.generation.backends.openai_api", "make_openai"))
BACKENDS.register("hf", lazy("pytest_trustllm.generation.backends.local", "make_hf"))
BACKENDS.register("smollm2", lazy("pytest_trustllm.generation.backends.smollm2", "make_smollm2"))
BACKENDS.register("llamacpp", lazy("pytest_trustllm.generation.backends.llamacpp", "make_llamacpp"))

OPENAI_MODEL_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt", "text-davinci")


def parse_model_spec(spec: str) -> tuple[str, str]:
    """``scheme:argument`` -> (scheme, argument). Bare OpenAI model names mean ``openai:NAME``;
    ``replay`` and ``smollm2`` take no argument or an optional one after a colon."""
    spec = spec.strip()
    if not spec:
        raise BackendError("--trust-model is empty")
    scheme, sep, arg = spec.partition(":")
    if sep and scheme in BACKENDS:
        return scheme, arg
    if spec in BACKENDS:
        return spec, ""
    if spec.startswith(OPENAI_MODEL_PREFIXES):
        return "openai", spec
    raise BackendError(
        unknown_name_message("model spec", spec, BACKENDS.names())
        + ". Use an OpenAI model name (gpt-4o), openai:NAME with --trust-base-url, hf:ID_OR_PATH, "
        "llamacpp:PATH.gguf, smollm2, replay or replay:RESPONSES.jsonl"
    )


def make_backend(spec: str, options: Mapping[str, Any]) -> Backend:
    scheme, arg = parse_model_spec(spec)
    return BACKENDS.get(scheme)(arg, options)
