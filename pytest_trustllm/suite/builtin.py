"""The TrustLLM suites that ship with the plugin, and how a run finds them.

In the repository they live at the top (``suites/trustllm``, the design card's layout); the wheel installs
the same files as package data under ``pytest_trustllm/builtin_suites``. ``--trust-suites`` (ini
``trust_suites``) decides whether a run collects them:

- ``auto`` (default): the built-in set when ``--trust-model`` is given and no path was named on the
  command line, so ``pytest --trust-model=gpt-4 -m fairness`` runs the fairness suites in any folder,
  beside the project's own tests;
- ``trustllm``: always the built-in set; ``none``: never; a PATH: that folder of suites as well.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

BUILTIN_NAME = "trustllm"
# results' ``suites[].file`` for a built-in suite outside the rootdir: stable across machines and venvs
BUILTIN_REF = "pytest-trustllm:"


class BuiltinSuitesError(Exception):
    pass


@functools.lru_cache(maxsize=1)
def builtin_suites_dir() -> Path:
    """The folder holding ``trustllm/<dimension>/<task>.yaml``: inside the installed package, else the
    top of a source checkout (an editable install)."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "builtin_suites", package.parent / "suites"):
        if (candidate / BUILTIN_NAME).is_dir():
            return candidate
    raise BuiltinSuitesError(f"the built-in TrustLLM suites are missing from this installation ({package}); "
                             "reinstall pytest-trustllm")


def collection_paths(value: str, *, model_given: bool, paths_given: bool, args: list[str]) -> list[str]:
    """The folders of suites to collect for ``--trust-suites=value``, besides the run's arguments."""
    if value == "none" or (value == "auto" and (not model_given or paths_given)):
        return []
    folder = builtin_suites_dir() if value in ("auto", BUILTIN_NAME) else Path(value).expanduser()
    if not folder.is_dir():
        raise BuiltinSuitesError(f"--trust-suites={value}: {folder} is not a folder "
                                 f"(use {BUILTIN_NAME}, none, auto or a folder of suite files)")
    folder = folder.resolve()
    for arg in args:  # already collected through an argument: adding it again would collect it twice
        p = Path(arg.split("::")[0]).resolve()
        if p == folder or folder in p.parents or p in folder.parents:
            return []
    return [str(folder)]


def suite_files(folder: Path, rootpath: Path) -> list[tuple[Path, str | None]]:
    """The suite files under ``folder`` in a stable order, each with its node id: None (pytest's own,
    relative to the rootdir) inside the rootdir, else relative to the folder
    (``trustllm/fairness/stereotype_query.yaml``), never a site-packages path."""
    from pytest_trustllm.suite.load import is_suite_file

    out = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()):
        if not is_suite_file(path, in_suites_dir=False):
            continue
        try:
            path.relative_to(rootpath)
            out.append((path, None))
        except ValueError:
            out.append((path, path.relative_to(folder).as_posix()))
    return out


def is_builtin(path: Path) -> bool:
    try:
        root = builtin_suites_dir()
    except BuiltinSuitesError:
        return False
    return root in path.resolve().parents


def file_ref(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """How results name a suite file: relative to the rootdir, or ``pytest-trustllm:trustllm/...`` for a
    built-in suite installed outside it (a site-packages path means nothing on another machine)."""
    rel = os.path.relpath(path, root)
    if rel.startswith("..") and is_builtin(Path(path)):
        return BUILTIN_REF + Path(path).resolve().relative_to(builtin_suites_dir()).as_posix()
    return rel


def resolve_file_ref(ref: str, root: str | os.PathLike | None) -> Path:
    if ref.startswith(BUILTIN_REF):
        return builtin_suites_dir() / ref[len(BUILTIN_REF):]
    p = Path(ref)
    return p if p.is_absolute() else Path(root or os.getcwd()) / p
