"""pytest-trustllm: TrustLLM trust checks as pytest tests.

Installed, ``pytest --trust-model=SPEC -m fairness`` runs the built-in TrustLLM suites (shipped in the
package, see ``--trust-suites``) in any folder. Importing the package is cheap: torch, transformers and
openai load only inside the backend or judge that needs them.
"""
from importlib.metadata import PackageNotFoundError, version as _version

from .types import Score, dropped, passed, violated

try:
    __version__ = _version("pytest-trustllm")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"

__all__ = ["Score", "__version__", "dropped", "passed", "suite_records", "violated"]


def suite_records(suite_path, data_dir=None):
    """A suite's records as ``pytest.param`` values for ``@pytest.mark.parametrize``."""
    from .fixtures import suite_records as _records

    return _records(suite_path, data_dir)
