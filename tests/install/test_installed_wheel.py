"""The product as a pip user gets it: the built wheel, installed into a fresh virtual environment with no
repository on the path, run from an empty folder (issue "Installed, not cloned").

The environment installs the wheel's dependencies from the package index (as a user's pip would);
it is built once per session (about 30 s)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = (REPO / ".." / "shared").resolve()
DATA = Path(os.environ.get("TRUSTLLM_DATA") or SHARED / "trustllm" / "dataset")
RECORDED = Path(os.environ.get("TRUSTLLM_RECORDED") or SHARED / "trustllm" / "recorded")
MISTRAL = RECORDED / "mistral-7b"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the files git knows (as a clean clone has them), so builds on two xdist
    workers never share a build folder, and nothing ignored (a venv, caches) can leak into the wheel."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            check=True, capture_output=True, text=True).stdout
    for rel in filter(None, listed.split("\0")):
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                           str(out), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (whl,) = out.glob("pytest_trustllm-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel (with the openai extra, for the API-key check)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    proc = subprocess.run([str(py), "-m", "pip", "install", "-q", f"{wheel}[openai]"], capture_output=True, text=True,
                          env=_clean_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return env_dir


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "PYTHON", "VIRTUAL_ENV", "OPENAI_")) and k != "TRUSTLLM_RECORDED"}
    env.update(TRUSTLLM_DATA=str(DATA), **extra)
    return env


def _pytest(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(installed / "bin" / "pytest"), "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, env=_clean_env(), timeout=600)


def test_wheel_carries_the_26_suites_and_no_workspace_path(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        suites = sorted(n for n in names if n.startswith("pytest_trustllm/builtin_suites/trustllm/")
                        and n.endswith(".yaml"))
        assert len(suites) == 26, suites
        expected = sorted("pytest_trustllm/builtin_suites/" + p.relative_to(REPO / "suites").as_posix()
                          for p in (REPO / "suites" / "trustllm").rglob("*.yaml"))
        assert suites == expected
        leaks = [n for n in names if n.endswith((".py", ".yaml", ".json")) and b"../shared" in z.read(n)]
        assert leaks == []


def test_installed_package_writes_the_html_report(installed: Path, tmp_path: Path) -> None:
    """The report's templates, CSS and JS are package data: the installed wheel renders the page from them."""
    py = installed / "bin" / "python"
    code = ("from pytest_trustllm.render.html import write_html; write_html('r.html', {'suites': [], "
            "'model': {'spec': 'fake <b>'}, 'exit': {'status': 0, 'reason': 'all gates passed'}})")
    run = subprocess.run([str(py), "-c", code], cwd=tmp_path, capture_output=True, text=True, env=_clean_env())
    assert run.returncode == 0, run.stdout + run.stderr
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<title>pytest-trustllm: fake &lt;b&gt;</title>" in page and "all gates passed" in page
    assert "box-sizing:border-box" in page and "getElementById('f-suite')" in page  # report.css, report.js


def test_installed_package_runs_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    py = installed / "bin" / "python"
    where = subprocess.run([str(py), "-c", "import pytest_trustllm, sys; print(pytest_trustllm.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, env=_clean_env())
    assert where.stdout.startswith(str(installed)), where.stdout + where.stderr  # the wheel, not the repository

    collect = _pytest(installed, tmp_path, "--collect-only", "-q", "-m", "fairness", "--trust-model=smollm2")
    assert collect.returncode == 0, collect.stdout[-3000:] + collect.stderr
    ids = [ln for ln in collect.stdout.splitlines() if "::" in ln]
    assert len(ids) == 3145 and all(i.startswith("trustllm/fairness/") for i in ids)

    no_key = _pytest(installed, tmp_path, "-m", "fairness", "--trust-model=gpt-4")
    assert no_key.returncode == 4, no_key.stdout[-3000:] + no_key.stderr
    assert no_key.stderr.count("OPENAI_API_KEY") == 1 and "collected" not in no_key.stdout


@pytest.mark.skipif(not MISTRAL.is_dir(), reason="needs the recorded responses (TRUSTLLM_RECORDED)")
def test_installed_package_replays_a_recorded_folder(installed: Path, tmp_path: Path) -> None:
    run = _pytest(installed, tmp_path, "-m", "jailbreak", f"--trust-model=replay:{MISTRAL}", "--trust-report=r.json")
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    (suite,) = [s for s in doc["suites"] if s["id"] == "trustllm/safety/jailbreak"]
    rta = next(m for m in suite["metrics"] if m["name"] == "rta")
    assert round(rta["value"], 3) == 0.590
    assert doc["settings"]["refusal"] == "recorded"


def test_pyproject_lists_every_package() -> None:
    """pyproject.toml lists the packages by hand (the suites folder is mapped into the package), so a new
    subpackage that is not listed would be missing from the wheel."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "pytest_trustllm").rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)
    assert "pytest_trustllm.builtin_suites" in listed
