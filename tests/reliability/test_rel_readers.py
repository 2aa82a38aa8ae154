"""The streaming reader ``pytest_trustllm.suite.readers``: the same records and messages as a plain
whole-file reader (``reference_read_records`` below, the reader it replaced: a differential
property test), correct across read-window boundaries, and clear errors where the plain reader
lets an exception escape or loses data."""
from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pytest_trustllm.suite import readers
from pytest_trustllm.suite.readers import DataError

DIR = Path(tempfile.mkdtemp(prefix="trustllm-readers-"))
SETTINGS = settings(max_examples=500, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
SCALARS = (st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=20))
VALUES = st.recursive(SCALARS, lambda v: st.lists(v, max_size=3) | st.dictionaries(st.text(max_size=5), v, max_size=3),
                      max_leaves=6)
RECORDS = st.lists(st.dictionaries(st.text(max_size=6), VALUES, min_size=1, max_size=4), min_size=1, max_size=6)


def reference_read_records(path: Path) -> list[dict[str, Any]]:
    """The plain whole-file reader the streaming one replaced: the oracle of the differential test."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"data file not found: {path}", "data",
                        "point 'data' at an existing file (relative to the suite), or set --trust-data / "
                        "$TRUSTLLM_DATA to the folder of the TrustLLM files") from None
    except IsADirectoryError:
        raise DataError(f"data path is a folder, not a file: {path}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (invalid byte at offset {e.start})") from None
    suffix = path.suffix.lower()
    if not text.strip():
        raise DataError(f"{path}: the data file is empty")
    if suffix == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{n}: invalid JSON line: {e.msg}") from None
    elif suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
    else:
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
        if not isinstance(rows, list):
            raise DataError(f"{path}: expected a JSON list of records, got a {type(rows).__name__}")
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise DataError(f"{path}: record {i} is a {type(r).__name__}, not an object")
    return rows


def _write(name: str, data: bytes) -> Path:
    p = DIR / name
    p.write_bytes(data)
    return p


def _run(fn, path: Path):
    try:
        return "ok", fn(path)
    except DataError as e:
        return "DataError", str(e)
    except Exception as e:  # noqa: BLE001 - the old reader's defects
        return type(e).__name__, str(e)


def _has(value, pred) -> bool:
    if isinstance(value, dict):
        return any(_has(k, pred) or _has(v, pred) for k, v in value.items())
    if isinstance(value, list):
        return any(_has(v, pred) for v in value)
    return pred(value)


def _lone_surrogate(v) -> bool:
    return isinstance(v, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in v)


def _nan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _nan_to_none(value):
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return None if _nan(value) else value


def _non_finite(v) -> bool:
    return isinstance(v, float) and not math.isfinite(v)


def _csv_difference_is_a_fixed_defect(data: bytes, old: list[dict], new: tuple) -> None:
    """Where the old reader (csv.DictReader, not strict) read a CSV file and the new one differs, the
    difference is one of the defects the new one fixes, each checked on the old reader's own output."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    header = rows[0] if rows else []
    if new[0] == "DataError" and "invalid CSV" in new[1]:
        return  # strict CSV: the old reader guessed
    if not header:  # a blank first line: DictReader took it as an empty header, the new reader skips it
        assert all(set(r) <= {None} for r in old), old
        return
    if new[0] == "DataError" and "names column" in new[1]:
        assert len(set(header)) < len(header), (header, new)  # the old reader kept one of the two
        return
    # a row with more or fewer fields than the header: the old reader cut it under a None key or
    # filled it with None
    assert new[0] == "DataError" and "field(s), the header has" in new[1], new
    assert any(None in r or None in r.values() for r in old), old


