"""Property-based tests (hypothesis, 1,000 examples each) of the suite loader and the record reader:
whatever the input, they return a valid result or raise their own user-facing error
(``SuiteError`` / ``DataError``), and what they return is faithful to the file.

No input shape is assumed away: YAML tags, the bare "=" scalar, deep nesting, CSV syntax errors and
ragged CSV rows (each a defect once, fixed, with its own test in test_rel_bad_input.py or
test_rel_readers.py) are all in reach of the strategies. Only lone surrogates are left out of the
generated text: a file holding one cannot be written as UTF-8 (the ``\ud83d`` escape in JSON data
is tested in test_rel_readers.py).
"""
from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_trustllm.plugin.collect import read_records  # the reader collection uses
from pytest_trustllm.suite.load import SuiteError, load_suite
from pytest_trustllm.suite.records import DataError, build_items

EXAMPLES = 1000
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
FEWER = settings(SETTINGS, max_examples=200)  # secondary properties: the 1,000 run on the main ones

# text that can be written as UTF-8 (no lone surrogates)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
KEYS = st.sampled_from(["id", "prompt", "kind", "label", "res", "source", "x"]) | TEXT
SCALARS = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | TEXT
# small sizes: generating big recursive values is what costs time, not the code under test
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
                    max_leaves=5)

VALID = {
    "trustllm_suite": 1, "id": "prop/suite", "dimension": "safety", "task": "prop",
    "data": "data.jsonl", "record": {"id": "id", "prompt": "prompt", "fields": ["kind"]},
    "generation": {"temperature": 0.0, "max_new_tokens": 16},
    "scorer": {"name": "keyword_refusal", "args": {"expect": "refuse"}},
    "metrics": [{"name": "rate", "reduce": "proportion", "direction": "higher"}],
    "gates": [{"metric": "rate", "op": ">=", "threshold": 0.5}],
}
PATHS = [(), ("record",), ("generation",), ("scorer",), ("metrics", 0), ("gates", 0)]


def _tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="trustllm-prop-"))


DIR = _tmp()


@st.composite
def mutated_suites(draw) -> dict[str, Any]:
    """The valid suite with a few random edits: keys deleted, values replaced by random JSON
    values, unknown keys added, or values swapped between keys."""
    doc = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        node: Any = doc
        try:
            for p in path:
                node = node[p]
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(node, dict) or not node:
            continue
        key = draw(st.sampled_from(sorted(node)))
        action = draw(st.sampled_from(["delete", "replace", "add", "swap"]))
        if action == "delete":
            del node[key]
        elif action == "replace":
            node[key] = draw(JSON)
        elif action == "add":
            node[draw(KEYS)] = draw(JSON)
        else:
            other = draw(st.sampled_from(sorted(node)))
            node[key], node[other] = node[other], node[key]
    return doc


def _load_text(text: str | bytes) -> Any:
    path = DIR / "suite.yaml"
    (path.write_bytes if isinstance(text, bytes) else lambda t: path.write_text(t, encoding="utf-8"))(text)
    try:
        return load_suite(path)
    except SuiteError as e:
        assert str(path) in str(e)  # every error names the file
        assert e.message
        return e


def counted(prop) -> int:
    """Run a hypothesis property; returns how many examples it ran (the issue asks for 1,000)."""
    calls = []
    original = prop.hypothesis.inner_test

    def inner(*a, **k):
        calls.append(1)
        return original(*a, **k)

    prop.hypothesis.inner_test = inner
    prop()
    return len(calls)


def test_loader_mutated_suites() -> None:
    assert counted(loader_mutated_suites) >= EXAMPLES


@SETTINGS
@given(mutated_suites())
def loader_mutated_suites(doc: dict[str, Any]) -> None:
    """A suite with random edits loads or is a SuiteError naming the key path; what loads keeps the
    document's values."""
    out = _load_text(yaml.safe_dump(doc, allow_unicode=True))
    if isinstance(out, SuiteError):
        if out.keypath:  # the error points at a key the document has (or a required one it lacks)
            assert any(out.keypath == k or out.keypath.startswith((f"{k}.", f"{k}["))
                       for k in [*doc, *VALID]), out.keypath
        return
    assert out.id == doc["id"] and out.data == doc["data"] and out.dimension == doc["dimension"]
    assert [m.name for m, _ in out.metrics] == [m["name"] for m in doc["metrics"]]
    assert len(out.gates) == len(doc.get("gates") or [])


@FEWER
@given(st.dictionaries(KEYS, JSON, max_size=8) | st.lists(JSON, max_size=4) | JSON)
def test_loader_arbitrary_documents(doc: Any) -> None:
    out = _load_text(yaml.safe_dump(doc, allow_unicode=True))
    assert isinstance(out, SuiteError)  # none of these is a complete suite


