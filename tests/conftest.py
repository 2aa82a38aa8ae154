"""Shared by every test folder. ``pytester`` is loaded by ``-p pytester`` in pyproject.toml's addopts; the
plugin tests' helpers live in tests/plugin/conftest.py."""
