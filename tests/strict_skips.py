"""Strict CI mode for the project's own tests: with ``TRUST_TESTS_STRICT_SKIPS=1`` (set by
``.ci/run``) a test or a module that skips for a reason not in ``ALLOWED`` fails instead, so a
broken install, a missing data folder or a browser that could not be installed cannot leave CI
green with checks that never ran. Loaded by the root conftest.py; works under xdist (workers
inherit the variable and make the reports)."""
from __future__ import annotations

import os

import pytest

ENV = "TRUST_TESTS_STRICT_SKIPS"

# skip reason (its start) -> why such a skip is expected on a correctly installed CI machine
ALLOWED = {
    "shell script stands in for nvidia-smi":
        "Windows only: the fake nvidia-smi is a shell script; CI runs on Linux, where the test runs",
    "needs os.sched_setaffinity (Linux)":
        "macOS and Windows have no affinity mask to pin; CI runs on Linux, where the tests run",
}


def strict() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def allowed(reason: str) -> bool:
    return any(reason.startswith(prefix) for prefix in ALLOWED)


def _fail_unlisted_skip(report) -> None:
    """Only for Python tests and modules: a suite item that skips (a dropped record, no model given)
    in a trust run that a test starts in-process from this repository is the product's behaviour."""
    if report.skipped and not hasattr(report, "wasxfail") and strict():
        reason = skip_reason(report)
        if not allowed(reason):
            report.outcome = "failed"
            report.longrepr = (f"skipped outside the allowlist ({ENV}=1, tests/strict_skips.py ALLOWED): "
                               f"{reason}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if isinstance(item, pytest.Function):
        _fail_unlisted_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    if isinstance(collector, pytest.Module):
        _fail_unlisted_skip(report)  # a module-level skip (pytest.skip(allow_module_level=True))
    return report
