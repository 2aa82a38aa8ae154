"""The per-process state of a trust run, kept in ``config.stash`` (one per pytest process; under
xdist, one per worker and one on the controller): the settings, the runtime (backends, cache,
judges), the data locator, the configuration checks made before any item, the markers and the
xdist transport. The controller's aggregation of item results is ``plugin/controller.py``."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_trustllm.plugin.runtime import Runtime, backend_options, session_cache_path
from pytest_trustllm.settings import Settings
from pytest_trustllm.suite.builtin import is_builtin
from pytest_trustllm.suite.dataset import DatasetError
from pytest_trustllm.suite.load import is_suite_file
from pytest_trustllm.suite.paths import DataLocator
from pytest_trustllm.suite.schema import DIMENSIONS
from pytest_trustllm.verdict.gates import Override, ThresholdsError, read_thresholds_file

BUILTIN_MARKERS = {d: f"TrustLLM {d} dimension" for d in DIMENSIONS}

# The data locator of the pytest run in this process, for ``suite_records()`` calls made while test
# modules are imported (they have no config to ask); set in ``pytest_configure``.
_ACTIVE_LOCATOR: list[DataLocator] = []


def run_state(config: pytest.Config) -> "RunState":
    """This process's state, kept in ``config.stash`` under ``STATE`` (set in ``pytest_configure``)."""
    return config.stash[STATE]


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def active_locator() -> DataLocator | None:
    return _ACTIVE_LOCATOR[-1] if _ACTIVE_LOCATOR else None


