"""``--trust-sequential`` in a pytest run. The controller follows each suite's batches in their seeded
order (``sequential.SuiteMonitor``) as reports arrive, and writes each decision to a small SQLite
board; every process asks the board before it generates a batch, and skips the batch when its
suite's gates are decided (under xdist, workers learn a decision between batches). At the end, items
past the decision that were generated in flight anyway (xdist) are left out too, so the results
depend only on the responses, and the gates carry the sequential verdict and its confidence sequence."""
from __future__ import annotations

import os
import sqlite3
import tempfile
from typing import Any, Sequence

import pytest

from pytest_trustllm.plugin.session import is_worker
from pytest_trustllm.verdict.sequential import DECIDED, GateMonitor, SuiteMonitor


class Board:
    """Decisions shared by the run's processes: (suite id, model) -> items after which it was decided."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS decided (suite TEXT, model TEXT, n INTEGER, "
                         "PRIMARY KEY (suite, model))")

    def write(self, suite: str, model: str | None, n: int) -> None:
        self._db.execute("INSERT OR IGNORE INTO decided VALUES (?, ?, ?)", (suite, str(model), n))

    def read(self, suite: str, model: str | None) -> int | None:
        row = self._db.execute("SELECT n FROM decided WHERE suite = ? AND model = ?", (suite, str(model))).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self._db.close()


class SequentialPlugin:
    def __init__(self, state: Any) -> None:
        self.state = state
        config = state.config
        if is_worker(config):
            path = config.workerinput["trust_sequential_board"]
        else:
            path = os.path.join(tempfile.mkdtemp(prefix="trustllm-sequential-"), "board.sqlite")
        self.board = Board(path)
        self.positions: dict[tuple[str, str], dict[str, Any]] = {}  # (suite id, item id) -> seq info
        self.monitors: dict[tuple[str, str | None], SuiteMonitor] = {}
        state.runtime.sequential = self

    # -- collection: where each item stands in its suite's order ----------------------------
    def order(self, suite: Any, items: list[Any], seed: int) -> list[Any]:
        from pytest_trustllm.verdict.sequential import sequential_order

        # seeded by the data, as sampling is: suites over one file (jailbreak and its toxicity twin)
        # keep the same order and batches, so the cache serves both
        ordered = sequential_order(items, f"{seed}:{suite.data}:sequential", suite.chunk_size)
        sizes: dict[int, int] = {}
        for it in ordered:
            sizes[it.chunk] = sizes.get(it.chunk, 0) + 1
        for pos, it in enumerate(ordered):
            self.positions[(suite.id, it.id)] = {"pos": pos, "chunk": it.chunk, "chunk_size": sizes[it.chunk],
                                                 "total": len(ordered)}
        return ordered

    def seq_info(self, suite_id: str, item_id: str) -> dict[str, Any] | None:
        return self.positions.get((suite_id, item_id))

    # -- before a batch: is it still needed? ------------------------------------------------
    def decided(self, suite_id: str, model: str | None) -> int | None:
        return self.board.read(suite_id, model)

    # -- the controller follows the reports -------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, "trust", None)
        if payload is None or "seq" not in payload or is_worker(self.state.config):
            return
        key = (payload["suite"], payload.get("model"))
        mon = self.monitors.get(key)
        if mon is None:
            mon = self.monitors[key] = SuiteMonitor(self._gates(payload["file"], payload["suite"]))
        if str(payload.get("message", "")).startswith(DECIDED.split("{")[0]):
            return  # a skipped item is no observation; the decision is on the board already
        n = mon.add(payload)
        if n is not None:
            self.board.write(payload["suite"], payload.get("model"), n)

    def _gates(self, file: str, suite_id: str) -> list[GateMonitor]:
        from pytest_trustllm.verdict.gates import effective_gates
        from pytest_trustllm.suite.load import SuiteError, load_suite

        try:
            suite = load_suite(file)
        except SuiteError:
            return []
        specs = {s.name: s for s in suite.metrics_for(self.state.settings.rules)}
        directions = {n: s.direction for n, s in specs.items()}
        alpha = self.state.settings.alpha
        return [GateMonitor(g.metric, g.op, g.threshold, specs[g.metric], alpha)
                for g in effective_gates(suite_id, suite.gates, directions, self.state.overrides) if g.metric in specs]

    # -- xdist -----------------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["trust_sequential_board"] = self.board.path

    def pytest_unconfigure(self) -> None:
        self.board.close()

    # -- the results -----------------------------------------------------------------------
    def finalize_payloads(self, collector: Any) -> None:
        """Items past a decision that were generated in flight (xdist) leave the results too."""
        for (file, model, origin), items in collector.payloads.items():
            for item_id, p in items.items():
                seq = p.get("seq")
                if not seq:
                    continue
                mon = self.monitors.get((p["suite"], model))
                n = mon.decided_after if mon else None
                if n is not None and seq["pos"] >= n and p["outcome"] != "skip":
                    items[item_id] = {**p, "outcome": "skip", "message": DECIDED.format(n=n), "score": None,
                                      "generation": None, "response": None}
                    items[item_id].pop("repeats", None)

    def results_block(self, suites: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
        out: dict[str, Any] = {"alpha": self.state.settings.alpha, "suites": []}
        lines = []
        for s in suites:
            mon = self.monitors.get((s["id"], s["model"]))
            if mon is None:
                continue
            total = len(s["records"])
            n = mon.decided_after
            gates = {}
            for g in mon.gates:
                gates[g.metric] = {"verdict": g.verdict, "cs": g.interval(), "n": len(g.values),
                                   "undecidable": g.reason}
            entry = {"id": s["id"], "model": s["model"], "items": total, "decided_after": n,
                     "generated": n if n is not None else total, "gates": gates}
            out["suites"].append(entry)
            if n is None:
                continue
            for m in s["metrics"]:
                g = m.get("gate")
                gm = gates.get(m["name"])
                if g and gm and gm["verdict"]:
                    cs = gm["cs"]
                    g["verdict"], g["fails"] = gm["verdict"], gm["verdict"] == "fail"
                    g["sequential"] = {"decided_after": n, "cs": cs, "alpha": self.state.settings.alpha}
                    shown = f"[{cs[0]:.3f}, {cs[1]:.3f}]" if cs else "n/a"
                    g["reason"] = (f"{m['name']} {'passes' if gm['verdict'] == 'pass' else 'fails'} {g['op']} "
                                   f"{g['threshold']:g}: {1 - self.state.settings.alpha:.0%} confidence sequence "
                                   f"{shown} after {n} of {total} items (sequential)")
                    m["incomplete"] = None  # decided: the items left were not needed
            lines.append(f"sequential [{s['id']}{'' if not s.get('multi_model') else ' ' + str(s['model'])}]: "
                         f"gates decided after {n} of {total} items ({n / total:.0%} generated)")
        return out, lines
