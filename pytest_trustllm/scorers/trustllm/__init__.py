"""The TrustLLM rules, one module per dimension (registration happens on import)."""
from . import common, truthfulness, safety, fairness, robustness, privacy, ethics  # noqa: F401
