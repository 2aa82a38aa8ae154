"""Streaming readers for suite data files: memory stays near the size of the records themselves,
whatever the size of the file (reading it whole would hold the bytes, the decoded text and the split
lines at once: about 5x the file size at its peak).

``read_records(path)`` / ``iter_records(path)`` read a JSON list, JSONL or CSV file of objects.
``DataError`` names the problem: file not found, folder, not UTF-8 (with the byte offset from the
start of the file), empty, invalid JSON with the line, not a list, record N not an object, and the
cases a naive reader lets escape as an exception or loses silently:

- JSON nested too deeply (``RecursionError``), Infinity and numbers like 1e999 (not JSON numbers
  Python can hold; they would break the results JSON later); NaN, pandas' missing value, is null, and ``\\uD83D``-style escapes that leave a lone surrogate (not encodable as
  UTF-8: they would break the cache, the results and the reports later);
- JSONL lines are split at ``\\n`` only: U+2028, U+2029 and U+0085 are legal inside JSON strings;
- CSV fields larger than 128 KiB (``csv.field_size_limit``), CSV syntax errors (``csv.Error``), an
  unterminated quote (which otherwise swallows the rest of the file into one field), and a row with
  more or fewer fields than the header (an unquoted comma, which ``csv.DictReader`` would silently
  cut off the prompt) or a header naming a column twice.
"""
from __future__ import annotations

import codecs
import csv
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator


CHUNK = 1 << 20  # bytes read at a time
CSV_FIELD_LIMIT = 1 << 30  # csv.field_size_limit is process-wide; raised once, to 1 GiB
_WS = " \t\r\n"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class DataError(Exception):
    """A data file that cannot be used; the message says which and why, ``keypath`` names the
    suite key involved and ``fix`` how to mend it."""

    def __init__(self, message: str, keypath: str = "data", fix: str = "") -> None:
        super().__init__(message)
        self.keypath = keypath
        self.fix = fix


def read_records(path: Path) -> list[dict[str, Any]]:
    """All records of a JSON list, JSONL or CSV file (see the module docstring for the errors)."""
    return list(iter_records(path))


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    path = Path(path)
    _check_text(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _jsonl(path)
    elif suffix == ".csv":
        yield from _csv(path)
    else:
        yield from _json_list(path)


# -- the whole file: exists, UTF-8, not empty (one streaming pass, no memory) -------------------

def _check_text(path: Path) -> None:
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"data file not found: {path}", "data",
                        "point 'data' at an existing file (relative to the suite), or set --trust-data / "
                        "$TRUSTLLM_DATA to the folder of the TrustLLM files") from None
    except IsADirectoryError:
        raise DataError(f"data path is a folder, not a file: {path}") from None
    # plain UTF-8 with the BOM skipped by hand: the utf-8-sig incremental decoder silently drops
    # a file that is only the start of a BOM (b"\xef")
    decoder = codecs.getincrementaldecoder("utf-8")()
    content = False
    with f:
        head = f.read(3)
        consumed, carry = (3, b"") if head == codecs.BOM_UTF8 else (0, head)
        while True:
            raw = f.read(CHUNK)
            block, carry = carry + raw, b""
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(block, final=not raw)
            except UnicodeDecodeError as e:  # the offset counts from the start of the file
                raise DataError(f"{path}: not UTF-8 text (invalid byte at offset "
                                f"{consumed - pending + e.start})") from None
            consumed += len(block)
            content = content or bool(text.strip())
            if not raw:
                break
    if not content:
        raise DataError(f"{path}: the data file is empty")


# -- JSON values --------------------------------------------------------------------------------

def _constant(name: str) -> Any:
    """NaN is how pandas writes a missing value (the official implicit_SocialChemistry101.json has
    them): it is read as null. Infinity has no such meaning and would break the results JSON."""
    if name == "NaN":
        return None
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of range for a float")
    return value


_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_finite)


def _lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in a decoded JSON value, as its escape, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            return f"\\u{ord(value[e.start]):04x}"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            bad = _lone_surrogate(k) or _lone_surrogate(v)
            if bad:
                return bad
    elif isinstance(value, list):
        for v in value:
            bad = _lone_surrogate(v)
            if bad:
                return bad
    return None


