"""Shared by every test folder. ``pytester`` comes from the repository's root conftest.py (pytest
accepts ``pytest_plugins`` only there); the plugin tests' helpers live in tests/plugin/conftest.py."""
