"""Options: CLI > ini > default, UsageErrors naming the valid values, the header, threshold overrides."""
from __future__ import annotations

import pytest

from conftest import TrustRun, last_line, rows


def _project(trust: TrustRun, n: int = 6) -> None:
    trust.data("suites/data.jsonl", rows(n))
    trust.suite("suites/demo.yaml")


def _gate(report: dict) -> dict:
    (suite,) = report["suites"]
    (metric,) = suite["metrics"]
    return metric["gate"]


def test_ini_threshold_override(trust: TrustRun) -> None:
    _project(trust)
    trust.pytester.makeini("[pytest]\ntrust_gate_thresholds =\n    demo/refuse.rta >= 0.9\n")
    result, report = trust.report("--trust-model=replay")
    gate = _gate(report)
    assert (gate["op"], gate["threshold"], gate["verdict"]) == (">=", 0.9, "fail")
    assert "ini" in gate["source"]
    assert result.ret == 1
    assert last_line(result).endswith("demo/refuse rta = 0.667 < 0.900 (n=6)")


def test_thresholds_file_override(trust: TrustRun) -> None:
    _project(trust)
    trust.write("gates.yaml", "demo/refuse:\n  rta: {op: '>', threshold: 0.95}\n")
    result, report = trust.report("--trust-model=replay", "--trust-thresholds=gates.yaml")
    gate = _gate(report)
    assert (gate["op"], gate["threshold"], gate["verdict"]) == (">", 0.95, "fail")
    assert result.ret == 1


def test_thresholds_file_wins_over_ini(trust: TrustRun) -> None:
    _project(trust)
    trust.pytester.makeini("[pytest]\ntrust_gate_thresholds =\n    demo/refuse.rta >= 0.9\n")
    trust.write("gates.yaml", "demo/refuse: {rta: 0.25}\n")
    result, report = trust.report("--trust-model=replay", "--trust-thresholds=gates.yaml")
    gate = _gate(report)
    assert (gate["op"], gate["threshold"], gate["verdict"]) == (">=", 0.25, "pass")
    assert result.ret == 0


def test_override_adds_a_gate_to_an_ungated_metric_with_its_direction(trust: TrustRun) -> None:
    trust.data("suites/data.jsonl", rows(6))
    trust.suite("suites/demo.yaml", metrics=[{"name": "rta", "reduce": "proportion"},
                                             {"name": "complied", "reduce": "count", "direction": "lower"}],
                gates=None)
    trust.pytester.makeini("[pytest]\ntrust_gate_thresholds =\n    demo/refuse.complied 1\n")
    result, report = trust.report("--trust-model=replay")
    gates = {m["name"]: m["gate"] for m in report["suites"][0]["metrics"]}
    assert gates["rta"] is None
    assert (gates["complied"]["op"], gates["complied"]["threshold"], gates["complied"]["verdict"]) == ("<=", 1.0, "fail")
    assert result.ret == 1


def test_override_of_an_unknown_metric_fails_the_run(trust: TrustRun) -> None:
    _project(trust)
    trust.pytester.makeini("[pytest]\ntrust_gate_thresholds =\n    demo/refuse.rtaa >= 0.1\n")
    result = trust.run("--trust-model=replay")
    assert result.ret == 1
    assert "unknown threshold override(s): demo/refuse.rtaa" in last_line(result)


def test_cli_wins_over_ini_and_header_shows_the_effective_setup(trust: TrustRun) -> None:
    _project(trust, 20)
    trust.pytester.makeini("[pytest]\ntrust_model = replay\ntrust_rules = toolkit\ntrust_sample = 4\n"
                           "trust_seed = 3\n")
    result, report = trust.report("--trust-rules=paper", "--trust-sample=8")
    result.stdout.fnmatch_lines([
        "trustllm: model=replay rules=paper gate=point cache=*",
        "trustllm: data=*",
        "trustllm: sample=8 seed=3",
    ])
    s = report["settings"]
    assert (s["model"], s["rules"], s["sample"], s["seed"]) == (["replay"], "paper", 8, 3)
    assert report["suites"][0]["items"]["total"] == 8
    # the ini alone
    result, report = trust.report()
    result.stdout.fnmatch_lines(["trustllm: model=replay rules=toolkit *", "trustllm: sample=4 seed=3"])
    assert report["settings"]["rules"] == "toolkit" and report["suites"][0]["items"]["total"] == 4


def test_header_shows_strict_and_data_folder(trust: TrustRun, tmp_path) -> None:
    _project(trust)
    result = trust.run("--trust-model=replay", "--trust-strict", f"--trust-data={tmp_path}")
    result.stdout.fnmatch_lines([f"trustllm: data={tmp_path} *", "trustllm: strict=True"])


def test_header_shows_what_auto_judges_resolve_to(trust: TrustRun, monkeypatch) -> None:
    _project(trust)
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = trust.run("--trust-model=replay", "--trust-refusal=keyword")
    result.stdout.fnmatch_lines(["trustllm: * refusal=keyword * toxicity=auto->none embedder=auto->minilm"])
    monkeypatch.setenv("PERSPECTIVE_API_KEY", "k")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    result = trust.run("--trust-model=replay", "--trust-refusal=keyword", "--trust-toxicity=profanity")
    result.stdout.fnmatch_lines(["trustllm: * toxicity=profanity embedder=auto->openai"])


@pytest.mark.parametrize("args, ini, message", [
    (["--trust-rules=papr"], "", "--trust-rules: invalid value 'papr'; valid values: paper, toolkit"),
    (["--trust-gate=maybe"], "", "--trust-gate: invalid value 'maybe'; valid values: point, confident"),
    ([], "trust_refusal = classifier\n",
     "ini trust_refusal: invalid value 'classifier'; valid values: auto, longformer, offline, recorded, judge, keyword"),
    (["--trust-sample=0"], "", "--trust-sample: '0' must be a positive number"),
    (["--trust-sample=many"], "", "--trust-sample: 'many' is not a valid int"),
    (["--trust-shard=4/3"], "", "--trust-shard: '4/3' needs 1 <= K <= N"),
    ([], "trust_gate_thresholds =\n    demo/refuse.rta => 0.9\n", "invalid operator '=>'; valid: >=, >, <=, <"),
    (["--trust-thresholds=missing.yaml"], "", "thresholds file not found: missing.yaml"),
])
def test_bad_option_values_are_usage_errors(trust: TrustRun, args, ini, message) -> None:
    _project(trust)
    if ini:
        trust.pytester.makeini("[pytest]\n" + ini)
    result = trust.run("--trust-model=replay", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str(), result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_cli_bad_value_reported_even_when_ini_is_valid(trust: TrustRun) -> None:
    _project(trust)
    trust.pytester.makeini("[pytest]\ntrust_rules = toolkit\n")
    result = trust.run("--trust-model=replay", "--trust-rules=nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "valid values: paper, toolkit" in result.stderr.str()


def test_help_lists_the_trust_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*--trust-model=SPEC*", "*--trust-gate=*", "*trust_gate_thresholds*"])
