"""Read a suite's data file and turn records into items: stable ids, groups, chunks, sampling.

Everything here is deterministic (no sets, clocks or unseeded randomness): every xdist worker
must collect the same items in the same order.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from pytest_trustllm.metrics.core import match_value
from pytest_trustllm.suite.readers import DataError, read_records  # noqa: F401  (re-exported: the suite API)
from pytest_trustllm.suite.schema import SuiteSpec

RESPONSE_FIELDS = ("res", "eval_res", "toxicity", "toxicity_status", "similarity", "response")


@dataclass(frozen=True)
class ItemSpec:
    id: str
    index: int  # position in the data file (before filtering)
    prompt: str
    record: Mapping[str, Any]
    group: str | None
    chunk: int


def content_hash(record: Mapping[str, Any], prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:8]


def _prompt(spec: SuiteSpec, record: Mapping[str, Any], index: int, path: Path) -> str:
    if spec.record.prompt_template:
        try:
            return spec.record.prompt_template.format(**record)
        except KeyError as e:
            raise DataError(f"{path}: record {index} has no field {e.args[0]!r} used by record.prompt_template",
                            "record.prompt_template", "use only fields every record has") from None
        except (IndexError, ValueError) as e:
            raise DataError(f"record.prompt_template cannot be filled: {e}") from None
    field = spec.record.prompt
    if field not in record:
        raise DataError(f"{path}: record {index} has no prompt field {field!r} "
                        f"(its fields: {', '.join(sorted(record)[:12])})", "record.prompt",
                        "set record.prompt to the field holding the prompt, or use record.prompt_template")
    value = record[field]
    if not isinstance(value, str):
        raise DataError(f"{path}: record {index} field {field!r} is a {type(value).__name__}, not text")
    return value


def _group_keys(spec: SuiteSpec, records: Sequence[tuple[int, Mapping[str, Any]]]) -> list[str | None]:
    g = spec.record.group
    if g is None:
        return [None] * len(records)
    if isinstance(g, str):
        return [None if r.get(g) is None else f"{g}={r.get(g)}" for _, r in records]
    if isinstance(g, tuple):
        return ["|".join(f"{f}={r.get(f)}" for f in g) for _, r in records]
    size, where = g["consecutive"], g["where"]
    keys: list[str | None] = []
    pos = 0
    for _, r in records:
        if all(match_value(r.get(k), v) for k, v in where.items()):
            keys.append(f"run{pos // size}")
            pos += 1
        else:
            keys.append(None)
    return keys


def build_items(spec: SuiteSpec, rows: Sequence[Mapping[str, Any]], data_path: Path) -> list[ItemSpec]:
    """Items in file order, with stable ids and chunks that keep groups whole."""
    selected = [(i, r) for i, r in enumerate(rows)
                if all(match_value(r.get(k), v) for k, v in spec.filter.items())]
    groups = _group_keys(spec, selected)
    seen: dict[str, int] = {}
    items: list[ItemSpec] = []
    # chunks: fill up to chunk_size in order of first appearance, a group never split
    group_chunk: dict[str, int] = {}
    chunk, filled = 0, 0
    group_sizes: dict[str, int] = {}
    for gk in groups:
        if gk is not None:
            group_sizes[gk] = group_sizes.get(gk, 0) + 1
    for (index, record), gk in zip(selected, groups):
        prompt = _prompt(spec, record, index, data_path)
        if spec.record.id:
            if spec.record.id not in record:
                raise DataError(f"{data_path}: record {index} has no id field {spec.record.id!r}", "record.id",
                                "name a field every record has, or remove record.id to use index-based ids")
            rid = str(record[spec.record.id])
            if rid in seen:
                raise DataError(f"{data_path}: duplicate id {rid!r} (records {seen[rid]} and {index})", "record.id",
                                "ids must be unique: fix the data, or remove record.id to use index-based ids")
            seen[rid] = index
        else:
            rid = f"r{index:05d}-{content_hash(record, prompt)}"
        if gk is not None and gk in group_chunk:
            c = group_chunk[gk]
        else:
            need = group_sizes.get(gk, 1) if gk is not None else 1
            if filled and filled + need > spec.chunk_size:
                chunk, filled = chunk + 1, 0
            c = chunk
            filled += need
            if gk is not None:
                group_chunk[gk] = c
        items.append(ItemSpec(rid, index, prompt, dict(record), gk, c))
    return items


def sample_items(items: Sequence[ItemSpec], n: int, seed: int, stratify: str | None) -> list[ItemSpec]:
    """Keep about ``n`` items, seeded; groups whole; strata in proportion to their size. File order kept."""
    if n >= len(items):
        return list(items)
    units: dict[str, list[ItemSpec]] = {}
    for it in items:
        units.setdefault(it.group or f"#{it.id}", []).append(it)
    strata: dict[str, list[str]] = {}
    for key, members in units.items():
        s = str(members[0].record.get(stratify)) if stratify else ""
        strata.setdefault(s, []).append(key)
    rng = random.Random(f"{seed}")
    total = len(items)
    chosen: list[str] = []
    for s in sorted(strata):
        keys = strata[s]
        size = sum(len(units[k]) for k in keys)
        quota = round(n * size / total)
        order = sorted(keys)
        rng.shuffle(order)
        got = 0
        for k in order:
            if got >= quota:
                break
            chosen.append(k)
            got += len(units[k])
    keep = set(chosen)
    return [it for it in items if (it.group or f"#{it.id}") in keep]


def rechunk(items: Sequence[ItemSpec], chunk_size: int) -> list[ItemSpec]:
    """The items with chunks numbered afresh over this selection, by ``build_items``'s rule: filled
    up to ``chunk_size`` in order of first appearance, a group never split. After sampling, items
    keep their chunks of the full file, so 8 sampled records may lie in 8 chunks of one or two;
    renumbered, they fill whole chunks again, and a local model gets batches worth batching."""
    sizes: dict[str, int] = {}
    for it in items:
        if it.group is not None:
            sizes[it.group] = sizes.get(it.group, 0) + 1
    group_chunk: dict[str, int] = {}
    chunk, filled = 0, 0
    out: list[ItemSpec] = []
    for it in items:
        if it.group is not None and it.group in group_chunk:
            c = group_chunk[it.group]
        else:
            need = sizes[it.group] if it.group is not None else 1
            if filled and filled + need > chunk_size:
                chunk, filled = chunk + 1, 0
            c = chunk
            filled += need
            if it.group is not None:
                group_chunk[it.group] = c
        out.append(it if it.chunk == c else replace(it, chunk=c))
    return out


def public_record(item: ItemSpec) -> dict[str, Any]:
    """The record as scorers see it: the data fields plus ``_id``, ``_index`` and ``_group``."""
    return {**item.record, "_id": item.id, "_index": item.index, "_group": item.group}
