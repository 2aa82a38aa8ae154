"""The controller's side of a trust run (the only process without xdist; the xdist controller with
it): it receives every item's payload and the workers' process info, decides the run once
(``verdict.decide.decide_run``) and writes the reports. Kept in ``config.stash`` under ``CONTROLLER``."""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_trustllm.plugin.session import RunState
from pytest_trustllm.render.report import (add_junit_gates, item_lines, junit_model_props, skipped_lines,
                                           summary_lines, write_json_atomic)
from pytest_trustllm.suite.builtin import file_ref
from pytest_trustllm.suite.load import SuiteError, load_suite
from pytest_trustllm.suite.schema import SuiteSpec
from pytest_trustllm.verdict.aggregate import Collector
from pytest_trustllm.verdict.decide import SuiteRun, decide_run, gate_counts
from pytest_trustllm.verdict.model import RunResult


@dataclass
class Controller:
    state: RunState
    collector: Collector = field(default_factory=Collector)
    worker_outputs: list[dict[str, Any]] = field(default_factory=list)
    run: RunResult | None = None
    results: dict[str, Any] | None = None  # the run's JSON form, as written to --trust-report
    _suites: dict[str, SuiteSpec] = field(default_factory=dict)

    @property
    def settings(self) -> Any:
        return self.state.settings

    def receive_worker_output(self, output: dict[str, Any]) -> None:
        if "trust" in output:
            self.worker_outputs.append(json.loads(output["trust"]))

    def suite_for(self, file: str) -> SuiteSpec:
        if file not in self._suites:
            self._suites[file] = load_suite(file)
        return self._suites[file]

    # -- the decision --------------------------------------------------------------------------
    def finish(self, pytest_status: int) -> int:
        """Decide the run (``decide_run``), write the results JSON and the files made from it; returns
        the exit status."""
        runtime = self.state.runtime
        if runtime.sequential is not None:
            runtime.sequential.finalize_payloads(self.collector)
        groups = []
        for file, model, origin, payloads in self.collector.groups():
            try:
                suite = self.suite_for(file)
            except SuiteError:
                continue
            groups.append(SuiteRun(suite, file_ref(file, self.state.config.rootpath), model, origin, payloads,
                                   self.state.overrides))
        infos = [self.state.process_info()] + self.worker_outputs
        run = decide_run(self.settings, groups, infos, pytest_status, self.state.config.rootpath,
                         post=self._extensions(infos))
        if self.settings.repeats > 1:
            from pytest_trustllm.render.repeats import summary_lines as repeat_lines
            from pytest_trustllm.verdict.model import label

            lines = repeat_lines(run.to_json()["suites"], label)
            run = dataclasses.replace(run, summary_extra=tuple(lines) + run.summary_extra)
        if self.settings.save_baseline or self.settings.html:
            from pytest_trustllm.render.outputs import write_outputs

            lines = write_outputs(self.settings, run.to_json())
            run = dataclasses.replace(run, summary_extra=run.summary_extra + tuple(lines))
        self.run = run
        self.results = run.to_json()
        if self.settings.report:
            write_json_atomic(self.settings.report, self.results)
        return run.exit.status

    def _extensions(self, infos: list[dict[str, Any]]) -> list:
        """What --trust-budget, --trust-sequential and --trust-calibration add to the decision (``decide_run``)."""
        runtime = self.state.runtime
        out = []
        if runtime.budget is not None:
            from pytest_trustllm.verdict.aggregate import merge_judges

            judges = merge_judges(infos)
            out.append(lambda suites: _named("budget", *runtime.budget.results_block(suites, judges, self.collector)))
        if runtime.sequential is not None:
            out.append(lambda suites: _named("sequential", *runtime.sequential.results_block(suites)))
        if self.settings.calibration:
            from pytest_trustllm.scoring.calibrate import attachment_lines, run_attachment

            def calibration(suites):
                block = run_attachment(self.settings.calibration, self.state.resolve_refusal())
                return {"calibration": block}, attachment_lines(block)

            out.append(calibration)
        return out

    # -- reports -------------------------------------------------------------------------------
    def write_junit(self, config: pytest.Config) -> None:
        xmlpath = config.option.xmlpath if hasattr(config.option, "xmlpath") else None
        if (xmlpath and self.results and self.results["suites"] and self.settings.model
                and os.path.exists(xmlpath)):
            add_junit_gates(xmlpath, self.results["suites"], junit_model_props(self.results["model"]))
            if self.settings.repeats > 1:
                from pytest_trustllm.render.repeats import add_junit_properties

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
        if self.run and self.results and self.results["suites"]:
            tr = config.pluginmanager.get_plugin("terminalreporter")
            if tr is not None:
                status = self.results["exit"]["status"]
                tr.write_line(self.run.exit.reason, red=status != 0, green=status == 0, bold=True)

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


def _named(name: str, block: Any, lines: list[str]) -> tuple[dict[str, Any], list[str]]:
    return {name: block}, lines


CONTROLLER = pytest.StashKey[Controller]()
