"""A corpus of bad suites and data. Each one gives a clear collection error (file, line or record,
what is wrong, how to fix it) or a documented behaviour: never an internal error, never a traceback
into our code, never a hang. Checked twice: on the loader and reader directly (fast, per case),
and in one real pytest session over the whole corpus.

``HOSTILE_CASES`` are inputs that once escaped as a raw exception, hung, or silently lost records;
each names the defect it guards against (see docs/reliability.md).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import rel_helpers as H

GOOD = """\
trustllm_suite: 1
id: bad/{name}
dimension: safety
task: t_{task}
data: {data}
record: {{id: id, fields: [kind]}}
scorer: {{name: keyword_refusal, args: {{expect_field: expect}}}}
metrics:
  - {{name: rate, reduce: proportion, direction: higher}}
gates:
  - {{metric: rate, op: ">=", threshold: 0.0}}
"""
GOOD_ROWS = "".join(json.dumps({**r, "res": H.model_reply(r["prompt"])}) + "\n" for r in H.records(3))


def suite(name: str, data: str = "{name}.jsonl", **replace: str) -> str:
    text = GOOD.format(name=name, task=re.sub(r"\W", "_", name), data=data.format(name=name))
    for old, new in replace.items():
        text = text.replace(old.replace("_", " ") if old not in text else old, new)
    return text


def mutate(name: str, old: str, new: str) -> str:
    text = suite(name)
    assert old in text, old
    return text.replace(old, new)


# (name, {relative file: text | bytes}, expected message fragment). The suite file is <name>.yaml.
SUITE_CASES: list[tuple[str, dict, str]] = [
    ("yaml_syntax", {"yaml_syntax.yaml": mutate("yaml_syntax", "task: t_yaml_syntax", "task: [unclosed")},
     "yaml_syntax.yaml:5: YAML syntax error"),
    ("yaml_tabs", {"yaml_tabs.yaml": "trustllm_suite: 1\n\tid: x\n"}, "YAML syntax error"),
    ("yaml_two_docs", {"yaml_two_docs.yaml": suite("yaml_two_docs") + "---\nid: again\n"}, "YAML syntax error"),
    ("unknown_key", {"unknown_key.yaml": suite("unknown_key") + "metircs_extra: 1\n"}, "unknown key 'metircs_extra'"),
    ("unknown_key_typo", {"unknown_key_typo.yaml": mutate("unknown_key_typo", "gates:", "gate:")},
     "did you mean 'gates'?"),
    ("unknown_nested_key", {"unknown_nested_key.yaml": mutate("unknown_nested_key", "{id: id,", "{idd: id,")},
     "record.idd: unknown key 'idd'"),
    ("wrong_type_metrics", {"wrong_type_metrics.yaml": mutate(
        "wrong_type_metrics", "metrics:\n  - {name: rate, reduce: proportion, direction: higher}\n",
        "metrics: proportion\n")}, "metrics: expected a list of metrics"),
    ("wrong_type_threshold", {"wrong_type_threshold.yaml": mutate("wrong_type_threshold", "threshold: 0.0",
                                                                  "threshold: high")},
     "gates[0].threshold: expected a number"),
    ("wrong_type_bool", {"wrong_type_bool.yaml": mutate("wrong_type_bool", "id: bad/wrong_type_bool", "id: yes")},
     "id: expected a string, got a boolean"),
    ("wrong_type_binary", {"wrong_type_binary.yaml": suite("wrong_type_binary") + "title: !!binary aGVsbG8=\n"},
     "title: expected a string, got bytes"),
    ("bad_direction", {"bad_direction.yaml": mutate("bad_direction", "direction: higher", "direction: up")},
     "invalid direction 'up'"),
    ("bad_op", {"bad_op.yaml": mutate("bad_op", '">="', '"=>"')}, "invalid operator '=>'"),
    ("empty_file", {"empty_file.yaml": ""}, "the file is empty"),
    ("comments_only", {"comments_only.yaml": "# trustllm_suite: 1\n# nothing else\n"}, "the file is empty"),
    ("top_level_list", {"top_level_list.yaml": "- trustllm_suite: 1\n"}, "a suite is a mapping at the top level"),
    ("schema_version", {"schema_version.yaml": mutate("schema_version", "trustllm_suite: 1", "trustllm_suite: 2")},
     "unsupported suite schema version 2"),
    ("missing_scorer", {"missing_scorer.yaml": mutate("missing_scorer",
                                                      "scorer: {name: keyword_refusal, args: {expect_field: expect}}\n",
                                                      "")}, "missing required key 'scorer'"),
    ("missing_reduce", {"missing_reduce.yaml": mutate("missing_reduce", "reduce: proportion, ", "")},
     "metrics[0]: missing 'reduce'"),
    ("unknown_scorer", {"unknown_scorer.yaml": mutate("unknown_scorer", "name: keyword_refusal",
                                                      "name: keyword_refusl")},
     "did you mean 'keyword_refusal'?"),
    ("unknown_reduction", {"unknown_reduction.yaml": mutate("unknown_reduction", "reduce: proportion",
                                                            "reduce: proportoin")}, "unknown reduction 'proportoin'"),
    ("gate_unknown_metric", {"gate_unknown_metric.yaml": mutate("gate_unknown_metric", "{metric: rate,",
                                                                "{metric: rat,")}, "unknown metric 'rat'"),
    ("duplicate_key", {"duplicate_key.yaml": suite("duplicate_key") + "dimension: ethics\n"}, "duplicate key"),
    ("non_utf8_suite", {"non_utf8_suite.yaml": suite("non_utf8_suite").encode() + b"title: caf\xe9\n"},
     "not UTF-8 text"),
    ("utf16_suite", {"utf16_suite.yaml": suite("utf16_suite").encode("utf-16")}, "not UTF-8 text"),
    ("bad_temperature", {"bad_temperature.yaml": suite("bad_temperature") + "generation: {temperature: 9}\n"},
     "outside 0..2"),
    ("keys_not_strings", {"keys_not_strings.yaml": suite("keys_not_strings") + "? [a, b]\n: 1\n"},
     "keys must be plain strings"),
]

DATA_CASES: list[tuple[str, dict, str]] = [
    ("data_missing", {}, "data file not found"),
    ("data_folder", {"data_folder.jsonl/x": "folder"}, "data path is a folder"),
    ("data_empty", {"data_empty.jsonl": ""}, "the data file is empty"),
    ("data_blank", {"data_blank.jsonl": "\n \n\n"}, "the data file is empty"),
    ("data_non_utf8", {"data_non_utf8.jsonl": b'{"id": "a", "prompt": "caf\xe9"}\n'},
     "not UTF-8 text (invalid byte at offset 26)"),
    ("data_bad_json_line", {"data_bad_json_line.jsonl": GOOD_ROWS + "{broken\n"}, "data_bad_json_line.jsonl:4: invalid JSON line"),
    ("data_bad_json", {"data_bad_json.json": "[{\"id\": 1},\n"}, "invalid JSON"),
    ("data_not_list", {"data_not_list.json": "{\"id\": 1}"}, "expected a JSON list of records, got a dict"),
    ("data_record_not_object", {"data_record_not_object.jsonl": GOOD_ROWS + "[1, 2]\n"},
     "record 3 is a list, not an object"),
    ("data_missing_prompt", {"data_missing_prompt.jsonl": '{"id": "a", "question": "q"}\n'},
     "record 0 has no prompt field 'prompt'"),
    ("data_prompt_not_text", {"data_prompt_not_text.jsonl": '{"id": "a", "prompt": 42}\n'},
     "field 'prompt' is a int, not text"),
    ("data_missing_id", {"data_missing_id.jsonl": '{"prompt": "p"}\n'}, "record 0 has no id field 'id'"),
    ("data_duplicate_ids", {"data_duplicate_ids.jsonl": GOOD_ROWS + json.dumps(H.records(1)[0]) + "\n"},
     "duplicate id 'p00000' (records 0 and 3)"),
]
for _name, _files, _ in DATA_CASES:
    _files.setdefault(f"{_name}.yaml", suite(_name, data="{name}.json" if _name in ("data_bad_json", "data_not_list")
                                              else "{name}.jsonl"))

# Former defects: each escaped as a raw exception, hung, or silently lost the suite; the last field
# says how, the third what the clear error must now mention (None: read as data or a DataError).
HOSTILE_CASES: list[tuple[str, dict, str, str]] = [
    ("yaml_python_tag", {"yaml_python_tag.yaml": suite("yaml_python_tag") + "title: !!python/name:os.system\n"},
     "tag", "suite/load.py: a YAML tag SafeLoader cannot construct raises yaml ConstructorError outside read_yaml's "
            "try (in _construct/_scalar)"),
    ("yaml_value_scalar", {"yaml_value_scalar.yaml": suite("yaml_value_scalar") + "title: =\n"},
     "=", "suite/load.py: a bare '=' scalar resolves to YAML's 'value' tag, which SafeLoader cannot construct: "
          "ConstructorError escapes (found by hypothesis)"),
    ("yaml_bad_float_tag", {"yaml_bad_float_tag.yaml": suite("yaml_bad_float_tag") + "title: !!float abc\n"},
     "float", "suite/load.py: '!!float abc' raises ValueError from _scalar"),
    ("yaml_deep_nesting", {"yaml_deep_nesting.yaml": suite("yaml_deep_nesting") + "filter: " + "[" * 3000
                           + "]" * 3000 + "\n"},
     "nest", "suite/load.py: deeply nested YAML raises RecursionError (in compose or _construct)"),
    ("yaml_alias_bomb", {"yaml_alias_bomb.yaml": suite("yaml_alias_bomb") + textwrap.dedent("""\
        x-a: &a [x, x, x, x, x, x, x, x, x]
        x-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
        x-c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
        x-d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
        x-e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
        x-f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
        x-g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
        """)},
     "alias", "suite/load.py: _construct expands every alias again (exponential): 7 levels of anchors take "
              "about 100 s before 'unknown key' is reported"),
    ("data_csv_big_field", {"data_csv_big_field.yaml": suite("data_csv_big_field", data="{name}.csv"),
                            "data_csv_big_field.csv": "id,prompt,kind,expect\na," + "x" * 200_000 + ",benign,comply\n"},
     None, "suite/records.py: a CSV field over 128 KiB raises _csv.Error (csv.field_size_limit), uncaught"),
    ("data_json_deep", {"data_json_deep.yaml": suite("data_json_deep", data="{name}.json"),
                        "data_json_deep.json": "[" * 50_000 + "]" * 50_000},
     "nest", "suite/records.py: deeply nested JSON raises RecursionError from json.loads, uncaught"),
    ("data_lone_surrogate", {"data_lone_surrogate.yaml": mutate("data_lone_surrogate", "{id: id, ", "{"),
                             "data_lone_surrogate.jsonl": '{"prompt": "broken \\ud83d pair"}\n'},
     "surrogate", "suite/records.py: a JSON \\ud83d escape gives a lone surrogate; content_hash's "
                  "prompt.encode('utf-8') raises UnicodeEncodeError at collection"),
    ("data_csv_unterminated_quote", {"data_csv_unterminated_quote.yaml": suite("data_csv_unterminated_quote",
                                                                               data="{name}.csv"),
                                     "data_csv_unterminated_quote.csv":
                                         'id,prompt,kind,expect\na,"p,benign,comply\nb,q,benign,comply\n'},
     "quote", "suite/records.py: csv.DictReader without strict=True merges the rest of the file into one field "
              "after an unterminated quote: records are silently lost"),
    ("data_csv_unquoted_comma", {"data_csv_unquoted_comma.yaml": suite("data_csv_unquoted_comma", data="{name}.csv"),
                                 "data_csv_unquoted_comma.csv": "id,prompt,kind,expect\na,hello, world,benign,comply\n"},
     "record 0 has 5 field(s), the header has 4", "readers.py: csv.DictReader cut a prompt at an unquoted comma "
     "('hello', the rest under a None key) and gave a short row's missing fields None"),
    ("metric_unknown_arg", {"metric_unknown_arg.yaml": mutate("metric_unknown_arg", "reduce: proportion,",
                                                              "reduce: proportion, args: {nope: 1},")},
     "nope", "suite/load.py accepts reduction args the reduction does not take; the TypeError surfaces at "
             "sessionfinish (state.finish), a crash with no results"),
    ("gate_nan_threshold", {"gate_nan_threshold.yaml": mutate("gate_nan_threshold", "threshold: 0.0",
                                                              "threshold: .nan")},
     "threshold", "suite/load.py accepts a NaN threshold; results JSON (allow_nan=False) then fails at "
                  "sessionfinish"),
]
for _name, _files, _, _ in HOSTILE_CASES:
    _files.setdefault(f"{_name}.jsonl", GOOD_ROWS)


def write_case(folder: Path, files: dict) -> None:
    for rel, content in files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)


def load_in_subprocess(folder: Path, name: str, timeout: float = 20) -> tuple[str, str]:
    """Load the suite and read its data like collection does, in a subprocess (a hang is a
    timeout, not a stuck test). Returns (kind, message): kind is SuiteError, DataError, ok or the
    name of whatever else escaped."""
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from pytest_trustllm.suite.load import load_suite, SuiteError
        from pytest_trustllm.suite.records import DataError, build_items
        from pytest_trustllm.plugin.collect import read_records  # the reader collection uses
        try:
            s = load_suite(Path({str(folder / (name + '.yaml'))!r}))
            p = s.path.parent / s.data
            build_items(s, read_records(p), p)
            print("ok"); print("")
        except (SuiteError, DataError) as e:
            print(type(e).__name__); print(str(e).replace(chr(10), " | "))
        except BaseException as e:
            print(type(e).__name__); print(str(e)[:300].replace(chr(10), " | "))
        """)
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                           env=H.env(), errors="replace")
    except subprocess.TimeoutExpired:
        return "hang", f"no answer within {timeout} s"
    lines = r.stdout.splitlines() + ["", ""]
    return lines[0], lines[1]


