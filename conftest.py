"""Repository-level pytest configuration. The project's own tests load pytester through ``addopts``
(``-p pytester`` in pyproject.toml), not ``pytest_plugins`` here, so that this file stays harmless
when the suites folder beside it is collected from another directory (an editable install)."""
