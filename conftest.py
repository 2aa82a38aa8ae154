"""Repository-level pytest configuration for the project's own tests (pytest requires
``pytest_plugins`` in the root conftest): pytester, and the strict skip mode CI turns on
(tests/strict_skips.py)."""
pytest_plugins = ["pytester", "tests.strict_skips"]
