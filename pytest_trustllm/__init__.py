"""pytest-trustllm: TrustLLM trust checks as pytest tests.

Importing the package is cheap: torch, transformers and openai load only inside the backend or
judge that needs them.
"""
from .types import Score, dropped, passed, violated  # noqa: F401

__version__ = "0.1.0"


def suite_records(suite_path, data_dir=None):
    """A suite's records as ``pytest.param`` values for ``@pytest.mark.parametrize``."""
    from .fixtures import suite_records as _records

    return _records(suite_path, data_dir)
