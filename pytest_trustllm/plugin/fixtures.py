"""Fixtures and helpers for hand-written trust tests."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import pytest

from pytest_trustllm.evaluate import carried_fields
from pytest_trustllm.generation.execute import request_seed
from pytest_trustllm.generation.generate import generate_all
from pytest_trustllm.plugin.collect import NO_MODEL
from pytest_trustllm.plugin.session import active_locator, run_state
from pytest_trustllm.suite.load import load_suite
from pytest_trustllm.suite.paths import DataLocator
from pytest_trustllm.suite.records import ItemSpec, build_items, public_record, read_records
from pytest_trustllm.types import GenerationRequest, Message, Score


class TrustModelError(Exception):
    pass


class TrustModel:
    """The configured model (``--trust-model``), through the run's response cache."""

    def __init__(self, spec: str, runtime: Any) -> None:
        self.spec = spec
        self._rt = runtime

    @property
    def identity(self) -> Mapping[str, Any]:
        return self._rt.backend(self.spec).identity

    def ask_many(self, prompts: list[str], *, system: str | None = None, temperature: float = 0.0,
                 max_new_tokens: int = 256, seed: int = 0, records: list[Mapping[str, Any]] | None = None) -> list[str]:
        """``records`` (e.g. from ``suite_records``) let the replay backend answer from their ``res``."""
        cap = self._rt.settings.max_new_tokens
        reqs = []
        for i, p in enumerate(prompts):
            msgs = ((Message("system", system),) if system else ()) + (Message("user", p),)
            rec = dict(records[i]) if records else {}
            reqs.append(GenerationRequest(msgs, temperature, min(max_new_tokens, cap) if cap else max_new_tokens,
                                          request_seed(seed, p), record=rec, key=str(rec.get("_id", ""))))
        results = generate_all(self._rt.backend(self.spec), reqs, self._rt.cache(), self._rt.model_stats(self.spec))
        bad = [r.error for r in results if not r.ok]
        if bad:
            raise TrustModelError(f"{self.spec}: {len(bad)} generation(s) failed: {bad[0]}")
        return [r.text or "" for r in results]

    def ask(self, prompt: str, *, record: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        """One user turn in, the model's reply out."""
        return self.ask_many([prompt], records=[record] if record is not None else None, **kwargs)[0]


@pytest.fixture
def trust_model(request: pytest.FixtureRequest) -> TrustModel:
    """The model chosen with ``--trust-model`` (the first one when several are given)."""
    state = run_state(request.config)
    if not state.settings.model:
        pytest.skip(NO_MODEL)
    return TrustModel(state.settings.model[0], state.runtime)


class OutcomeRecorder:
    """Feeds a hand-written test's verdict into its suite's metrics and gates."""

    def __init__(self, item: pytest.Item, model: str | None) -> None:
        self.item = item
        self.model = model

    def record(self, record: Mapping[str, Any], score: Score, response: str | None = None) -> Score:
        suite_file = record.get("_suite_file")
        if not suite_file:
            raise ValueError("record() needs a record from pytest_trustllm.suite_records(...)")
        suite = load_suite(suite_file)
        spec = ItemSpec(record["_id"], record["_index"], record.get("_prompt", ""),
                        {k: v for k, v in record.items() if not k.startswith("_")}, record.get("_group"), 0)
        origin = getattr(self.item, "originalname", self.item.name)
        self.item.trust_payload = {  # type: ignore[attr-defined]
            "suite": suite.id, "file": str(suite_file), "model": self.model, "id": spec.id, "index": spec.index,
            "origin": origin,
            "fields": carried_fields(suite, spec), "outcome": score.verdict, "message": score.explanation,
            "score": score.to_json(), "prompt": spec.prompt[:1000], "response": (response or "")[:1000] or None,
            "generation": None,
        }
        return score


@pytest.fixture
def trust_outcome(request: pytest.FixtureRequest) -> OutcomeRecorder:
    """``trust_outcome.record(record, score)`` counts this test's score in the record's suite."""
    models = run_state(request.config).settings.model
    return OutcomeRecorder(request.node, models[0] if models else None)


def suite_records(suite_path: str | os.PathLike, data_dir: str | None = None) -> list[Any]:
    """A suite's records as ``pytest.param`` values (ids = the suite's item ids) for
    ``@pytest.mark.parametrize``. Each record carries ``_suite_file``, ``_id``, ``_index`` and ``_prompt``.
    ``trustllm:`` data is found as the run finds it (``--trust-data``, ``$TRUSTLLM_DATA``, the pinned
    release), unless ``data_dir`` names the folder."""
    suite = load_suite(suite_path)
    running = active_locator()
    locator = DataLocator(data_dir) if data_dir or running is None else DataLocator(running.data)
    data_path = locator.resolve(suite)
    items = build_items(suite, read_records(data_path), data_path)
    return [pytest.param({**public_record(it), "_suite_file": str(Path(suite_path).resolve()), "_prompt": it.prompt},
                         id=it.id) for it in items]
