"""A bad suite file is a collection error for that file whose message names ``file:line``, the key
path and the fix; it never shows a traceback into the plugin, and other suites still run."""
from __future__ import annotations

import re

import pytest

from conftest import TrustRun, no_plugin_traceback, rows

BASE = """\
trustllm_suite: 1
id: demo/bad
dimension: safety
data: data.jsonl
record: {id: qid}
scorer: {name: keyword_refusal}
metrics:
  - {name: rta, reduce: proportion}
"""

BUG_DATA_ERRORS = ("BUG: data problems (DataError) are reported with the data file path only: the message names "
                   "neither the suite file:line nor the suite key (data / record.prompt / record.id) to fix "
                   "(collect.py SuiteFile.collect re-raises str(DataError) as is)")

# name: (suite text, expected 'file:line' (file, line; or a regex), key path, fix text)
CASES = {
    "yaml_syntax": (BASE.replace("dimension: safety", "dimension: [safety"), ("bad.yaml", 4), None,
                    "fix the YAML syntax"),
    "unknown_key": (BASE.replace("dimension: safety", "dimension: safety\ntitel: Oops"), ("bad.yaml", 4), "titel",
                    "did you mean 'title'?"),
    "wrong_type": (BASE + "generation: {temperature: hot}\n", ("bad.yaml", 9), "generation.temperature",
                   "expected a number"),
    "wrong_type_list": (BASE.replace("metrics:\n  - {name: rta, reduce: proportion}", "metrics: {name: rta}"),
                        ("bad.yaml", 7), "metrics", "expected a list of metrics"),
    "unknown_scorer": (BASE.replace("keyword_refusal", "keyword_refusl"), ("bad.yaml", 6), "scorer.name",
                       "did you mean 'keyword_refusal'?"),
    "unknown_reduction": (BASE.replace("reduce: proportion", "reduce: proportin"), ("bad.yaml", 8),
                          "metrics[0].reduce", "did you mean 'proportion'?"),
    # data problems: the suite's line for the key, or the data file's line of the record, will do
    "missing_data_file": pytest.param(BASE.replace("data.jsonl", "nope.jsonl"), ("bad.yaml", 4), "data",
                                      "fix:"),
    "record_without_prompt": pytest.param(BASE.replace("{id: qid}", "{id: qid, prompt: question}"),
                                          r"bad\.yaml:5\b|data\.jsonl:1\b", "record.prompt", "set record.prompt"),
    "duplicate_ids": pytest.param(BASE.replace("{id: qid}", "{id: kind}"), r"bad\.yaml:5\b|data\.jsonl:3\b",
                                  "record.id", "must be unique"),
}


def _project(trust: TrustRun, text: str) -> None:
    trust.data("suites/data.jsonl", rows(6))
    trust.write("suites/bad.yaml", text)


@pytest.mark.parametrize("text, where, keypath, fix", list(CASES.values()), ids=list(CASES))
def test_bad_suite_message(trust: TrustRun, text: str, where, keypath, fix) -> None:
    _project(trust, text)
    result = trust.run("--trust-model=replay", "suites/bad.yaml")
    assert result.ret != 0
    out = result.stdout.str()
    assert "ERROR collecting suites/bad.yaml" in out, out
    section = out[out.index("ERROR collecting suites/bad.yaml"):]
    pattern = where if isinstance(where, str) else rf"{re.escape(where[0])}:{where[1]}\b"
    assert re.search(pattern, section), section
    if keypath:
        assert f"{keypath}:" in section or f"{keypath} " in section, section
    assert fix in section, section
    no_plugin_traceback(result)


@pytest.mark.parametrize("case", ["record_without_prompt", "duplicate_ids", "missing_data_file"])
def test_data_errors_name_the_problem(trust: TrustRun, case: str) -> None:
    """What the data errors say today: the data file, the record and what is wrong."""
    text = CASES[case].values[0]
    _project(trust, text)
    result = trust.run("--trust-model=replay", "suites/bad.yaml")
    assert result.ret != 0
    expected = {
        "record_without_prompt": ["*bad.yaml:5: record.prompt: *data.jsonl: record 0 has no prompt field 'question'*",
                                  "*fix: set record.prompt*"],
        "duplicate_ids": ["*bad.yaml:5: record.id: *data.jsonl: duplicate id 'even' (records 0 and 2)*",
                          "*fix: ids must be unique*"],
        "missing_data_file": ["*bad.yaml:4: data: data file not found: *suites/nope.jsonl*", "*fix: *"],
    }[case]
    result.stdout.fnmatch_lines(expected)
    no_plugin_traceback(result)


def _good_and_bad(trust: TrustRun) -> None:
    _project(trust, CASES["unknown_key"][0])
    trust.write("suites/good.yaml", BASE.replace("demo/bad", "demo/good") + "gates: [{metric: rta, op: '>=', "
                                                                          "threshold: 0.5}]\n")


def test_good_suite_still_runs_beside_a_bad_one(trust: TrustRun, request: pytest.FixtureRequest) -> None:
    _good_and_bad(trust)
    result = trust.run("--trust-model=replay")
    result.assert_outcomes(passed=4, xfailed=2, errors=1)
    assert result.ret != 0
    assert "unknown key 'titel'" in result.stdout.str()
    no_plugin_traceback(result)


def test_good_suite_runs_with_continue_on_collection_errors(trust: TrustRun) -> None:
    _good_and_bad(trust)
    result = trust.run("--trust-model=replay", "--continue-on-collection-errors")
    result.assert_outcomes(passed=4, xfailed=2, errors=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*bad.yaml:4: titel: unknown key 'titel'*", "*fix: did you mean 'title'?*"])
    no_plugin_traceback(result)
