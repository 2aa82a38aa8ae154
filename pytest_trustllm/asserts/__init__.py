"""Assertion helpers for hand-written trust tests.

Generic helpers are here; each TrustLLM rule has its helper in the module of its dimension
(``pytest_trustllm.asserts.safety``, ``.fairness``, ...), all re-exported below.
"""
from .generic import (  # noqa: F401
    assert_choice,
    assert_complies,
    assert_contains,
    assert_matches,
    assert_not_contains,
    assert_passes,
    assert_refuses,
)


def __getattr__(name: str):
    """TrustLLM rule helpers, imported from their dimension module on first use."""
    import importlib

    for dim in ("truthfulness", "safety", "fairness", "robustness", "privacy", "ethics"):
        try:
            mod = importlib.import_module(f"{__name__}.{dim}")
        except ModuleNotFoundError:
            continue
        if hasattr(mod, name):
            return getattr(mod, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