@SETTINGS
@given(st.binary(max_size=200) | st.binary(max_size=20).map(lambda b: b"\xef\xbb\xbf" + b) | RECORDS.map(lambda r: json.dumps(r).encode()) |
       RECORDS.map(lambda r: "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in r).encode("utf-8", "surrogatepass")),
       st.sampled_from([".json", ".jsonl", ".csv", ".txt"]))
def test_same_results_and_messages_as_the_old_reader(data: bytes, suffix: str) -> None:
    assume(data.count(b"[") < 200 and data.count(b"{") < 200)
    path = _write("d" + suffix, data)
    old, new = _run(reference_read_records, path), _run(readers.read_records, path)
    text = data.decode("utf-8", "ignore")
    if old[0] == "ok":
        if _has(old[1], _nan) and not _has(old[1], _lone_surrogate) and new[0] == "ok":
            assert new[1] == _nan_to_none(old[1])  # NaN is read as a missing value
        elif _has(old[1], _lone_surrogate) or _has(old[1], _non_finite):  # the new reader refuses these, with a message
            assert new[0] == "DataError" and ("surrogate" in new[1] or "valid JSON" in new[1] or "out of range" in new[1])
        elif suffix == ".csv" and new != old:
            _csv_difference_is_a_fixed_defect(data, old[1], new)
        elif suffix == ".jsonl" and any(c in text for c in "\x85\u2028\u2029"):
            pass  # the old reader split lines inside strings there
        else:
            assert new == old
    elif old[0] == "DataError":
        if suffix == ".jsonl" and any(c in text for c in "\x85\u2028\u2029"):
            return
        if data.startswith(b"\xef\xbb\xbf") and "invalid byte at offset" in old[1]:
            # the old reader counts the offset from after the BOM, the new one from the file start
            n = int(old[1].rsplit(" ", 1)[1].rstrip(")"))
            assert new == ("DataError", old[1].replace(f"offset {n})", f"offset {n + 3})"))
            return
        assert new == old
    else:  # the old reader crashed: the new one gives a DataError or reads it
        assert new[0] in ("DataError", "ok"), new


@SETTINGS
@given(RECORDS, st.integers(1, 40), st.booleans())
def test_json_list_across_window_boundaries(rows: list, chunk: int, pretty: bool) -> None:
    """Tiny read windows: every value, string and number straddles a boundary somewhere."""
    assume(not _has(rows, _lone_surrogate))
    path = _write("w.json", json.dumps(rows, indent=1 if pretty else None, ensure_ascii=pretty).encode("utf-8"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(readers, "CHUNK", chunk)
        assert readers.read_records(path) == rows


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64])
def test_json_list_errors_name_the_line_with_tiny_windows(chunk: int, monkeypatch) -> None:
    monkeypatch.setattr(readers, "CHUNK", chunk)
    path = _write("e.json", b'[\n {"a": 1},\n {"a": 2}\n {"a": 3}\n]\n')
    with pytest.raises(DataError) as new:
        readers.read_records(path)
    with pytest.raises(DataError) as old:
        reference_read_records(path)
    assert str(new.value) == str(old.value)  # e.json:4: invalid JSON: Expecting ',' delimiter
    path = _write("n.json", b'[{"a": 1}, {"a": 23}]')
    assert readers.read_records(path) == [{"a": 1}, {"a": 23}]


@pytest.mark.parametrize("name,data,message", [
    ("inf.json", b'[{"a": -Infinity}]', "-Infinity is not valid JSON"),
    ("inf.jsonl", b'{"a": 1e999}\n', "1e999 is out of range"),
    ("deep.json", b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    ("deep.jsonl", b"[" * 50_000 + b"]" * 50_000 + b"\n", "nested too deeply"),
    ("sur.jsonl", b'{"prompt": "half \\ud83d emoji"}\n', "lone surrogate (\\ud83d)"),
    ("sur.json", b'[{"x": ["ok", {"\\udc00": 1}]}]', "lone surrogate (\\udc00)"),
    ("quote.csv", b'id,prompt\na,"unterminated\nb,c\n', "invalid CSV"),
    ("strict.csv", b'id\n"a"b\n', "strict.csv:2: invalid CSV: ',' expected after '\"'"),
    # an unquoted comma in a prompt: csv.DictReader gave {'prompt': 'hello', None: [' world']}
    ("comma.csv", b"id,prompt\na,hello, world\n", "comma.csv:2: record 0 has 3 field(s), the header has 2"),
    # a short row: csv.DictReader gave {'id': 'b', 'prompt': None}
    ("short.csv", b"id,prompt\na,ok\nb\n", "short.csv:3: record 1 has 1 field(s), the header has 2"),
    # the line a record starts on, after a quoted field that spans lines and a blank line
    ("span.csv", b'id,prompt\na,"one\ntwo"\n\nb,x,y\n', "span.csv:5: record 1 has 3 field(s), the header has 2"),
    ("dup.csv", b"id,prompt,id\na,b,c\n", "dup.csv:1: the CSV header names column 'id' twice"),
    ("bad.json", b"\xef\xbb\xbf \xff", "not UTF-8 text (invalid byte at offset 4)"),
    ("bomstart.json", b"\xef", "not UTF-8 text (invalid byte at offset 0)"),
])
def test_clear_errors_where_the_old_reader_failed(name: str, data: bytes, message: str) -> None:
    path = _write(name, data)
    with pytest.raises(DataError) as info:
        readers.read_records(path)
    assert message in str(info.value) and str(path) in str(info.value)
    if name.endswith(".csv"):
        assert info.value.fix in (readers.CSV_QUOTING, "give every column its own name")


def test_fixed_cases_read_correctly() -> None:
    # NaN, pandas' missing value (in the official implicit_SocialChemistry101.json), is null
    assert readers.read_records(_write("nan.json", b'[{"a": NaN, "b": 1.5}]')) == [{"a": None, "b": 1.5}]
    # a 1 MB CSV field (over csv's default 128 KiB limit)
    big = "x" * 1_000_000
    assert readers.read_records(_write("big.csv", f"id,prompt\na,{big}\n".encode())) == [{"id": "a", "prompt": big}]
    # U+2028 / U+0085 raw inside a JSONL string (json.dumps(ensure_ascii=False) writes them so)
    rows = [{"p": "one\u2028two"}, {"p": "x\x85y"}, {"p": "\u2029"}]
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    assert readers.read_records(_write("sep.jsonl", data)) == rows
    # CRLF and CR-only line ends, a BOM, blank lines
    assert readers.read_records(_write("cr.jsonl", b'\xef\xbb\xbf{"a":1}\r\n\r\n{"a":2}\r{"a":3}')) == \
        [{"a": 1}, {"a": 2}, {"a": 3}]
    # a bare CR (the old reader raised csv.Error): CSV line ends are read as the csv module wants them
    # a bare CR (the old reader raised csv.Error): a blank line, then the header; no records
    assert readers.read_records(_write("cr.csv", b"\r\x00")) == []
    assert readers.read_records(_write("cr2.csv", b"id,p\ra,b\r\nc,\"d,e\"\r")) == \
        [{"id": "a", "p": "b"}, {"id": "c", "p": "d,e"}]
    # valid surrogate pairs are fine
    assert readers.read_records(_write("pair.json", b'[{"e": "\\ud83d\\ude00"}]')) == [{"e": "\U0001F600"}]


def test_iter_records_streams() -> None:
    """Records come one at a time: the first is available before the file is read to its end."""
    path = _write("stream.json", b'[{"a": 1},' + b" " * (3 << 20) + b'{"a": 2}, oops]')
    it = readers.iter_records(path)
    assert next(it) == {"a": 1}
    assert next(it) == {"a": 2}
    with pytest.raises(DataError, match="Expecting value"):
        next(it)


def test_csv_rows_that_do_not_fit_the_header_are_exact_errors() -> None:
    """The rows of issue 17: csv.DictReader cut an unquoted comma's prompt to 'hello' (the rest under
    a None key) and gave a short row prompt None; both are errors naming file, line and counts, and
    the quoted form of the same row reads whole."""
    comma = _write("issue.csv", b"id,prompt\na,hello, world\n")
    with pytest.raises(DataError) as info:
        readers.read_records(comma)
    assert str(info.value) == f"{comma}:2: record 0 has 3 field(s), the header has 2"
    short = _write("issue-short.csv", b"id,prompt\nb\n")
    with pytest.raises(DataError) as info:
        readers.read_records(short)
    assert str(info.value) == f"{short}:2: record 0 has 1 field(s), the header has 2"
    assert info.value.fix == readers.CSV_QUOTING
    quoted = _write("issue-quoted.csv", b'id,prompt\na,"hello, world"\nb,"say ""hi"""\n')
    assert readers.read_records(quoted) == [{"id": "a", "prompt": "hello, world"}, {"id": "b", "prompt": 'say "hi"'}]