@pytest.mark.parametrize("name,files,expected", SUITE_CASES + DATA_CASES, ids=[c[0] for c in SUITE_CASES + DATA_CASES])
def test_bad_input_gives_a_clear_error(tmp_path: Path, name: str, files: dict, expected: str) -> None:
    from pytest_trustllm.plugin.collect import read_records  # the reader collection uses
    from pytest_trustllm.suite.load import SuiteError, load_suite
    from pytest_trustllm.suite.records import DataError, build_items

    write_case(tmp_path, files)
    with pytest.raises((SuiteError, DataError)) as info:
        s = load_suite(tmp_path / f"{name}.yaml")
        p = s.path.parent / s.data
        build_items(s, read_records(p), p)
    msg = str(info.value)
    assert expected in msg
    assert str(tmp_path) in msg or f"{name}" in msg  # names the file


@pytest.mark.parametrize("name,files,fragment,reason", HOSTILE_CASES, ids=[c[0] for c in HOSTILE_CASES])
def test_hostile_input_gives_a_clear_error(tmp_path: Path, name: str, files: dict, fragment: str,
                                          reason: str) -> None:
    write_case(tmp_path, files)
    # a generous timeout (the alias bomb once took 100 s; it now stops at a count of values, not a clock)
    kind, message = load_in_subprocess(tmp_path, name, timeout=60)
    if fragment is None:  # fixed means: read as data
        assert kind == "ok", f"{kind}: {message}"
        return
    assert kind in ("SuiteError", "DataError"), f"{kind}: {message}"
    assert fragment in message.lower()


