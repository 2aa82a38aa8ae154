"""Check a response cache file: ``python -m pytest_trustllm.generation.cachecheck PATH [PATH...]``.

Exit status 0 when every file is a sound pytest-trustllm cache (SQLite ``integrity_check`` is
``ok``, the layout is ours, every row has a key and a text), 1 otherwise; one report per file on
stdout. Read-only: it never creates, repairs or rewrites a file. The work is done by
``cache.check_cache``; this module is the command line around it.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from pytest_trustllm.generation.cache import check_cache as _check


def check_cache(path: str | Path) -> tuple[bool, str]:
    """(ok, message): the verdict and a human-readable report for one cache file."""
    report = _check(path)
    return report.ok, report.format()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or any(a in ("-h", "--help") for a in args):
        print("usage: python -m pytest_trustllm.generation.cachecheck CACHE.sqlite [...]\n"
              "Checks response cache files without changing them; exit 0 when all are sound.")
        return 0 if args else 2
    status = 0
    for a in args:
        ok, message = check_cache(a)
        print(message)
        status = status or (0 if ok else 1)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
