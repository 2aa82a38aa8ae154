"""pytest hooks only: each body a few lines that call into the modules that do the work."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Generator

import pytest

from pytest_trustllm.plugin import hookspecs
from pytest_trustllm.plugin.fixtures import trust_model, trust_outcome  # noqa: F401  (fixtures)
from pytest_trustllm.plugin.options import add_options, add_threshold_ini, resolve
from pytest_trustllm.plugin.controller import CONTROLLER, Controller
from pytest_trustllm.plugin.session import BUILTIN_MARKERS, STATE, RunState, is_worker, pin_gpus, run_state


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    add_threshold_ini(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    settings = resolve(config)
    if is_worker(config):
        pin_gpus(settings)  # before anything initialises CUDA
    config.stash[STATE] = state = RunState.create(config, settings)
    state.add_suite_paths()
    if not is_worker(config):
        state.check_model_specs()
        state.check_dataset()
        if state.will_run_items():
            state.preflight()
        state.open_cache()
        config.stash[CONTROLLER] = controller = Controller(state)
        config.pluginmanager.register(ReportListener(controller), "trustllm-reports")
    config.pluginmanager.register(CollectionErrors(), "trustllm-collection-errors")
    config.pluginmanager.register(Sharding(), "trustllm-sharding")
    if settings.budget or settings.prices:
        from pytest_trustllm.plugin.budget import BudgetPlugin

        config.pluginmanager.register(BudgetPlugin(state), "trustllm-budget")
    if settings.sequential:
        from pytest_trustllm.plugin.sequential import SequentialPlugin

        config.pluginmanager.register(SequentialPlugin(state), "trustllm-sequential")
    from pytest_trustllm.scoring.scorers import SCORERS

    config.hook.pytest_trust_register_scorers(registry=SCORERS)
    for name, text in BUILTIN_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    from pytest_trustllm.plugin.header import header_lines

    return header_lines(run_state(config))


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # pytest prints no header under -q; which model, engine, data and gates a trust run uses is
    # worth its lines even there (not under -qq, nor in a run without a model)
    config = session.config
    if config.get_verbosity() == -1 and not is_worker(config) and run_state(config).settings.model:
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            from pytest_trustllm.plugin.header import header_lines

            for line in header_lines(run_state(config)):
                tr.write_line(line)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    state = run_state(parent.config)
    if state.claims(file_path):
        from pytest_trustllm.plugin.collect import SuiteFile

        return SuiteFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    from pytest_trustllm.plugin.collect import collect_suite_paths

    collect_suite_paths(run_state(config), session, items)


class Sharding:
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        from pytest_trustllm.plugin.collect import select_shard

        select_shard(run_state(config), items, config)


def pytest_collection_finish(session: pytest.Session) -> None:
    state = run_state(session.config)
    if not is_worker(session.config) and state.will_run_items():
        from pytest_trustllm.plugin.collect import models_in

        state.load_backends(models_in(session.items))  # a model that cannot load stops the run here, once


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    payload = getattr(item, "trust_payload", None)
    if payload is not None and (call.when == "call" or (call.when == "setup" and report.outcome != "passed")):
        report.trust = payload  # travels to the xdist controller with the report
    return report


class CollectionErrors:
    """A bad suite is a collection error for that file; the other suites still run."""

    def __init__(self) -> None:
        self.suite_errors = 0
        self.other_errors = 0

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            if report.nodeid.endswith((".yaml", ".yml")) or ".yaml::" in report.nodeid or ".yml::" in report.nodeid:
                self.suite_errors += 1
            else:
                self.other_errors += 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        # pytest stops after collection errors; when they all come from suites, run the rest
        # (the exit status still says the run failed)
        if self.suite_errors and not self.other_errors:
            session.config.option.continue_on_collection_errors = True


class ReportListener:
    """On the controller: receives every test report (also the workers' reports under xdist), feeds
    the payloads to the controller, and shows the run's progress: items done, items/s and time left."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.progress: Any = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, "trust", None)
        if payload is None:
            return
        self.controller.collector.add(payload)
        if self.controller.settings.progress != "off":
            self._progress(payload)

    def _progress(self, payload: dict) -> None:
        if self.progress is None:
            from pytest_trustllm.generation.generate import Progress

            tr = self.controller.state.config.pluginmanager.get_plugin("terminalreporter")
            session = getattr(tr, "_session", None)
            total = getattr(session, "testscollected", 0) if session else 0
            if tr is None or not total:
                return
            self.progress = Progress(total, label="items", stream=_TerminalLines(tr),
                                     every_s=2.0 if self.controller.settings.progress == "on" else 15.0)
        gen = payload.get("generation") or {}
        self.progress.add_cached(1) if gen.get("cached") else self.progress(1)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.controller.write_junit(session.config)  # after pytest's junitxml plugin has written its file


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = run_state(session.config)
    if is_worker(session.config):
        state.send_worker_output(session.config)
    else:
        session.exitstatus = session.config.stash[CONTROLLER].finish(int(exitstatus))
    state.close()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    controller = config.stash.get(CONTROLLER, None)
    if controller is not None:
        controller.terminal_summary(terminalreporter)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.release_locator()
    controller = config.stash.get(CONTROLLER, None)
    if controller is not None:
        controller.reports_line(config)  # then the verdict, the run's last line
        controller.final_line(config)


class _TerminalLines:
    """A stream that writes whole lines through pytest's terminal reporter."""

    def __init__(self, tr: Any) -> None:
        self.tr = tr

    def write(self, text: str) -> None:
        if text.strip():
            # -q progress dots leave the cursor mid-line and write_line() only breaks a path line
            tw = getattr(self.tr, "_tw", None)
            if getattr(tw, "width_of_current_line", 0):
                tw.line()
            self.tr.write_line(text.rstrip("\n"))

    def flush(self) -> None:
        pass


# -- pytest-xdist ---------------------------------------------------------------------------

class XdistHooks:
    """Registered only when pytest-xdist is installed."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_auto_num_workers(self, config: pytest.Config) -> int | None:
        from pytest_trustllm.generation.backends.gpus import auto_num_workers

        return auto_num_workers(run_state(config).settings)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        # A batch of items must run on one worker: schedule by batch.
        if config.getvalue("dist") == "load":
            from pytest_trustllm.plugin.scheduling import BatchScheduling

            return BatchScheduling(config, log)
        return None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        run_state(node.config).configure_worker(node)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        node.config.stash[CONTROLLER].receive_worker_output(getattr(node, "workeroutput", {}) or {})


def pytest_plugin_registered(plugin: Any, manager: pytest.PytestPluginManager) -> None:
    if getattr(plugin, "__name__", "") == "xdist.plugin" and not manager.has_plugin("trustllm-xdist"):
        manager.register(XdistHooks(), "trustllm-xdist")

