"""Repository-level pytest configuration for the project's own tests.

pytester is loaded by ``-p pytester`` in pyproject.toml's addopts and the strict skip mode CI turns on
(tests/strict_skips.py) by the hook imports below, not by ``pytest_plugins``: this file must stay harmless
when the suites folder beside it is collected from another directory (an editable install), where pytest
refuses ``pytest_plugins`` in a conftest that is not the rootdir's."""
from tests.strict_skips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401 (hooks)

# tests/unit/data holds suite files kept as fixtures for test_suite_expand.py (the jailbreak and disparagement
# suites before their metrics were generated): data, not suites for the test session to collect. (Here, not in a
# tests/unit/conftest.py: the plugin tests import their helpers as the module named ``conftest``.)
collect_ignore = ["tests/unit/data"]
