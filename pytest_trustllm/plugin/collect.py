"""Suite file -> pytest collectors and items: one item per record, grouped in batches ("chunks")
that run on one process (a collector level, so ``--dist loadscope`` keeps a batch on one worker)."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from pytest_trustllm.evaluate import carried_fields
from pytest_trustllm.generation.execute import ItemOutcome, execute
from pytest_trustllm.plugin.session import RunState, run_state
from pytest_trustllm.suite.shard import in_shard
from pytest_trustllm.scoring.scorers.base import ScoringContext
from pytest_trustllm.suite.builtin import suite_files
from pytest_trustllm.suite.load import SuiteError, load_suite
from pytest_trustllm.suite.paths import NotRecorded
from pytest_trustllm.suite.records import DataError, ItemSpec, build_items, read_records, rechunk, sample_items
from pytest_trustllm.suite.schema import SuiteSpec

EXCERPT = 1000  # characters of prompt and response kept on reports (HTML, JSON)
NO_MODEL = ("no model selected: pass --trust-model=SPEC (e.g. --trust-model=smollm2, --trust-model=gpt-4o, "
            "--trust-model=hf:ORG/NAME, --trust-model=replay) or set trust_model in the ini file")


def excerpt(text: str | None, n: int = EXCERPT) -> str | None:
    if text is None:
        return None
    return text if len(text) <= n else text[:n] + f"… [{len(text) - n} more characters]"


class SuiteFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        state = run_state(self.config)
        try:
            suite = load_suite(self.path)
            data_path = state.data.resolve(suite)
            rows = read_records(data_path)
            items = build_items(suite, rows, data_path)
            if not items:  # a suite with gates and nothing to test must not vanish from the run
                raise DataError(f"{data_path}: no records" + (f" match the filter (of {len(rows)})" if rows else ""),
                                "filter" if rows else "data",
                                "widen the filter" if rows else "point 'data' at a file with records")
            state.data.check(suite, data_path)
        except SuiteError as e:
            raise self.CollectError(str(e)) from None
        except NotRecorded as e:
            pytest.skip(str(e), allow_module_level=True)
        except DataError as e:
            where = locals().get("suite")
            line = where.lines.get(e.keypath) if where else None
            raise self.CollectError(str(SuiteError(self.path, line, e.keypath, str(e), e.fix))) from None
        if state.settings.sample:
            # Seeded by the data, not the suite: suites over one file (jailbreak and its toxicity
            # twin) keep the same records, so the response cache serves both.
            items = sample_items(items, state.settings.sample, f"{state.settings.seed}:{suite.data}",
                                 suite.record.stratify)
            items = rechunk(items, suite.chunk_size)  # sampled items fill whole batches again
        if state.runtime.sequential is not None:
            items = state.runtime.sequential.order(suite, items, state.settings.seed)
        for m in suite.all_markers:
            state.register_marker(m, f"TrustLLM {suite.dimension} task" if m != suite.dimension else "")
            self.add_marker(m)  # items inherit it: -m matches markers up the node chain
        chunks: dict[int, list[ItemSpec]] = {}
        for it in items:
            chunks.setdefault(it.chunk, []).append(it)
        width = max(3, len(str(max(chunks, default=0))))
        share = generation_key(suite)
        for c, members in chunks.items():
            yield Chunk.from_parent(self, name=f"batch{c:0{width}d}-{share}", suite=suite, specs=members)


def generation_key(suite: SuiteSpec) -> str:
    """Suites that send the same prompts with the same settings in the same batches (toxicity reuses
    the jailbreak responses) share this key in their batch names; xdist then runs batch k of both on
    one worker, one after the other, so the second finds every response in the cache."""
    blob = json.dumps([suite.data, suite.filter, suite.generation.__dict__, suite.chunk_size, suite.record.group,
                       suite.record.prompt, suite.record.prompt_template], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


class Chunk(pytest.Collector):
    def __init__(self, *, suite: SuiteSpec, specs: list[ItemSpec], **kw: Any) -> None:
        super().__init__(**kw)
        self.suite = suite
        self.specs = specs
        self._outcomes: dict[str, ItemOutcome] | None = None

    def collect(self) -> Iterator[pytest.Item]:
        models = run_state(self.config).settings.model or (None,)
        for spec in self.specs:
            for model in models:
                name = spec.id if len(models) == 1 else f"{spec.id}[{model}]"
                yield TrustItem.from_parent(self, name=name, spec=spec, suite=self.suite, model=model)

    def outcome(self, item: "TrustItem") -> ItemOutcome:
        if self._outcomes is None:
            self._outcomes = self._run()
        return self._outcomes[item.nodeid]

    def _run(self) -> dict[str, ItemOutcome]:
        """Generate and score every selected item of this batch at once (batching is what makes
        local models fast, and group rules need whole groups)."""
        state = run_state(self.config)
        rt = state.runtime
        mine = chunk_items(state, self.session, self.nodeid)
        out: dict[str, ItemOutcome] = {}
        by_model: dict[str, list[TrustItem]] = {}
        for it in mine:
            by_model.setdefault(it.model, []).append(it)
        seq = rt.sequential
        for model, members in by_model.items():
            n = seq.decided(self.suite.id, model) if seq is not None else None
            if n is not None:  # the suite's gates are decided: this batch is not needed
                for it in members:
                    out[it.nodeid] = ItemOutcome("skip", None, f"gate decided after {n} items", None, None)
                continue
            ctx = ScoringContext(rules=state.settings.rules, judges=rt.judges())
            try:
                backend = rt.backend(model)
            except Exception as e:  # noqa: BLE001 - a backend that cannot start errors every item
                msg = f"model {model!r} could not start: {e}"
                for it in members:
                    out[it.nodeid] = ItemOutcome("error", None, msg, None, None)
                continue
            results = execute(self.suite, [it.spec for it in members], backend, ctx, cache=rt.cache(),
                              stats=rt.model_stats(model), cap=state.settings.max_new_tokens,
                              seed=state.settings.seed, budget=rt.budget_guard(model, backend),
                              repeats=state.settings.repeats)
            for it, res in zip(members, results):
                out[it.nodeid] = res
        return out


class TrustItem(pytest.Item):
    def __init__(self, *, spec: ItemSpec, suite: SuiteSpec, model: str | None, **kw: Any) -> None:
        super().__init__(**kw)
        self.spec = spec
        self.suite = suite
        self.model = model
        self.result: ItemOutcome | None = None
        self.trust_payload: dict[str, Any] | None = None

    def setup(self) -> None:
        if self.model is None:
            self._payload("skip", NO_MODEL)
            _skip(NO_MODEL)
        assert isinstance(self.parent, Chunk)
        self.result = r = self.parent.outcome(self)
        self._payload(r.outcome, r.message)
        if r.outcome == "error":
            pytest.fail(f"{self.suite.id} {self.spec.id}: {r.message}", pytrace=False)
        if r.outcome == "skip":
            _skip(f"{self.suite.id}: {r.message}")
        if r.outcome == "dropped":
            _skip(f"dropped by the {self.suite.scorer.name} rule: {r.message}")

    def runtest(self) -> None:
        r = self.result
        assert r is not None
        if r.outcome == "pass":
            return
        if self.suite.gates and not run_state(self.config).settings.strict:
            pytest.xfail(f"violation (the suite's gates decide): {r.message}")
        raise TrustViolation(self)

    def _payload(self, outcome: str, message: str) -> None:
        r = self.result
        score = r.score if r else None
        gen = r.generation if r else None
        fields = carried_fields(self.suite, self.spec)
        self.trust_payload = {
            "suite": self.suite.id,
            "file": str(self.path),
            "model": self.model,
            "id": self.spec.id,
            "index": self.spec.index,
            "fields": _jsonable(fields),
            "outcome": outcome,
            "message": message,
            "score": score.to_json() if score else None,
            "prompt": excerpt(self.spec.prompt),
            "response": excerpt(r.response if r else None),
            "generation": None if gen is None else {
                "cached": gen.cached, "error": gen.error, "prompt_tokens": gen.prompt_tokens,
                "completion_tokens": gen.completion_tokens,
                "replayed": str(self.model).split(":")[0] == "replay"},
        }
        seq = state_seq(self)
        if seq is not None:
            self.trust_payload["seq"] = seq
        if r is not None and r.repeats:
            from pytest_trustllm.generation.repeats import repeat_payloads

            self.trust_payload["repeats"] = repeat_payloads(r.repeats, self.model)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None) -> str:
        if isinstance(excinfo.value, XFAILED):  # no traceback to render: the violation is domain output
            return str(excinfo.value)
        if isinstance(excinfo.value, TrustViolation):
            r = self.result
            lines = [
                f"{self.suite.id} item {self.spec.id} (record {self.spec.index}) violated: {r.message if r else ''}",
                f"  model:    {self.model}",
                f"  prompt:   {_one_line(self.spec.prompt)}",
                f"  response: {_one_line(r.response if r else '')}",
            ]
            if r and r.score and r.score.data:
                lines.append(f"  scored:   {_one_line(json.dumps(dict(r.score.data), ensure_ascii=False))}")
            if self.suite.description:
                lines.append(f"  meaning:  {_one_line(self.suite.description, 300)}")
            return "\n".join(lines)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"{self.suite.id}::{self.name}"


XFAILED = pytest.xfail.Exception


def collect_suite_paths(state: RunState, session: pytest.Session, items: list[pytest.Item]) -> None:
    """Collect the ``--trust-suites`` folders into ``items`` (before -m, -k, --lf and sharding select)."""
    for folder in state.suite_paths:
        for path, nodeid in suite_files(Path(folder), state.config.rootpath):
            node = SuiteFile.from_parent(session, path=path, **({"nodeid": nodeid} if nodeid else {}))
            items.extend(session.genitems(node))


def select_shard(state: RunState, items: list[pytest.Item], config: pytest.Config) -> None:
    """``--trust-shard=K/N``: keep this shard's trust items (whole groups, by a hash of the item)."""
    pair = state.settings.shard_pair
    if pair:
        keep, drop = [], []
        for it in items:
            (keep if not isinstance(it, TrustItem) or in_shard(it.suite.id, it.spec, *pair) else drop).append(it)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    state.chunk_index = None