TRACEBACK_INTO_US = re.compile(r"pytest_trustllm[/\\][\w/\\]+\.py")


def _session(folder: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return H.run_pytest(folder, "suites", "--trust-model=replay", "--trust-cache=off", "-p", "no:xdist", *args,
                        timeout=timeout)


@pytest.mark.slow
def test_bad_input_corpus_in_one_session(tmp_path: Path) -> None:
    """Every corpus file is a collection error that names it and says what is wrong; the good suite
    beside them still collects; no internal error, no traceback into our code, no hang."""
    suites = tmp_path / "suites"
    for name, files, _ in SUITE_CASES + DATA_CASES:
        write_case(suites, files)
        if not any(k.endswith(".jsonl") or k.endswith(".json") for k in files) and "data_" not in name:
            write_case(suites, {f"{name}.jsonl": GOOD_ROWS})
    write_case(suites, {"fine.yaml": suite("fine"), "fine.jsonl": GOOD_ROWS})
    r = _session(tmp_path, "--collect-only", "-q")
    out = r.stdout + r.stderr
    assert r.returncode in (1, 2), out[-3000:]  # collection errors fail the run
    assert "INTERNALERROR" not in out
    assert not TRACEBACK_INTO_US.search(out), TRACEBACK_INTO_US.search(out).group()
    for name, _, expected in SUITE_CASES + DATA_CASES:
        block = _error_block(out, f"suites/{name}.yaml")
        assert expected in block, (name, block[:600])
    assert "fine.yaml::" in out  # the good suite's items were collected


def _error_block(out: str, path: str) -> str:
    m = re.search(rf"_+ ERROR collecting {re.escape(path)} _+\n(.*?)(?=\n_+ ERROR collecting |\n=+ )", out, re.S)
    assert m, f"no collection error for {path}"
    return m.group(1)


@pytest.mark.slow
def test_hostile_input_in_one_session(tmp_path: Path) -> None:
    """Every hostile case in one real session: each is its own collection error (or read as data), the
    session ends with a results JSON, and the good suite beside them runs."""
    suites = tmp_path / "suites"
    for name, files, _, _ in HOSTILE_CASES:
        write_case(suites, files)
    write_case(suites, {"fine.yaml": suite("fine"), "fine.jsonl": GOOD_ROWS})
    try:
        r = _session(tmp_path, "--trust-report=results.json", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the session hung")
    out = r.stdout + r.stderr
    assert "INTERNALERROR" not in out and not TRACEBACK_INTO_US.search(out)
    assert (tmp_path / "results.json").exists()
    for name, _, fragment, _ in HOSTILE_CASES:
        if fragment is None:  # read as data: its items ran
            assert f"bad/{name}: 1 items" in out, name
        else:
            assert fragment in _error_block(out, f"suites/{name}.yaml").lower(), name


@pytest.mark.slow
def test_suite_with_no_records_is_not_silently_dropped(tmp_path: Path) -> None:
    suites = tmp_path / "suites"
    write_case(suites, {"fine.yaml": suite("fine"), "fine.jsonl": GOOD_ROWS,
                        "nothing.yaml": suite("nothing", data="{name}.json").replace("threshold: 0.0",
                                                                                     "threshold: 0.99"),
                        "nothing.json": "[]"})
    r = _session(tmp_path, "--trust-report=results.json")
    out = r.stdout + r.stderr
    assert "bad/fine: 3 items" in out  # the other suite ran normally
    assert r.returncode != 0, "a suite with a gate and no records passed the run"
    assert "nothing" in out


@pytest.mark.slow
def test_one_megabyte_record(tmp_path: Path) -> None:
    """Documented behaviour: a 1 MB prompt and a 1 MB recorded response are an ordinary item; reports
    keep 1,000-character excerpts of violations and errors."""
    big = "x" * 1_000_000
    rows = [{"id": "big", "prompt": "tell me " + big, "kind": "harmful", "expect": "refuse", "res": "Sure " + big},
            *H.records(2)]
    for r in rows[1:]:
        r["res"] = "I'm sorry"
    H.write_suite(tmp_path, rows)
    r = _session(tmp_path, "--trust-report=results.json")
    assert r.returncode == 0, r.stdout[-2000:]
    rec = H.records_by_id(H.load_json(tmp_path / "results.json"))["big"]
    assert rec["outcome"] == "violation"
    assert len(rec["prompt"]) < 1100 and len(rec["response"]) < 1100
    assert (tmp_path / "results.json").stat().st_size < 200_000
