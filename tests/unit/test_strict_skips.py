"""The strict CI mode (tests/strict_skips.py, TRUST_TESTS_STRICT_SKIPS=1 in .ci/run): a skip whose
reason is not on the allowlist fails the run, whether it comes from a test, a fixture, a module-level
skip or an importorskip of a package that is missing; allowlisted skips and xfails stay as they are;
without the variable nothing changes."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CASES = """
import sys
import pytest

def test_unlisted_skip():
    pytest.skip("recorded responses not found at /nowhere")

@pytest.mark.skipif(True, reason="shell script stands in for nvidia-smi")
def test_allowlisted_skip():
    pass

def test_missing_package():
    pytest.importorskip("no_such_package_for_trustllm_tests")

@pytest.mark.xfail(reason="a known defect", strict=True)
def test_xfail():
    assert False

def test_passes():
    pass
"""


def run(pytester: pytest.Pytester, monkeypatch, strict: str | None):
    if strict is None:
        monkeypatch.delenv("TRUST_TESTS_STRICT_SKIPS", raising=False)
    else:
        monkeypatch.setenv("TRUST_TESTS_STRICT_SKIPS", strict)
    pytester.makepyfile(test_cases=CASES,
                        test_module_skip="import pytest\npytest.skip('no data folder', allow_module_level=True)\n"
                                         "def test_never():\n    pass\n")
    return pytester.runpytest_subprocess("-p", "tests.strict_skips", "-rs", "-p", "no:cacheprovider",
                                         "--continue-on-collection-errors",
                                         f"--rootdir={pytester.path}", "-o", f"pythonpath={ROOT}")


def test_without_the_variable_skips_are_skips(pytester, monkeypatch):
    result = run(pytester, monkeypatch, None)
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)
    assert result.ret == 0


def test_strict_mode_fails_unlisted_skips(pytester, monkeypatch):
    result = run(pytester, monkeypatch, "1")
    result.assert_outcomes(passed=1, skipped=1, xfailed=1, failed=2, errors=1)
    assert result.ret == 1
    out = result.stdout.str()
    prefix = "skipped outside the allowlist (TRUST_TESTS_STRICT_SKIPS=1, tests/strict_skips.py ALLOWED): "
    assert prefix + "recorded responses not found at /nowhere" in out
    assert prefix + "could not import 'no_such_package_for_trustllm_tests'" in out
    assert prefix + "no data folder" in out  # the module-level skip is a collection error
    assert "SKIPPED [1] test_cases.py:7: shell script stands in for nvidia-smi" in out


def test_ci_runs_strict_with_skip_reasons_and_a_required_browser():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "export TRUST_TESTS_STRICT_SKIPS=1" in ci
    assert "|| echo" not in ci  # a chromium that cannot be installed fails CI
    make_test = (ROOT / "Makefile").read_text(encoding="utf-8").split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "-rs" in make_test


def test_ci_run_fails_when_a_required_package_is_hidden(tmp_path):
    """.ci/run itself, with `make` and `chromium` stood in for (no install here; `make test` runs one
    test that importorskips openai) and openai hidden: the skip fails CI; the same test run outside
    .ci/run only skips."""
    import os
    import stat
    import subprocess
    import sys

    shadow = tmp_path / "shadow" / "openai"
    shadow.mkdir(parents=True)
    # as a package that is not installed: importorskip skips on ModuleNotFoundError
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError('openai hidden for this test', name='openai')\n")
    probe = tmp_path / "probe" / "test_probe.py"
    probe.parent.mkdir()
    probe.write_text("import pytest\n\ndef test_needs_openai():\n    pytest.importorskip('openai')\n")
    pytest_cmd = f'"{sys.executable}" -m pytest -p tests.strict_skips -p no:cacheprovider -q -rs "{probe}"'
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("make", f'[ "$1" = install ] && exit 0\nexec {pytest_cmd}\n'), ("chromium", "exit 0\n")):
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(stat.S_IRWXU)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": f"{tmp_path / 'shadow'}{os.pathsep}{ROOT}"}
    env.pop("TRUST_TESTS_STRICT_SKIPS", None)

    ci = subprocess.run(["bash", str(ROOT / ".ci" / "run")], capture_output=True, text=True, env=env, timeout=300)
    assert ci.returncode == 1, ci.stdout[-3000:] + ci.stderr[-3000:]
    assert "skipped outside the allowlist" in ci.stdout and "openai hidden for this test" in ci.stdout

    plain = subprocess.run(["sh", "-c", pytest_cmd], capture_output=True, text=True, env=env, timeout=300)
    assert plain.returncode == 0 and "1 skipped" in plain.stdout, plain.stdout[-3000:]


def test_strict_mode_leaves_trust_items_alone(pytester, monkeypatch):
    """A suite item that skips (here: no --trust-model) is the product's outcome, not a test that did
    not run: strict mode leaves it a skip, as in the trust runs tests start from this repository."""
    monkeypatch.setenv("TRUST_TESTS_STRICT_SKIPS", "1")
    pytester.makefile(".yaml", demo=SUITE)
    pytester.makefile(".jsonl", data='{"id": "a", "prompt": "hi", "kind": "benign"}\n')
    result = pytester.runpytest_subprocess("-p", "tests.strict_skips", "-p", "no:cacheprovider", "demo.yaml",
                                           f"--rootdir={pytester.path}", "-o", f"pythonpath={ROOT}")
    result.assert_outcomes(skipped=1)


SUITE = """\
trustllm_suite: 1
id: demo/strict
dimension: safety
task: strict
data: data.jsonl
record: {id: id, prompt: prompt, fields: [kind]}
generation: {temperature: 0.0, max_new_tokens: 8}
scorer: {name: keyword_refusal, args: {expect: comply}}
metrics: [{name: rate, reduce: proportion, direction: higher}]
"""
