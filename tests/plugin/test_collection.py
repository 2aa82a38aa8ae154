"""Which YAML files are suites, the data formats, ``trustllm:`` data references and prompt templates."""
from __future__ import annotations

import json

import yaml

from conftest import DATA, RECORDING_BACKEND, TrustRun, items, read_calls, reported_ids, rows, suite_doc


def test_suite_under_suites_folder_is_collected(trust: TrustRun) -> None:
    trust.data("suites/data.jsonl", rows(6))
    trust.suite("suites/demo.yaml")
    result = trust.run("--trust-model=replay", "-rA")
    result.assert_outcomes(passed=4, xfailed=2)
    ids = reported_ids(result)
    assert items(ids) == {("suites/demo.yaml", f"q{i}") for i in range(6)}
    assert all(nid.count("::") == 2 for nid in ids)  # FILE::BATCH::ITEM


def test_nested_suites_folder_yaml_needs_no_declaration_to_be_claimed(trust: TrustRun) -> None:
    # a YAML under suites/ is always a suite: one without the declaration is an error, not ignored
    trust.write("pkg/suites/sub/notes.yaml", "id: demo/notes\n")
    result = trust.run("--trust-model=replay")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*pkg/suites/sub/notes.yaml*missing required key 'trustllm_suite'*"])


def test_yaml_elsewhere_collected_only_when_declared(trust: TrustRun) -> None:
    trust.data("checks/data.jsonl", rows(3))
    trust.suite("checks/declared.yaml", id="demo/declared")
    trust.write("checks/undeclared.yaml", "id: demo/nope\ndimension: safety\n")
    trust.write("config.yaml", "database: {host: localhost}\nmetrics: [cpu, mem]\n")
    trust.write("settings/app.yml", "trustllm_suite_note: not a declaration\nname: app\n")
    result = trust.run("--trust-model=replay", "-rA")
    assert result.ret == 0, result.stdout.str()
    assert items(reported_ids(result)) == {("checks/declared.yaml", f"q{i}") for i in range(3)}
    out = result.stdout.str()
    for name in ("undeclared.yaml", "config.yaml", "app.yml"):
        assert name not in out


def test_declaration_must_be_a_top_level_key(trust: TrustRun) -> None:
    trust.data("checks/data.jsonl", rows(3))
    text = yaml.safe_dump({"nested": suite_doc(id="demo/nested")}, sort_keys=False)  # indented: not a suite
    trust.write("checks/nested.yaml", text)
    result = trust.run("--trust-model=replay")
    assert "no tests ran" in result.stdout.str()
    assert "nested.yaml" not in result.stdout.str()


def test_data_formats_json_jsonl_csv(trust: TrustRun) -> None:
    records = rows(5)
    trust.data("suites/d.json", records)
    trust.data("suites/d.jsonl", records)
    trust.data("suites/d.csv", records)
    for fmt in ("json", "jsonl", "csv"):
        trust.suite(f"suites/{fmt}.yaml", id=f"demo/{fmt}", data=f"d.{fmt}")
    result, report = trust.report("--trust-model=replay", "-rA")
    assert result.ret == 0, result.stdout.str()
    ids = reported_ids(result)
    for fmt in ("json", "jsonl", "csv"):
        assert {i for i in items(ids) if i[0] == f"suites/{fmt}.yaml"} == {
            (f"suites/{fmt}.yaml", f"q{i}") for i in range(5)}
    counts = {s["id"]: s["items"] for s in report["suites"]}
    expected = {"total": 5, "passed": 3, "violated": 2, "dropped": 0, "errors": 0, "skipped": 0}
    assert counts == {"demo/json": expected, "demo/jsonl": expected, "demo/csv": expected}
    # every format carries the same record fields to the metrics
    fields = {s["id"]: [r["fields"] for r in s["records"]] for s in report["suites"]}
    assert fields["demo/json"] == fields["demo/jsonl"] == fields["demo/csv"]


def test_trustllm_data_reference_resolved_from_env(trust: TrustRun) -> None:
    official = json.loads((DATA / "fairness" / "stereotype_query_test.json").read_text())
    trust.conftest(RECORDING_BACKEND)
    trust.suite("suites/official.yaml", id="demo/official", dimension="fairness", task="stereotype_query",
                data="trustllm:fairness/stereotype_query_test.json", record={"prompt": "prompt"})
    result, report = trust.report("--trust-model=refuser", "-rA")
    assert result.ret == 0, result.stdout.str()
    assert str(DATA) in result.stdout.str()  # the header names the data folder in use
    (suite,) = report["suites"]
    assert suite["items"]["total"] == suite["items"]["passed"] == len(official)
    sent = [k for call in read_calls(trust.path) for k in call["keys"]]
    assert sorted(sent) == sorted(r["id"] for r in suite["records"])


def test_trustllm_data_reference_resolved_from_cli_over_env(trust: TrustRun, monkeypatch) -> None:
    monkeypatch.setenv("TRUSTLLM_DATA", str(trust.path / "no-such-folder"))
    trust.conftest(RECORDING_BACKEND)
    trust.suite("suites/official.yaml", id="demo/official", dimension="fairness", task="stereotype_query",
                data="trustllm:fairness/stereotype_query_test.json", record={"prompt": "prompt"})
    result = trust.run("--trust-model=refuser", f"--trust-data={DATA}", "-q")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["95 passed*"])


def test_trustllm_data_folder_missing_is_a_clear_collection_error(trust: TrustRun, monkeypatch) -> None:
    monkeypatch.setenv("TRUSTLLM_DATA", str(trust.path / "no-such-folder"))
    trust.suite("suites/official.yaml", data="trustllm:fairness/stereotype_query_test.json",
                record={"prompt": "prompt"})
    result = trust.run("--trust-model=replay")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*TrustLLM data folder not found*no-such-folder*"])


def test_prompt_template_over_fields(trust: TrustRun) -> None:
    records = [{"qid": f"t{i}", "question": f"What is {i}+{i}?", "choices": "A) 1 B) 2", "answer": "B"}
               for i in range(3)]
    trust.data("suites/q.jsonl", records)
    trust.conftest(RECORDING_BACKEND.replace(
        'return Recording(lambda r: r.record.get("res", "I\'m sorry, I can\'t."))',
        'return Recording(lambda r: r.messages[-1].content)'))
    trust.suite("suites/tpl.yaml", id="demo/tpl", dimension="truthfulness", task="tpl", data="q.jsonl",
                record={"id": "qid", "prompt_template": "Question: {question}\nOptions: {choices}\nAnswer:"},
                scorer={"name": "contains", "args": {"text": "Options: A) 1 B) 2"}}, gates=None)
    result, report = trust.report("--trust-model=recording")
    assert result.ret == 0, result.stdout.str()
    assert report["suites"][0]["items"]["passed"] == 3
    sent = {k: p for c in read_calls(trust.path) for k, p in zip(c["keys"], c["prompts"])}
    assert sent == {f"t{i}": f"Question: What is {i}+{i}?\nOptions: A) 1 B) 2\nAnswer:" for i in range(3)}