def pin_gpus(settings: Settings) -> None:
    """Pin an xdist worker to its own GPU(s) through CUDA_VISIBLE_DEVICES."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    from pytest_trustllm.generation.backends.gpus import pin_worker

    value = pin_worker(worker, settings.gpus_per_worker, dict(os.environ))
    if value is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = value


@dataclass
class RunState:
    config: pytest.Config
    settings: Settings
    runtime: Runtime
    overrides: list[Override]
    data: DataLocator
    suite_paths: list[str] = field(default_factory=list)  # --trust-suites folders collected besides the args
    chunk_index: dict[str, list] | None = None  # batch node id -> its selected items (plugin/collect.py)
    _markers: set = field(default_factory=set)

    @classmethod
    def create(cls, config: pytest.Config, settings: Settings) -> "RunState":
        overrides = [Override(s, m, op, t, "ini trust_gate_thresholds") for s, m, op, t in settings.threshold_overrides]
        if settings.thresholds:
            try:
                overrides += read_thresholds_file(settings.thresholds)
            except ThresholdsError as e:
                raise pytest.UsageError(str(e)) from None
        session_cache = None
        if settings.cache == "off":
            session_cache = (config.workerinput.get("trust_session_cache") if is_worker(config)
                             else session_cache_path())
        data = DataLocator(settings.data, settings.recorded, settings.allow_modified_data)
        rt = Runtime(settings, Path(str(config.rootpath)), config.hook, session_cache, data)
        if is_worker(config):
            rt.refusal_choice = config.workerinput.get("trust_refusal")
        _ACTIVE_LOCATOR.append(data)
        return cls(config, settings, rt, overrides, data)

    # -- checks before any item ----------------------------------------------------------------
    def check_model_specs(self) -> None:
        """An unknown --trust-model is a usage error before collection, not an error on every item.
        Only when no plugin or initial conftest implements ``pytest_trust_make_backend``: such a hook
        may claim any spec."""
        if self.config.hook.pytest_trust_make_backend.get_hookimpls():
            return
        from pytest_trustllm.generation.backends.base import BackendError, parse_model_spec

        for spec in self.settings.model:
            try:
                parse_model_spec(spec)
            except BackendError as e:
                raise pytest.UsageError(f"--trust-model={spec}: {e}") from None

    def add_suite_paths(self) -> None:
        """``--trust-suites``: the folders of suites this run collects besides its arguments."""
        from pytest_trustllm.suite.builtin import BuiltinSuitesError, collection_paths

        try:
            self.suite_paths = collection_paths(
                self.settings.suites, model_given=bool(self.settings.model),
                paths_given=self.config.args_source == pytest.Config.ArgsSource.ARGS, args=list(self.config.args))
        except BuiltinSuitesError as e:
            raise pytest.UsageError(str(e)) from None

    def check_dataset(self) -> None:
        """The built-in suites (and a replay folder's integrity check) need the pinned release: a
        download that fails is one usage error, not a collection error in every suite."""
        if not (self.suite_paths or self.settings.recorded):
            return
        try:
            self.data.release_dir()
        except DatasetError as e:
            raise pytest.UsageError(str(e)) from None

    def will_run_items(self) -> bool:
        """Whether this invocation runs tests at all (not --collect-only, --help, --fixtures, ...)."""
        o = self.config.option
        return bool(self.settings.model) and not any(
            getattr(o, name, False) for name in ("collectonly", "help", "version", "markers", "showfixtures",
                                                 "show_fixtures_per_test"))

    def preflight(self) -> None:
        """Configuration problems that would fail every item stop the run once, before any item runs
        (on the controller, before xdist workers start; no model is loaded here)."""
        if self.config.hook.pytest_trust_make_backend.get_hookimpls():
            return  # a plugin's backends may take any spec; they report their own problems
        from pytest_trustllm.generation.backends.base import BackendError
        from pytest_trustllm.generation.backends.preflight import preflight

        for spec in self.settings.model:
            try:
                preflight(spec, backend_options(self.settings))
            except BackendError as e:
                raise pytest.UsageError(f"--trust-model={spec}: {e}") from None

    def load_backends(self, specs: set[str]) -> None:
        """A run without xdist workers builds its backends before the first item (they are used by the
        items anyway), so a model that cannot load is one usage error, not an error on every item."""
        for spec in self.settings.model:
            if spec in specs:
                try:
                    self.runtime.backend(spec)
                except Exception as e:  # noqa: BLE001 - whatever a backend raises, the run cannot go on
                    raise pytest.UsageError(f"--trust-model={spec}: model {spec!r} could not start: {e}") from None

    def open_cache(self) -> None:
        """An unusable response cache (not SQLite, corrupt, locked, no WAL) is a usage error before
        collection, not an error on every item. Only for runs with a model: others never touch it."""
        if not self.settings.model:
            return
        from pytest_trustllm.generation.cache import CacheError

        try:
            self.runtime.cache()
        except CacheError as e:
            raise pytest.UsageError(f"--trust-cache: {e}") from None

    def resolve_refusal(self) -> str:
        """``--trust-refusal=auto``: chosen once (on the controller) so every worker uses the same one."""
        if self.runtime.refusal_choice is None:
            if self.settings.refusal == "auto" and self.settings.model:
                from pytest_trustllm.scoring.judges.registry import resolve_refusal_default

                self.runtime.refusal_choice = resolve_refusal_default()[0]
            else:
                self.runtime.refusal_choice = self.settings.refusal
        return self.runtime.refusal_choice

    # -- collection ----------------------------------------------------------------------------
    def claims(self, path: Path) -> bool:
        in_suites = any(part in self.settings.suite_dirs for part in path.parent.parts) or is_builtin(path)
        return is_suite_file(path, in_suites)

    def register_marker(self, name: str, text: str) -> None:
        if name not in self._markers and name not in BUILTIN_MARKERS:
            self._markers.add(name)
            self.config.addinivalue_line("markers", f"{name}: {text or 'trust suite marker'}")

    # -- xdist ---------------------------------------------------------------------------------
    def configure_worker(self, node: Any) -> None:
        node.workerinput["trust_refusal"] = self.resolve_refusal()
        if self.runtime.session_cache:
            node.workerinput["trust_session_cache"] = self.runtime.session_cache

    def send_worker_output(self, config: pytest.Config) -> None:
        config.workeroutput["trust"] = json.dumps(self.process_info())

    def process_info(self) -> dict[str, Any]:
        """What only the processes that ran the items know: model identities, judge counts, data notes."""
        models = {spec: dict(b.identity) for spec, b in self.runtime._backends.items()}
        judges = []
        if self.runtime._judges is not None:
            from pytest_trustllm.scoring.judges.registry import judges_report

            judges = judges_report(self.runtime._judges)
        return {"models": models, "judges": judges, "data_notes": dict(self.data.notes)}

    def close(self) -> None:
        self.runtime.close()

    def release_locator(self) -> None:
        """At unconfigure (also after a usage error in configure), so an ended run's locator never
        answers a later ``suite_records()`` in this process (pytester runs in-process)."""
        _ACTIVE_LOCATOR[:] = [d for d in _ACTIVE_LOCATOR if d is not self.data]


STATE = pytest.StashKey[RunState]()  # owned here, so items and fixtures need not import the hooks module
