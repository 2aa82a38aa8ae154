"""A batch of items is generated in one backend call on one process, also under ``-n 2``."""
from __future__ import annotations

import collections

from conftest import CACHEABLE_RECORDING_BACKEND, RECORDING_BACKEND, TrustRun, read_calls, reported_ids, rows


def _batches(result) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for nid in reported_ids(result):
        file, batch, name = nid.split("::")
        out[(file, batch)].add(name)
    return out


def test_each_batch_generated_in_one_call_on_one_worker(trust: TrustRun) -> None:
    trust.conftest(RECORDING_BACKEND)
    trust.data("suites/a.jsonl", rows(40, qid=lambda i: f"a{i}"))
    trust.data("suites/b.jsonl", rows(21, qid=lambda i: f"b{i}", prompt=lambda i: f"other prompt {i}"))
    trust.suite("suites/a.yaml", id="demo/a", data="a.jsonl", chunk_size=8)
    trust.suite("suites/b.yaml", id="demo/b", data="b.jsonl", chunk_size=5)
    result = trust.run("--trust-model=recording", "-rA")
    assert result.ret == 0, result.stdout.str()
    batches = _batches(result)
    assert len(batches) == 5 + 5
    assert sorted(len(v) for (f, _), v in batches.items() if f == "suites/a.yaml") == [8] * 5
    assert sorted(len(v) for (f, _), v in batches.items() if f == "suites/b.yaml") == [1, 5, 5, 5, 5]
    calls = read_calls(trust.path)
    assert len(calls) == len(batches), calls
    for members in batches.values():
        mine = [c for c in calls if set(c["keys"]) & members]
        assert len(mine) == 1, (members, mine)
        assert set(mine[0]["keys"]) == members
    workers = {c["worker"] for c in calls}
    if trust.xdist:
        assert workers <= {"gw0", "gw1"} and None not in workers
        assert len({c["pid"] for c in calls}) == len(workers)
    else:
        assert workers == {None}


def test_selected_subset_of_a_batch_is_generated_together(trust: TrustRun) -> None:
    trust.conftest(RECORDING_BACKEND)
    trust.data("suites/a.jsonl", rows(16))
    trust.suite("suites/a.yaml", id="demo/a", data="a.jsonl", chunk_size=8)
    result = trust.run("--trust-model=recording", "-rA", "-k", "q3 or q5 or q9 or q12")
    assert len(reported_ids(result)) == 4, result.stdout.str()
    calls = read_calls(trust.path)
    # only the selected items are generated, one call per batch they fall in
    assert sorted(sorted(c["keys"]) for c in calls) == [["q12", "q9"], ["q3", "q5"]]


def test_groups_never_split_across_batches(trust: TrustRun) -> None:
    trust.conftest(RECORDING_BACKEND)
    trust.data("suites/g.jsonl", rows(30, grp=lambda i: f"g{i // 3}"))
    trust.suite("suites/g.yaml", id="demo/g", data="g.jsonl", chunk_size=8,
                record={"id": "qid", "fields": ["kind"], "group": "grp"})
    result = trust.run("--trust-model=recording", "-rA")
    assert result.ret == 0, result.stdout.str()
    where = {}
    for (file, batch), members in _batches(result).items():
        assert len(members) <= 8
        for name in members:
            where[name] = batch
    for g in range(10):
        assert len({where[f"q{i}"] for i in range(3 * g, 3 * g + 3)}) == 1
    calls = read_calls(trust.path)
    for g in range(10):
        group = {f"q{i}" for i in range(3 * g, 3 * g + 3)}
        assert sum(1 for c in calls if group & set(c["keys"])) == 1


def test_sampled_suites_over_one_file_share_records_and_responses(trust: TrustRun) -> None:
    """jailbreak and its toxicity twin: under --trust-sample both keep the same records, so the
    second suite's prompts come from the response cache and nothing is generated twice."""
    trust.conftest(CACHEABLE_RECORDING_BACKEND)
    trust.data("suites/shared.jsonl", rows(120, src=lambda i: "ab"[i % 3 == 0]))
    for name in ("first", "second"):
        trust.suite(f"suites/{name}.yaml", id=f"demo/{name}", data="shared.jsonl", chunk_size=8,
                    record={"id": "qid", "fields": ["kind", "src"], "stratify": "src"})
    result, report = trust.report("--trust-model=recording", "--trust-sample=20", "--trust-seed=4",
                                  "--trust-cache=.cache/r.sqlite")
    assert result.ret == 0, result.stdout.str()
    kept = {s["id"]: [r["id"] for r in s["records"]] for s in report["suites"]}
    assert kept["demo/first"] == kept["demo/second"] and 17 <= len(kept["demo/first"]) <= 23
    prompts = [p for c in read_calls(trust.path) for p in c["prompts"]]
    assert len(prompts) == len(set(prompts)) == len(kept["demo/first"])
