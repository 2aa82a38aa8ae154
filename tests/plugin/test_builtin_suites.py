"""The built-in TrustLLM suites as a pip user meets them: ``pytest --trust-model=SPEC -m fairness`` in a
folder with no suites of its own, ``--trust-model=replay:FOLDER``, and configuration problems that stop
the run once (usage error, exit 4) before any item runs."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from conftest import SHARED, TrustRun, collected_ids, last_line, no_plugin_traceback, rows

RECORDED = Path(os.environ.get("TRUSTLLM_RECORDED") or SHARED / "trustllm" / "recorded")
MISTRAL = RECORDED / "mistral-7b"
BUILTIN = ("-o", "trust_suites=auto")  # the inner projects default to none (conftest.OWN_SUITES_ONLY)
# items per fairness suite (the suites filter some records out); 3,145 in all
FAIRNESS = {"disparagement.yaml": 810, "preference.yaml": 240, "stereotype_agreement.yaml": 1000,
            "stereotype_query.yaml": 95, "stereotype_recognition.yaml": 1000}


def test_headline_collects_the_builtin_fairness_suites_with_short_ids(trust: TrustRun) -> None:
    result = trust.run("--collect-only", "-q", "-m", "fairness", "--trust-model=smollm2", *BUILTIN)
    assert result.ret == 0, result.stdout.str()
    ids = collected_ids(result)
    assert len(ids) == 3145
    per_file: dict[str, int] = {}
    for nid in ids:
        path = nid.split("::")[0]
        assert path.startswith("trustllm/fairness/"), nid  # never a site-packages or absolute path
        per_file[path.rsplit("/", 1)[1]] = per_file.get(path.rsplit("/", 1)[1], 0) + 1
    assert per_file == FAIRNESS
    header = trust.run("--collect-only", "-m", "no_such_marker", "--trust-model=smollm2", *BUILTIN)
    header.stdout.fnmatch_lines(["trustllm: suites=built-in TrustLLM (*trustllm) collected (select with -m*"])


def test_builtin_suites_sit_beside_the_projects_own_suites_and_tests(trust: TrustRun) -> None:
    trust.data("suites/data.jsonl", rows(4))
    trust.suite("suites/demo.yaml", task="fairness_demo", dimension="fairness")
    trust.write("test_plain.py", "import pytest\n\n@pytest.mark.fairness\ndef test_mine():\n    pass\n")
    result = trust.run("--collect-only", "-q", "-m", "fairness", "--trust-model=replay", *BUILTIN)
    ids = collected_ids(result)
    assert len(ids) == 3145 + 4 + 1, result.stdout.str()
    assert "test_plain.py::test_mine" in ids
    assert sum(1 for i in ids if i.startswith("suites/demo.yaml::")) == 4


def test_naming_a_path_or_none_keeps_the_builtin_suites_out(trust: TrustRun) -> None:
    trust.data("suites/data.jsonl", rows(4))
    trust.suite("suites/demo.yaml")
    named = trust.run("--collect-only", "-q", "--trust-model=replay", "suites", *BUILTIN)
    assert len(collected_ids(named)) == 4
    off = trust.run("--collect-only", "-q", "--trust-model=replay", "--trust-suites=none")
    assert len(collected_ids(off)) == 4
    always = trust.run("--collect-only", "-q", "--trust-model=replay", "--trust-suites=trustllm", "suites",
                       "-m", "stereotype_query")
    assert len(collected_ids(always)) == 95


def test_k_and_sharding_select_builtin_items(trust: TrustRun) -> None:
    k = trust.run("--collect-only", "-q", "-m", "fairness", "-k", "stereotype_query", "--trust-model=replay",
                  *BUILTIN)
    assert len(collected_ids(k)) == 95
    shards = [collected_ids(trust.run("--collect-only", "-q", "-m", "stereotype_query", "--trust-model=replay",
                                      f"--trust-shard={i}/2", *BUILTIN)) for i in (1, 2)]
    assert sorted(shards[0] + shards[1]) == sorted(collected_ids(k)) and shards[0] and shards[1]
    assert not set(shards[0]) & set(shards[1])


@pytest.mark.skipif(not MISTRAL.is_dir(), reason="needs the recorded responses (TRUSTLLM_RECORDED)")
def test_replay_folder_is_one_flag_and_picks_up_recorded_labels(trust: TrustRun) -> None:
    result, doc = trust.report("-m", "jailbreak", f"--trust-model=replay:{MISTRAL}", "-rs", *BUILTIN)
    assert result.ret == 1, result.stdout.str()  # a gate verdict (rta below the paper median)
    suite = next(s for s in doc["suites"] if s["id"] == "trustllm/safety/jailbreak")
    rta = next(m for m in suite["metrics"] if m["name"] == "rta")
    assert round(rta["value"], 3) == 0.590 and rta["n"] == 1299  # docs/reproduction.md, paper rules
    assert doc["settings"]["recorded"] == str(MISTRAL) and doc["settings"]["refusal"] == "recorded"
    assert doc["model"]["identity"] == {"backend": "replay", "source": "recorded folder mistral-7b"}
    assert suite["file"] == "pytest-trustllm:trustllm/safety/jailbreak.yaml"
    result.stdout.fnmatch_lines([f"trustllm: replay folder {MISTRAL}: records and responses read from it*"])
    # files the folder does not hold are skipped with that reason, not collection errors
    result.stdout.fnmatch_lines([f"SKIPPED * fairness/stereotype_recognition.json was not recorded in {MISTRAL}"])


@pytest.mark.skipif(not MISTRAL.is_dir(), reason="needs the recorded responses (TRUSTLLM_RECORDED)")
def test_replay_folder_checks_prompts_not_responses(trust: TrustRun) -> None:
    folder = trust.path / "recorded"
    (folder / "safety").mkdir(parents=True)
    records = json.loads((MISTRAL / "safety" / "misuse.json").read_text(encoding="utf-8"))
    for r in records[:5]:
        r["res"], r["eval_res"] = "a different response", "LABEL_1"  # responses may differ: that is the point
    (folder / "safety" / "misuse.json").write_text(json.dumps(records), encoding="utf-8")
    ok = trust.run("-q", "-m", "misuse", f"--trust-model=replay:{folder}", "-rs", *BUILTIN)
    assert ok.ret in (0, 1) and "modified" not in ok.stdout.str(), ok.stdout.str()
    ok.stdout.fnmatch_lines(["*fairness/stereotype_query_test.json was not recorded in*"])
    records[3]["prompt"] += " (edited)"
    (folder / "safety" / "misuse.json").write_text(json.dumps(records), encoding="utf-8")
    bad = trust.run("-q", "-m", "misuse", f"--trust-model=replay:{folder}", *BUILTIN)
    bad.stdout.fnmatch_lines(["*misuse.json: 1 of * recorded records have prompts or ground-truth fields that "
                              "differ from the pinned TrustLLM release (first at index 3). Pass "
                              "--trust-allow-modified-data*"])


def test_missing_api_key_is_one_usage_error(trust: TrustRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = trust.run("-m", "fairness", "--trust-model=gpt-4", *BUILTIN)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert err.count("OPENAI_API_KEY") == 1 and "ERROR: --trust-model=gpt-4: gpt-4 is an OpenAI model" in err
    assert "collected" not in result.stdout.str()  # stopped before collection
    no_plugin_traceback(result)


def test_server_that_does_not_answer_is_one_usage_error(trust: TrustRun) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    trust.data("suites/data.jsonl", rows(3))
    trust.suite("suites/demo.yaml")
    result = trust.run("--trust-model=openai:local", f"--trust-base-url=http://127.0.0.1:{port}/v1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --trust-model=openai:local: the OpenAI-compatible server at "
                                 f"http://127.0.0.1:{port}/v1 does not answer (*); start it or fix --trust-base-url"])
    assert "collected" not in result.stdout.str()


def test_missing_replay_path_is_a_usage_error(trust: TrustRun) -> None:
    result = trust.run("--trust-model=replay:no/such/folder", *BUILTIN)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --trust-model=replay:no/such/folder: no/such/folder does not exist*"])


def test_incomplete_gates_are_counted_apart_and_warn_when_asked(trust: TrustRun) -> None:
    trust.data("suites/data.jsonl", rows(12))
    trust.suite(metrics=[{"name": "rta", "reduce": "proportion", "direction": "higher"},
                         {"name": "rta_none", "reduce": "proportion", "direction": "higher",
                          "where": {"kind": "no such kind"}}],
                gates=[{"metric": "rta", "op": ">=", "threshold": 0.3},
                       {"metric": "rta_none", "op": ">=", "threshold": 0.5}])
    failing, doc = trust.report("--trust-model=replay", "--junitxml=j.xml")
    assert failing.ret == 1
    assert last_line(failing) == ("trust FAILED: 1 incomplete, 1 passed of 2 gate(s): demo/refuse rta_none could "
                                  "not be computed (n=0); gate >= 0.5")
    none = next(m for m in doc["suites"][0]["metrics"] if m["name"] == "rta_none")
    assert (none["value"], none["interval"], none["gate"]["on_incomplete"]) == (None, None, "fail")
    failing.stdout.fnmatch_lines(["demo/refuse  rta_none↑  n/a * 0 * 0 * >= 0.5  incomplete"])
    junit = (trust.path / "j.xml").read_text(encoding="utf-8")
    assert 'name="trust.gate.demo/refuse.rta_none.verdict" value="incomplete"' in junit
    assert "trust.gate.demo/refuse.rta_none.value" not in junit  # no number where there is none
    warned = trust.run("--trust-model=replay", "--trust-incomplete=warn")
    assert warned.ret == 0
    assert last_line(warned) == "trust passed: 1 incomplete (warned), 1 passed of 2 gate(s)"


def test_skipped_items_are_summarised_by_reason(trust: TrustRun) -> None:
    trust.data("suites/data.jsonl", rows(5))
    trust.suite(scorer={"name": "trustllm.rta", "args": {"expect": "refuse"}})
    result, doc = trust.report("--trust-model=replay", "--trust-refusal=none")
    reason = "needs the refusal judge, which is not configured: set --trust-refusal"
    assert doc["suites"][0]["skipped_reasons"] == {reason: 5}
    assert doc["suites"][0]["items"]["skipped"] == 5
    result.stdout.fnmatch_lines([f"5 item(s) skipped: {reason}"])


def test_public_face_of_the_package() -> None:
    from importlib.metadata import version

    import pytest_trustllm

    assert pytest_trustllm.__version__ == version("pytest-trustllm")
    for name in pytest_trustllm.__all__:
        assert getattr(pytest_trustllm, name) is not None
    from pytest_trustllm.__main__ import _parser

    text = _parser().format_help()
    assert "pytest --trust-model=SPEC -m fairness" in text and "--trust-suites=trustllm" in text


def test_shipped_files_name_no_workspace_path() -> None:
    from pytest_trustllm.suite.builtin import builtin_suites_dir

    root = builtin_suites_dir()
    files = sorted((root / "trustllm").rglob("*.yaml"))
    assert len(files) == 26
    repo = Path(__file__).resolve().parents[2]
    workspace = str(repo.parent) + "/"  # the folder the checkout sits in: no shipped file may name it
    for p in [*files, *(repo / "pytest_trustllm").rglob("*.py"), *(repo / "pytest_trustllm").rglob("*.json")]:
        text = p.read_text(encoding="utf-8", errors="replace")
        assert "../shared" not in text and workspace not in text, p


@pytest.mark.skipif(not MISTRAL.is_dir(), reason="needs the recorded responses (TRUSTLLM_RECORDED)")
def test_last_failed_reruns_builtin_items(trust: TrustRun) -> None:
    args = ("-q", "-m", "misuse", f"--trust-model=replay:{MISTRAL}", "--trust-strict", *BUILTIN)
    first = trust.run(*args, cache=True)
    failed = first.parseoutcomes()["failed"]
    assert failed > 0, first.stdout.str()
    again = trust.run(*args, "--lf", cache=True)
    assert again.parseoutcomes()["failed"] == failed
    assert "passed" not in again.parseoutcomes()
