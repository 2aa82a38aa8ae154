"""The run's state in ``config.stash``: settings, the per-process runtime, the collected item
payloads (controller) and the final results. The plugin's hooks call into this."""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .backends.base import describe_model_spec
from .gates import Override, ThresholdsError, read_thresholds_file
from .options import Settings
from .report import add_junit_gates, item_lines, junit_model_props, skipped_lines, summary_lines, write_json_atomic
from .result_model import RunResult
from .results import Collector, SuiteRun, decide_run, gate_counts
from .runtime import Runtime, session_cache_path
from .dataset import DatasetError
from .suite.builtin import file_ref, is_builtin
from .suite.load import SuiteError, is_suite_file, load_suite
from .suite.schema import DIMENSIONS, SuiteSpec


class NotRecorded(Exception):
    """A suite whose data file is absent from the replay folder: skipped, not a collection error."""


def run_state(config: pytest.Config) -> "RunState":
    """The run's state, kept in ``config.stash`` under ``STATE`` (set by the plugin's ``pytest_configure``)."""
    return config.stash[STATE]


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pin_gpus(settings: Settings) -> None:
    """Pin an xdist worker to its own GPU(s) through CUDA_VISIBLE_DEVICES."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    from .backends.gpus import pin_worker

    value = pin_worker(worker, settings.gpus_per_worker, dict(os.environ))
    if value is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = value


@dataclass
class RunState:
    config: pytest.Config
    settings: Settings
    runtime: Runtime
    overrides: list[Override]
    collector: Collector = field(default_factory=Collector)
    worker_outputs: list[dict[str, Any]] = field(default_factory=list)
    run: RunResult | None = None
    results: dict[str, Any] | None = None  # the run's JSON form, as written to --trust-report
    exit_reason: str | None = None
    _suites: dict[str, SuiteSpec] = field(default_factory=dict)
    _chunks: dict[str, list] | None = None
    _data_dir: Path | None = None
    _markers: set = field(default_factory=set)
    _data_notes: dict[str, str] = field(default_factory=dict)
    suite_paths: list[str] = field(default_factory=list)

    BUILTIN_MARKERS = {d: f"TrustLLM {d} dimension" for d in DIMENSIONS}

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
        rt = Runtime(settings, Path(str(config.rootpath)), config.hook, session_cache)
        if is_worker(config):
            rt.refusal_choice = config.workerinput.get("trust_refusal")
        return cls(config, settings, rt, overrides)

    def check_model_specs(self) -> None:
        """An unknown --trust-model is a usage error before collection, not an error on every item.
        Only when no plugin or initial conftest implements ``pytest_trust_make_backend``: such a hook
        may claim any spec."""
        if self.config.hook.pytest_trust_make_backend.get_hookimpls():
            return
        from .backends.base import BackendError, parse_model_spec

        for spec in self.settings.model:
            try:
                parse_model_spec(spec)
            except BackendError as e:
                raise pytest.UsageError(f"--trust-model={spec}: {e}") from None

    def add_suite_paths(self) -> None:
        """``--trust-suites``: the folders of suites this run collects besides its arguments."""
        from .suite.builtin import BuiltinSuitesError, collection_paths

        try:
            self.suite_paths = collection_paths(
                self.settings.suites, model_given=bool(self.settings.model),
                paths_given=self.config.args_source == pytest.Config.ArgsSource.ARGS, args=list(self.config.args))
        except BuiltinSuitesError as e:
            raise pytest.UsageError(str(e)) from None

    def collect_suite_paths(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        """Collect the ``--trust-suites`` folders into ``items`` (before -m, -k, --lf and sharding select)."""
        from .collect import SuiteFile
        from .suite.builtin import suite_files

        for folder in self.suite_paths:
            for path, nodeid in suite_files(Path(folder), self.config.rootpath):
                node = SuiteFile.from_parent(session, path=path, **({"nodeid": nodeid} if nodeid else {}))
                items.extend(session.genitems(node))

    def check_dataset(self) -> None:
        """The built-in suites (and a replay folder's integrity check) need the pinned release: a
        download that fails is one usage error, not a collection error in every suite."""
        if not (self.suite_paths or self.settings.recorded):
            return
        try:
            self._release_dir()
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
        from .backends.base import BackendError
        from .backends.preflight import preflight
        from .runtime import backend_options

        for spec in self.settings.model:
            try:
                preflight(spec, backend_options(self.settings))
            except BackendError as e:
                raise pytest.UsageError(f"--trust-model={spec}: {e}") from None

    def load_backends(self, items: list[pytest.Item]) -> None:
        """A run without xdist workers builds its backends before the first item (they are used by the
        items anyway), so a model that cannot load is one usage error, not an error on every item."""
        from .collect import TrustItem

        needed = {it.model for it in items if isinstance(it, TrustItem) and it.model}
        for spec in self.settings.model:
            if spec in needed:
                try:
                    self.runtime.backend(spec)
                except Exception as e:  # noqa: BLE001 - whatever a backend raises, the run cannot go on
                    raise pytest.UsageError(f"--trust-model={spec}: model {spec!r} could not start: {e}") from None

    def open_cache(self) -> None:
        """An unusable response cache (not SQLite, corrupt, locked, no WAL) is a usage error before
        collection, not an error on every item. Only for runs with a model: others never touch it."""
        if not self.settings.model:
            return
        from .cache import CacheError

        try:
            self.runtime.cache()
        except CacheError as e:
            raise pytest.UsageError(f"--trust-cache: {e}") from None

    def resolve_refusal(self) -> str:
        """``--trust-refusal=auto``: chosen once (on the controller) so every worker uses the same one."""
        if self.runtime.refusal_choice is None:
            if self.settings.refusal == "auto" and self.settings.model:
                from .judges.registry import resolve_refusal_default

                self.runtime.refusal_choice = resolve_refusal_default()[0]
            else:
                self.runtime.refusal_choice = self.settings.refusal
        return self.runtime.refusal_choice

    # -- header ----------------------------------------------------------------------------
    def header_lines(self) -> list[str]:
        s = self.settings
        model = (", ".join(describe_model_spec(m, s.device) for m in s.model) if s.model
                 else "none (suite items will be skipped; pass --trust-model)")
        lines = [f"trustllm: model={model} rules={s.rules} gate={s.gate} cache={s.cache}"]
        refusal = self.resolve_refusal() if s.model else s.refusal
        lines.append(f"trustllm: data={self.data_source()} refusal={refusal} judge={s.judge or 'none'} "
                     f"toxicity={self._shown_default('toxicity')} embedder={self._shown_default('embedder')}")
        extra = [f"{k}={v}" for k, v in (("sample", s.sample), ("seed", s.seed if s.sample else None),
                                          ("shard", s.shard), ("max-new-tokens", s.max_new_tokens),
                                          ("baseline", s.baseline), ("strict", s.strict or None),
                                          ("repeats", s.repeats if s.repeats > 1 else None)) if v]
        if extra:
            lines.append("trustllm: " + " ".join(extra))
        lines.append("trustllm: " + self.suites_line())
        if s.recorded:
            lines.append(f"trustllm: replay folder {s.recorded}: records and responses read from it; judges left at "
                         "auto use the labels recorded beside the responses (refusal eval_res, toxicity, similarity)")
        return lines

    def suites_line(self) -> str:
        from .suite.builtin import BuiltinSuitesError, builtin_suites_dir

        try:
            where = str(builtin_suites_dir() / "trustllm")
        except BuiltinSuitesError as e:
            return f"suites: {e}"
        if self.suite_paths:
            chosen = "collected (select with -m DIMENSION or -m TASK, e.g. -m fairness, -m jailbreak)"
        elif self.settings.suites == "none":
            chosen = "not collected (--trust-suites=none)"
        else:
            chosen = "not collected (paths were named, or no --trust-model; --trust-suites=trustllm adds them)"
        return f"suites=built-in TrustLLM ({where}) {chosen}"

    def _shown_default(self, kind: str) -> str:
        """``auto`` with what it resolves to (both defaults read only the environment, so this is cheap)."""
        value = getattr(self.settings, kind)
        if value != "auto":
            return value
        from .judges.registry import judge_spec

        return f"auto->{judge_spec(kind, {kind: value})[0] or 'none'}"

    def data_source(self) -> str:
        if self.settings.data:
            return self.settings.data
        from .dataset import default_data_dir_description

        return default_data_dir_description()

    # -- collection ------------------------------------------------------------------------
    def claims(self, path: Path) -> bool:
        in_suites = any(part in self.settings.suite_dirs for part in path.parent.parts) or is_builtin(path)
        return is_suite_file(path, in_suites)

    def resolve_data(self, suite: SuiteSpec) -> Path:
        from .suite.records import DataError

        ref = suite.data
        if ref.startswith("trustllm:"):
            if self._data_dir is None:
                try:
                    self._data_dir = Path(self.settings.recorded) if self.settings.recorded else self._release_dir()
                except DatasetError as e:
                    raise DataError(str(e)) from None
                self.runtime.data_dir = self._data_dir
            path = self._data_dir / ref[len("trustllm:"):]
            if self.settings.recorded and not path.is_file():
                raise NotRecorded(f"{ref[len('trustllm:'):]} was not recorded in {self.settings.recorded}")
            return path
        p = Path(ref)
        return p if p.is_absolute() else suite.path.parent / p

    def _release_dir(self) -> Path:
        from .dataset import ensure_dataset

        return ensure_dataset(self.settings.data)

    def check_data(self, suite: SuiteSpec, data_path: Path) -> None:
        """Official files that differ from their pinned checksums are reported (issue: modified data).
        A recorded folder's files hold responses, so only their prompts and ground truth are compared."""
        from .dataset import check_file, check_recorded_file
        from .suite.records import DataError

        if self.settings.recorded and suite.data.startswith("trustllm:"):
            try:
                note = check_recorded_file(data_path, self._release_dir() / suite.data[len("trustllm:"):])
            except DatasetError as e:
                raise DataError(f"{data_path}: cannot check it against the pinned release: {e}") from None
        else:
            note = check_file(data_path, suite.data)
        if note:
            if not self.settings.allow_modified_data:
                raise DataError(f"{data_path}: {note}. Pass --trust-allow-modified-data to run on it anyway "
                                "(the results then record that the data was modified)")
            self._data_notes[suite.data] = note

    def register_marker(self, name: str, text: str) -> None:
        if name not in self._markers and name not in self.BUILTIN_MARKERS:
            self._markers.add(name)
            self.config.addinivalue_line("markers", f"{name}: {text or 'trust suite marker'}")

    def select(self, items: list[pytest.Item], config: pytest.Config) -> None:
        from .collect import TrustItem
        from .shard import in_shard

        pair = self.settings.shard_pair
        if pair:
            keep, drop = [], []
            for it in items:
                (keep if not isinstance(it, TrustItem) or in_shard(it.suite.id, it.spec, *pair) else drop).append(it)
            if drop:
                config.hook.pytest_deselected(items=drop)
                items[:] = keep
        self._chunks = None

    def chunk_items(self, session: pytest.Session, chunk_nodeid: str) -> list:
        """The selected items of one batch on this process (built once from ``session.items``)."""
        if self._chunks is None:
            from .collect import TrustItem

            chunks: dict[str, list] = {}
            for it in session.items:
                if isinstance(it, TrustItem):
                    chunks.setdefault(it.parent.nodeid, []).append(it)
            self._chunks = chunks
        return self._chunks.get(chunk_nodeid, [])

    # -- xdist -----------------------------------------------------------------------------
    def configure_worker(self, node: Any) -> None:
        node.workerinput["trust_refusal"] = self.resolve_refusal()
        if self.runtime.session_cache:
            node.workerinput["trust_session_cache"] = self.runtime.session_cache

    def send_worker_output(self, config: pytest.Config) -> None:
        config.workeroutput["trust"] = json.dumps(self.process_info())

    def receive_worker_output(self, output: dict[str, Any]) -> None:
        if "trust" in output:
            self.worker_outputs.append(json.loads(output["trust"]))

    def process_info(self) -> dict[str, Any]:
        """What only the processes that ran the items know: model identities and judge counts."""
        models = {spec: dict(b.identity) for spec, b in self.runtime._backends.items()}
        judges = []
        if self.runtime._judges is not None:
            from .judges.registry import judges_report

            judges = judges_report(self.runtime._judges)
        return {"models": models, "judges": judges, "data_notes": self._data_notes}

    # -- end of run ------------------------------------------------------------------------
    def suite_for(self, file: str) -> SuiteSpec:
        if file not in self._suites:
            self._suites[file] = load_suite(file)
        return self._suites[file]

    def finish(self, pytest_status: int) -> int:
        """Decide the run (``results.decide_run``), write the results JSON; returns the exit status."""
        if self.runtime.sequential is not None:
            self.runtime.sequential.finalize_payloads(self.collector)
        groups = []
        for file, model, origin, payloads in self.collector.groups():
            try:
                suite = self.suite_for(file)
            except SuiteError:
                continue
            groups.append(SuiteRun(suite, file_ref(file, self.config.rootpath), model, origin, payloads,
                                   self.overrides))
        infos = [self.process_info()] + self.worker_outputs
        self.run = decide_run(self.settings, groups, infos, pytest_status, self.config.rootpath,
                              post=self._extensions(infos))
        if self.settings.repeats > 1:
            from .repeats import summary_lines
            from .report import label

            lines = summary_lines(self.run.to_json()["suites"], label)
            self.run = dataclasses.replace(self.run, summary_extra=tuple(lines) + self.run.summary_extra)
        self.exit_reason = self.run.exit.reason
        self.results = self.run.to_json()
        _write_outputs(self)
        if self.settings.report:
            write_json_atomic(self.settings.report, self.results)
        return self.run.exit.status

    def _extensions(self, infos: list[dict[str, Any]]) -> list:
        """What --trust-budget, --trust-sequential and --trust-calibration add to the decision (``decide_run``)."""
        out = []
        if self.runtime.budget is not None:
            from .results import merge_judges

            out.append(lambda suites: _named("budget", *self.runtime.budget.results_block(suites, merge_judges(infos))))
        if self.runtime.sequential is not None:
            out.append(lambda suites: _named("sequential", *self.runtime.sequential.results_block(suites)))
        if self.settings.calibration:
            from .calibrate import attachment_lines, run_attachment

            def calibration(suites):
                block = run_attachment(self.settings.calibration, self.resolve_refusal())
                return {"calibration": block}, attachment_lines(block)

            out.append(calibration)
        return out

    def write_junit(self, config: pytest.Config) -> None:
        xmlpath = config.option.xmlpath if hasattr(config.option, "xmlpath") else None
        if (xmlpath and self.results and self.results["suites"] and self.settings.model
                and os.path.exists(xmlpath)):
            add_junit_gates(xmlpath, self.results["suites"], junit_model_props(self.results["model"]))
            if self.settings.repeats > 1:
                from .repeats import add_junit_properties

                add_junit_properties(xmlpath, self.results["suites"])

    def terminal_summary(self, tr: Any) -> None:
        if not self.results or not self.results["suites"]:
            return
        tr.write_sep("=", "trust summary")
        for line in summary_lines(self.results["suites"]):
            tr.write_line(line)
        tr.write_line("")
        for line in item_lines(self.results["suites"]):
            tr.write_line(line)
        tr.write_line(f"gates: {gate_counts(self.results['suites'])}")
        for line in skipped_lines(self.results["suites"]):
            tr.write_line(line)
        gen = self.results["generation"]
        replayed = f", {gen['replayed']} replayed" if gen.get("replayed") else ""
        tr.write_line(f"responses: {gen['generated']} generated, {gen['cached']} from cache{replayed}, "
                      f"{gen['errors']} failed")
        for model, u in gen["usage"].items():
            if u["prompt_tokens"] or u["completion_tokens"]:
                tr.write_line(f"tokens [{model}]: {u['prompt_tokens']} prompt, {u['completion_tokens']} completion")
        for j in self.results["judges"]:
            problems = "; ".join(f"{k}: {v}" for k, v in (j.get("problems") or {}).items())
            tr.write_line(f"judge {j['kind']}: {j['name']} ({j['calls']} calls, {j['cached']} cached, "
                          f"{j['failures']} failures){' — ' + problems if problems else ''}")
        for path, note in self.results["data"].items():
            tr.write_line(f"data: {path}: {note}")
        for line in self.results.get("summary_extra", []):
            tr.write_line(line)
        if self.settings.report:
            tr.write_line(f"results JSON: {self.settings.report}")

    def final_line(self, config: pytest.Config) -> None:
        if self.exit_reason and self.results and self.results["suites"]:
            tr = config.pluginmanager.get_plugin("terminalreporter")
            if tr is not None:
                tr.write_line(self.exit_reason, red=self.results["exit"]["status"] != 0,
                              green=self.results["exit"]["status"] == 0, bold=True)

    def reports_line(self, config: pytest.Config) -> None:
        """The run's last line: where its reports are (results JSON, HTML, JUnit), those asked for."""
        if not self.results or not self.results["suites"]:
            return
        tr = config.pluginmanager.get_plugin("terminalreporter")
        xml = getattr(config.option, "xmlpath", None)
        written = [(kind, path) for kind, path in (("results JSON", self.settings.report),
                                                   ("HTML", self.settings.html), ("JUnit", xml)) if path]
        if tr is not None and written:
            tr.write_line("trustllm reports: " + ", ".join(f"{kind} {path}" for kind, path in written))

    def close(self) -> None:
        self.runtime.close()


def _named(name: str, block: Any, lines: list[str]) -> tuple[dict[str, Any], list[str]]:
    return {name: block}, lines


def _write_outputs(state: RunState) -> None:
    """Files made from the final results (--trust-save-baseline, --trust-html); lines for the summary."""
    if state.run is None or not (state.settings.save_baseline or state.settings.html):
        return
    from dataclasses import replace

    from .decisions import write_outputs

    lines = write_outputs(state.settings, state.results)
    state.run = replace(state.run, summary_extra=state.run.summary_extra + tuple(lines))
    state.results = state.run.to_json()


STATE = pytest.StashKey[RunState]()  # owned here, so items and fixtures need not import the plugin module
