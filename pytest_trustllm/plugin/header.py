"""The set-up lines a trust run prints in pytest's header (and under ``-q`` too): model, engine,
rules, gates, data, judges, selection, and where the built-in suites are."""
from __future__ import annotations

from pytest_trustllm.generation.backends.smollm2 import describe_model_spec
from pytest_trustllm.plugin.session import RunState


def header_lines(state: RunState) -> list[str]:
    s = state.settings
    model = (", ".join(describe_model_spec(m, s.device) for m in s.model) if s.model
             else "none (suite items will be skipped; pass --trust-model)")
    lines = [f"trustllm: model={model} rules={s.rules} gate={s.gate} cache={s.cache}"]
    refusal = state.resolve_refusal() if s.model else s.refusal
    lines.append(f"trustllm: data={data_source(s.data)} refusal={refusal} judge={s.judge or 'none'} "
                 f"toxicity={shown_default(s.toxicity, 'toxicity')} "
                 f"embedder={shown_default(s.embedder, 'embedder')}")
    extra = [f"{k}={v}" for k, v in (("sample", s.sample), ("seed", s.seed if s.sample else None),
                                      ("shard", s.shard), ("max-new-tokens", s.max_new_tokens),
                                      ("baseline", s.baseline), ("strict", s.strict or None),
                                      ("repeats", s.repeats if s.repeats > 1 else None)) if v]
    if extra:
        lines.append("trustllm: " + " ".join(extra))
    lines.append("trustllm: " + suites_line(state))
    if s.recorded:
        lines.append(f"trustllm: replay folder {s.recorded}: records and responses read from it; judges left at "
                     "auto use the labels recorded beside the responses (refusal eval_res, toxicity, similarity)")
    return lines


def suites_line(state: RunState) -> str:
    from pytest_trustllm.suite.builtin import BuiltinSuitesError, builtin_suites_dir

    try:
        where = str(builtin_suites_dir() / "trustllm")
    except BuiltinSuitesError as e:
        return f"suites: {e}"
    if state.suite_paths:
        chosen = "collected (select with -m DIMENSION or -m TASK, e.g. -m fairness, -m jailbreak)"
    elif state.settings.suites == "none":
        chosen = "not collected (--trust-suites=none)"
    else:
        chosen = "not collected (paths were named, or no --trust-model; --trust-suites=trustllm adds them)"
    return f"suites=built-in TrustLLM ({where}) {chosen}"


def shown_default(value: str, kind: str) -> str:
    """``auto`` with what it resolves to (both defaults read only the environment, so this is cheap)."""
    if value != "auto":
        return value
    from pytest_trustllm.scoring.judges.registry import judge_spec

    return f"auto->{judge_spec(kind, {kind: value})[0] or 'none'}"


def data_source(data: str | None) -> str:
    if data:
        return data
    from pytest_trustllm.suite.dataset import default_data_dir_description

    return default_data_dir_description()
