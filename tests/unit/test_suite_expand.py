"""Generated metrics (``for_each``): the rewritten suites expand to exactly the metric lists they spelled
out before (the files as of 31a2c8c are kept in tests/unit/data), errors in a template still name
``file:line`` and the key path, and every shipped suite validates against ``suite.schema.json``."""
from __future__ import annotations

import json
from dataclasses import asdict
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from pytest_trustllm.suite.expand import identifier
from pytest_trustllm.suite.load import SuiteError, load_suite

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("suite, explicit", [
    ("suites/trustllm/safety/jailbreak.yaml", "jailbreak_31a2c8c.yaml"),
    ("suites/trustllm/fairness/disparagement.yaml", "disparagement_31a2c8c.yaml"),
])
def test_expansion_equals_the_explicit_list(suite, explicit):
    new, old = load_suite(ROOT / suite), load_suite(DATA / explicit)
    # names, order, where, args, directions, descriptions, rules modes: every field of every metric
    assert [(asdict(s), mode) for s, mode in new.metrics] == [(asdict(s), mode) for s, mode in old.metrics]
    assert new.gates == old.gates
    # and the generated form is the shorter file
    assert len((ROOT / suite).read_text().splitlines()) < len((DATA / explicit).read_text().splitlines())


HEAD = """\
trustllm_suite: 1
id: demo/gen
dimension: safety
data: data.jsonl
scorer: exact
metrics:
"""


def _load(tmp_path, metrics: str):
    path = tmp_path / "gen.yaml"
    path.write_text(HEAD + metrics)
    return load_suite(path)


def test_values_variables_and_defaults(tmp_path):
    suite = _load(tmp_path, """\
  - {name: all, reduce: proportion}
  - for_each: [Fixed sentence, {value: 3, note: " (three)"}]
    defaults: {note: "", label: "{value}!"}
    metric: {name: "acc_{value|id}", reduce: proportion, where: {level: "{value}"},
             description: "accuracy at {label}{note}"}
  - {name: last, reduce: mean_of, of: [acc_fixed_sentence, acc_3]}
""")
    specs = [s for s, _ in suite.metrics]
    assert [s.name for s in specs] == ["all", "acc_fixed_sentence", "acc_3", "last"]
    assert specs[1].where == {"level": "Fixed sentence"}
    assert specs[2].where == {"level": 3}  # a whole-string placeholder keeps the value's type
    assert [s.description for s in specs[1:3]] == ["accuracy at Fixed sentence!", "accuracy at 3! (three)"]


@pytest.mark.parametrize("metrics, line, keypath, text", [
    # a variable nobody binds: the template's line
    ("""\
  - for_each: [a, b]
    metric: {name: "x_{value}", reduce: proportion, description: "{nope}"}
""", 8, "metrics[0].metric", "unknown variable {nope}"),
    # a bad reduction in the template is found like a written metric's
    ("""\
  - for_each: [a]
    metric:
      name: "x_{value}"
      reduce: proportin
""", 10, "metrics[0].metric.reduce", "did you mean 'proportion'?"),
    # two elements generating the same name
    ("""\
  - for_each: [a b, a-b]
    metric: {name: "x_{value|id}", reduce: proportion}
""", 8, "metrics[0].metric.name", "defined twice"),
    ("""\
  - for_each: [a, {note: x}]
    metric: {name: "x_{value}", reduce: proportion}
""", 7, "metrics[0].for_each[1]", "needs 'value'"),
    ("""\
  - {name: x, reduce: proportion}
  - for_each: [a]
    metrc: {name: "x_{value}", reduce: proportion}
""", 9, "metrics[1].metrc", "did you mean 'metric'?"),
])
def test_template_errors_name_file_line_and_key(tmp_path, metrics, line, keypath, text):
    with pytest.raises(SuiteError) as e:
        _load(tmp_path, metrics)
    assert (e.value.line, e.value.keypath) == (line, keypath)
    assert text in str(e.value)
    assert f"gen.yaml:{line}" in str(e.value)


def test_identifier():
    assert identifier("Refusal sentence prohibition") == "refusal_sentence_prohibition"
    assert identifier("bad words") == "bad_words"
    assert identifier(" -X- ") == "x"


def test_every_shipped_suite_validates_against_the_json_schema():
    schema = json.loads(resources.files("pytest_trustllm.suite").joinpath("suite.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    suites = sorted((ROOT / "suites").rglob("*.yaml"))
    assert len(suites) >= 26
    for path in suites:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert not errors, f"{path}: {errors}"
    # and the schema rejects what the loader rejects: a template without its metric
    assert list(validator.iter_errors({**yaml.safe_load(HEAD), "metrics": [{"for_each": ["a"]}]}))