def chunk_items(state: RunState, session: pytest.Session, chunk_nodeid: str) -> list[TrustItem]:
    """The selected items of one batch on this process (indexed once from ``session.items``)."""
    if state.chunk_index is None:
        index: dict[str, list] = {}
        for it in session.items:
            if isinstance(it, TrustItem):
                index.setdefault(it.parent.nodeid, []).append(it)
        state.chunk_index = index
    return state.chunk_index.get(chunk_nodeid, [])


def models_in(items: list[pytest.Item]) -> set[str]:
    return {it.model for it in items if isinstance(it, TrustItem) and it.model}


def state_seq(item: TrustItem) -> dict[str, Any] | None:
    """Where the item stands in its suite's sequential order (--trust-sequential), else None."""
    seq = run_state(item.config).runtime.sequential
    return seq.seq_info(item.suite.id, item.spec.id) if seq is not None else None


def _skip(reason: str) -> None:
    """A skip reported at the suite file, not inside the plugin."""
    raise pytest.skip.Exception(reason, _use_item_location=True)


class TrustViolation(Exception):
    def __init__(self, item: TrustItem) -> None:
        super().__init__(item.result.message if item.result else "violation")


# Model output reaches the terminal: control characters (ESC sequences, BEL, NUL) and bidi overrides
# could rewrite what the user sees, so they are shown escaped.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _one_line(text: str | None, n: int = 240) -> str:
    text = " ".join((text or "").split())
    text = _UNSAFE.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), text)
    return text if len(text) <= n else text[: n - 1] + "…"


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))
