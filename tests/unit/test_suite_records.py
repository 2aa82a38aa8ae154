"""Items from records: stable ids, groups kept whole in batches and samples."""
import dataclasses
from pathlib import Path

import pytest

from pytest_trustllm.suite.load import load_suite
from pytest_trustllm.suite.records import DataError, ItemSpec, build_items, read_records, rechunk, sample_items

SUITE = """\
trustllm_suite: 1
id: t/groups
dimension: safety
data: d.jsonl
chunk_size: {chunk}
record: {{group: {group}, stratify: kind}}
scorer: exact
metrics: [{{name: acc, reduce: proportion}}]
"""


def make(tmp_path: Path, rows, group="pair", chunk=4):
    (tmp_path / "s.yaml").write_text(SUITE.format(group=group, chunk=chunk))
    import json

    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = load_suite(tmp_path / "s.yaml")
    return suite, build_items(suite, read_records(tmp_path / "d.jsonl"), tmp_path / "d.jsonl")


def rows(n, kinds=("a", "b")):
    return [{"prompt": f"p{i}", "pair": i // 3, "kind": kinds[i % len(kinds)], "answer": "x"} for i in range(n)]


def test_ids_are_index_plus_prompt_hash_and_stable(tmp_path):
    _, a = make(tmp_path, rows(10))
    _, b = make(tmp_path, rows(10))
    assert [i.id for i in a] == [i.id for i in b]
    assert a[3].id.startswith("r00003-") and len(a[3].id) == len("r00003-") + 8
    changed = rows(10)
    changed[3]["prompt"] = "different"
    _, c = make(tmp_path, changed)
    assert c[3].id != a[3].id and c[4].id == a[4].id


def test_groups_never_split_across_batches(tmp_path):
    _, items = make(tmp_path, rows(20), chunk=4)  # groups of 3 into batches of at most 4
    chunk_of = {}
    for it in items:
        chunk_of.setdefault(it.group, set()).add(it.chunk)
    assert all(len(c) == 1 for c in chunk_of.values())
    sizes = {}
    for it in items:
        sizes[it.chunk] = sizes.get(it.chunk, 0) + 1
    assert max(sizes.values()) <= 4


def test_consecutive_groups_only_among_matching_records(tmp_path):
    data = [{"prompt": f"p{i}", "source": "pref" if i >= 2 else "persona", "answer": ""} for i in range(8)]
    _, items = make(tmp_path, data, group="{consecutive: 2, where: {source: pref}}")
    assert [i.group for i in items] == [None, None, "run0", "run0", "run1", "run1", "run2", "run2"]


def test_sample_is_seeded_stratified_and_keeps_groups(tmp_path):
    _, items = make(tmp_path, rows(300), chunk=64)
    a = sample_items(items, 60, "1:t", "kind")
    b = sample_items(items, 60, "1:t", "kind")
    c = sample_items(items, 60, "2:t", "kind")
    assert [i.id for i in a] == [i.id for i in b]
    assert [i.id for i in a] != [i.id for i in c]
    assert 54 <= len(a) <= 66
    groups = {}
    for it in a:
        groups.setdefault(it.group, 0)
        groups[it.group] += 1
    assert all(n == 3 for n in groups.values())  # whole groups only
    kinds = [it.record["kind"] for it in a]
    assert abs(kinds.count("a") - kinds.count("b")) <= 6


def test_duplicate_ids_are_an_error(tmp_path):
    (tmp_path / "s.yaml").write_text(SUITE.format(group="null", chunk=4).replace(
        "record: {group: null, stratify: kind}", "record: {id: id}"))
    (tmp_path / "d.jsonl").write_text('{"id": 1, "prompt": "a"}\n{"id": 1, "prompt": "b"}\n')
    suite = load_suite(tmp_path / "s.yaml")
    with pytest.raises(DataError, match="duplicate id '1'"):
        build_items(suite, read_records(tmp_path / "d.jsonl"), tmp_path / "d.jsonl")


@pytest.mark.parametrize("name,content,message", [
    ("d.json", '{"a": 1}', "expected a JSON list"),
    ("d.json", "[1, 2]", "record 0 is a int"),
    ("d.jsonl", '{"a": 1}\n{oops\n', "d.jsonl:2: invalid JSON line"),
    ("d.json", "", "empty"),
])
def test_bad_data_files(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=message):
        read_records(tmp_path / name)


def test_csv_and_non_utf8(tmp_path):
    (tmp_path / "d.csv").write_text("prompt,answer\nhello,world\n")
    assert read_records(tmp_path / "d.csv") == [{"prompt": "hello", "answer": "world"}]
    (tmp_path / "bad.json").write_bytes(b'[{"prompt": "\xff"}]')
    with pytest.raises(DataError, match="not UTF-8"):
        read_records(tmp_path / "bad.json")


def test_rechunk_fills_batches_after_sampling_and_keeps_groups_whole(tmp_path):
    _, items = make(tmp_path, rows(300), chunk=7)  # groups of 3: batches of two groups (6)
    sample = sample_items(items, 30, "1:t", "kind")
    assert len(sample) == 30 and len({it.chunk for it in sample}) > 5  # before: the file's batches, half empty
    out = rechunk(sample, 7)
    assert [it.id for it in out] == [it.id for it in sample]  # the same items, in the same order
    assert [dataclasses.replace(it, chunk=0) for it in out] == [dataclasses.replace(it, chunk=0) for it in sample]
    chunks = [it.chunk for it in out]
    assert chunks == sorted(chunks) and sorted(set(chunks)) == list(range(len(sample) // 6))
    for it in out:  # groups whole
        assert {o.chunk for o in out if o.group == it.group} == {it.chunk}
    assert rechunk(out, 7) == out


def test_rechunk_places_a_group_by_its_first_member_and_never_splits_it():
    def spec(i, group):
        return ItemSpec(f"r{i}", i, f"p{i}", {}, group, 100 + i)

    # g's members are apart: g needs 3 places in the batch where it first appears
    items = [spec(0, None), spec(1, "g"), spec(2, None), spec(3, None), spec(4, "g"), spec(5, "g"), spec(6, None)]
    assert [it.chunk for it in rechunk(items, 4)] == [0, 0, 1, 1, 0, 0, 1]
    # a group larger than a batch gets a batch of its own
    big = [spec(0, None)] + [spec(i, "big") for i in range(1, 6)] + [spec(6, None)]
    assert [it.chunk for it in rechunk(big, 2)] == [0, 1, 1, 1, 1, 1, 2]