def _record(path: Path, where: str, index: int, value: Any, raw: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataError(f"{path}: record {index} is a {type(value).__name__}, not an object")
    if ("\\ud" in raw or "\\uD" in raw) and _SURROGATE_ESCAPE.search(raw):
        bad = _lone_surrogate(value)
        if bad:
            raise DataError(f"{path}{where}: record {index} holds a lone surrogate ({bad}): a broken "
                            "\\uXXXX escape; such text cannot be stored or reported as UTF-8")
    return value


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    index, n = 0, 0
    with open(path, "rb") as f:
        for raw in _lines(f):
            n += 1
            text = raw.decode("utf-8-sig" if n == 1 else "utf-8").strip(_WS)
            if not text:
                continue
            try:
                value = _DECODER.decode(text)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{n}: invalid JSON line: {e.msg}") from None
            except ValueError as e:  # NaN / Infinity
                raise DataError(f"{path}:{n}: invalid JSON line: {e}") from None
            except RecursionError:
                raise DataError(f"{path}:{n}: invalid JSON line: nested too deeply") from None
            yield _record(path, f":{n}", index, value, text)
            index += 1


# str.splitlines' breaks that JSON never has raw inside a string; U+2028, U+2029 and U+0085 may be
# there, raw (json.dumps(ensure_ascii=False) leaves them), so unlike str.splitlines they do not
# end a line here
_BREAKS = re.compile(rb"\r\n|[\r\x0b\x0c\x1c\x1d\x1e]")
_BREAK_BYTES = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")


def _lines(f) -> Iterator[bytes]:
    """Lines as str.splitlines() would cut them, except at U+2028, U+2029 and U+0085."""
    for line in f:
        body = line[:-2] if line.endswith(b"\r\n") else line[:-1] if line.endswith(b"\n") else line
        # substring tests are fast scans; the regex only runs on the rare line that needs it
        yield from _BREAKS.split(body) if any(b in body for b in _BREAK_BYTES) else (body,)


def _json_list(path: Path) -> Iterator[dict[str, Any]]:
    """A JSON list, one element at a time: ``raw_decode`` over a growing window of the file."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        buf, pos, line0, eof = "", 0, 1, False  # line0: the line number at buf[0]

        def more(need_double: bool = False) -> bool:
            nonlocal buf, pos, line0, eof
            if eof:
                return False
            line0 += buf.count("\n", 0, pos)
            buf = buf[pos:]
            pos = 0
            block = f.read(max(CHUNK, len(buf)) if need_double else CHUNK)
            eof = not block
            buf += block
            return not eof

        def skip_ws() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in _WS:
                    pos += 1
                if pos < len(buf) or not more():
                    return buf[pos] if pos < len(buf) else ""

        def fail(msg: str, at: int) -> DataError:
            return DataError(f"{path}:{line0 + buf.count(chr(10), 0, at)}: invalid JSON: {msg}")

        first = skip_ws()
        if first != "[":
            # not a list: parse the whole file for the reader's own messages (such files are small)
            yield from _not_a_list(path, f.read(), buf)
            return
        pos += 1
        index = 0
        if skip_ws() == "]":
            pos += 1
        else:
            while True:
                while True:
                    try:
                        value, end = _DECODER.raw_decode(buf, pos)
                    except json.JSONDecodeError as e:
                        if more(need_double=True):
                            continue  # the value runs past the window (more() keeps it at pos 0)
                        raise fail(e.msg, e.pos) from None
                    except ValueError as e:  # NaN / Infinity
                        raise fail(str(e), pos) from None
                    except RecursionError:
                        raise fail("nested too deeply", pos) from None
                    # a number or literal at the very end of the window may go on in the next block
                    if end == len(buf) and more(need_double=True):
                        continue
                    break
                start, pos = pos, end
                yield _record(path, "", index, value, buf[start:end])
                index += 1
                c = skip_ws()
                if c == ",":
                    pos += 1
                    skip_ws()  # raw_decode does not skip leading whitespace
                    continue
                if c == "]":
                    pos += 1
                    break
                raise fail("Expecting ',' delimiter" if c else "Expecting value", pos)
        if skip_ws():
            raise fail("Extra data", pos)


def _not_a_list(path: Path, rest: str, buf: str) -> Iterator[dict[str, Any]]:
    try:
        doc = _DECODER.decode(buf + rest)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    except ValueError as e:
        raise DataError(f"{path}: invalid JSON: {e}") from None
    except RecursionError:
        raise DataError(f"{path}: invalid JSON: nested too deeply") from None
    raise DataError(f"{path}: expected a JSON list of records, got a {type(doc).__name__}")
    yield  # pragma: no cover - a generator


# -- CSV ----------------------------------------------------------------------------------------

CSV_QUOTING = ('a field holding a comma, a double quote or a line break must be in double quotes, '
               'with each double quote inside doubled: "hello, world", "say ""hi"""')


def _csv(path: Path) -> Iterator[dict[str, Any]]:
    """One dict per row, keyed by the header. A row with more or fewer fields than the header is an
    error naming its line: csv.DictReader would cut the extra fields off under a ``None`` key (an
    unquoted comma in a prompt) or fill the missing ones with None. Blank lines are skipped, as
    DictReader skips them; a duplicate column name would hide a column, so it is an error too."""
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(min(CSV_FIELD_LIMIT, sys.maxsize))
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, strict=True)
        header: list[str] | None = None
        index, start = 0, 1  # start: the line the next row begins on (a quoted field may span lines)
        try:
            for row in reader:
                line, start = start, reader.line_num + 1
                if not row:
                    continue
                if header is None:
                    header = row
                    dup = next((name for k, name in enumerate(row) if name in row[:k]), None)
                    if dup is not None:
                        raise DataError(f"{path}:{line}: the CSV header names column {dup!r} twice",
                                        fix="give every column its own name")
                    continue
                if len(row) != len(header):
                    raise DataError(f"{path}:{line}: record {index} has {len(row)} field(s), the header "
                                    f"has {len(header)}", fix=CSV_QUOTING)
                yield dict(zip(header, row))
                index += 1
        except csv.Error as e:
            raise DataError(f"{path}:{max(reader.line_num, 1)}: invalid CSV: {e}", fix=CSV_QUOTING) from None


__all__ = ["read_records", "iter_records", "DataError"]
