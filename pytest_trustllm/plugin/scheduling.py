"""xdist scheduling by batch: every item of a batch, and the batches of suites that share their
generation (same batch name), run on one worker; every other test is its own unit, as with --dist load."""
from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling


class BatchScheduling(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        parts = nodeid.split("::")
        if len(parts) >= 3 and parts[0].endswith((".yaml", ".yml")) and parts[1].startswith("batch"):
            return "trust-batch::" + parts[1]
        return nodeid  # any other test: its own unit, as with --dist load
