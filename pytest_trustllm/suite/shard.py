"""Deterministic sharding: a record's group (or the record) lands in shard hash % N."""
from __future__ import annotations

import hashlib

from pytest_trustllm.suite.records import ItemSpec


def shard_of(suite_id: str, item: ItemSpec, n: int) -> int:
    unit = item.group if item.group is not None else item.id
    digest = hashlib.sha256(f"{suite_id}\0{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


def in_shard(suite_id: str, item: ItemSpec, k: int, n: int) -> bool:
    return shard_of(suite_id, item, n) == k - 1
