"""Repository-level pytest configuration for the project's own tests (pytest requires
``pytest_plugins`` in the root conftest)."""
pytest_plugins = ["pytester"]