@FEWER
@given(st.binary(max_size=300) | TEXT.map(lambda t: t.encode("utf-8")))
def test_loader_arbitrary_bytes(data: bytes) -> None:
    """YAML tags and the bare "=" scalar included (defects fixed in the loader): a SuiteError."""
    assert isinstance(_load_text(data), SuiteError)


# -- record reader -----------------------------------------------------------------------------

RECORD = st.dictionaries(KEYS, SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(KEYS, SCALARS, max_size=2),
                         min_size=1, max_size=5)


def _write(name: str, data: bytes) -> Path:
    p = DIR / name
    p.write_bytes(data)
    return p


def test_reader_round_trips_json() -> None:
    assert counted(reader_round_trips_json) >= EXAMPLES


@SETTINGS
@given(st.lists(RECORD, min_size=1, max_size=4), st.sampled_from([".json", ".jsonl"]), st.booleans())
def reader_round_trips_json(rows: list[dict], suffix: str, pretty: bool) -> None:
    """What is written as a JSON list or JSONL comes back equal, in order (U+2028, U+2029 and U+0085
    raw inside JSONL strings included)."""
    if suffix == ".json":
        text = json.dumps(rows, ensure_ascii=False, indent=1 if pretty else None)
    else:
        text = "".join(json.dumps(r, ensure_ascii=pretty) + ("\r\n" if pretty else "\n") for r in rows)
    assert read_records(_write("d" + suffix, text.encode("utf-8"))) == rows


CSV_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)


@FEWER
@given(st.lists(st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=6),
                min_size=1, max_size=5, unique=True).flatmap(
    lambda header: st.tuples(st.just(header), st.lists(st.lists(CSV_TEXT, min_size=len(header),
                                                                max_size=len(header)), min_size=1, max_size=6))))
def test_reader_round_trips_csv(table: tuple[list[str], list[list[str]]]) -> None:
    """CSV written by the csv module comes back as one dict of strings per row (quotes, commas,
    newlines inside fields included)."""
    header, rows = table
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    got = read_records(_write("d.csv", buf.getvalue().encode("utf-8")))
    assert got == [dict(zip(header, r)) for r in rows]


def test_reader_arbitrary_bytes() -> None:
    assert counted(reader_arbitrary_bytes) >= EXAMPLES


@SETTINGS
@given(st.binary(max_size=400), st.sampled_from([".json", ".jsonl", ".csv"]))
def reader_arbitrary_bytes(data: bytes, suffix: str) -> None:
    """Any bytes, deep nesting and CSV syntax errors included: a list of dicts, or a DataError naming
    the file; nothing else escapes. A CSV record's keys are its header's and its values strings (no
    None key for extra fields, no None for missing ones)."""
    path = _write("x" + suffix, data)
    try:
        rows = read_records(path)
    except DataError as e:
        assert str(path) in str(e)
        return
    assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    if suffix == ".csv" and rows:
        header = list(rows[0])
        assert all(list(r) == header and all(isinstance(v, str) for v in r.values()) for r in rows), rows


@FEWER
@given(st.lists(st.fixed_dictionaries({"prompt": TEXT, "kind": st.sampled_from(["a", "b"])}), min_size=1,
                max_size=40), st.integers(1, 7))
def test_items_ids_unique_and_stable(rows: list[dict], chunk: int) -> None:
    """Items built from any records have unique ids, the same ids on every build (xdist workers
    must agree), and chunks of at most ``chunk_size`` in file order."""
    path = DIR / "ids.yaml"
    path.write_text(yaml.safe_dump({**VALID, "record": {"prompt": "prompt", "fields": ["kind"]},
                                    "chunk_size": chunk}), encoding="utf-8")
    suite = load_suite(path)
    a = build_items(suite, rows, DIR / "data.jsonl")
    b = build_items(suite, [dict(r) for r in rows], DIR / "data.jsonl")
    assert [i.id for i in a] == [i.id for i in b]
    assert len({i.id for i in a}) == len(rows)
    assert [i.index for i in a] == list(range(len(rows)))
    sizes: dict[int, int] = {}
    for it in a:
        sizes[it.chunk] = sizes.get(it.chunk, 0) + 1
    assert max(sizes.values()) <= chunk
    assert [i.chunk for i in a] == sorted(i.chunk for i in a)


def test_csv_error_is_a_data_error() -> None:
    """The two inputs that once escaped as csv.Error: a bare CR reads as a blank line before the
    header (no records); a character after a closing quote is an error naming the line."""
    assert read_records(_write("x.csv", b"\r\x00")) == []
    path = _write("y.csv", b'id\n"a"b\n')
    with pytest.raises(DataError) as info:
        read_records(path)
    assert str(info.value) == f"{path}:2: invalid CSV: ',' expected after '\"'"


def test_jsonl_line_separator_inside_a_string() -> None:
    rows = [{"id": "a", "prompt": "one\u2028two"}, {"id": "b", "prompt": "x\x85y"}]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    assert read_records(_write("sep.jsonl", text.encode("utf-8"))) == rows
