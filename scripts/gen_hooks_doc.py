"""Render docs/hooks.md from the hook specifications' docstrings (tests check it is current)."""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_trustllm.plugin import hookspecs  # noqa: E402


def render() -> str:
    out = ["# Hooks", "", "Generated from `pytest_trustllm/plugin/hookspecs.py` by `scripts/gen_hooks_doc.py`; "
           "implement them in a `conftest.py` or a plugin.", ""]
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if not name.startswith("pytest_trust_"):
            continue
        sig = inspect.signature(fn)
        first = "firstresult: the first non-None result wins" if getattr(fn, "pytest_spec", {}).get(
            "firstresult") else "called on every implementation"
        out += [f"## `{name}{sig}`", "", f"*{first}*", "", inspect.cleandoc(fn.__doc__ or ""), ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    (ROOT / "docs" / "hooks.md").write_text(render(), encoding="utf-8")
    print("wrote docs/hooks.md")
