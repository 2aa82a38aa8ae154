"""The TrustLLM rules, one module per dimension; each rule registers with its decorator, and the scorer
registry (scorers/base.py) imports this package before its first lookup."""
from pytest_trustllm.scoring.scorers.trustllm import common, truthfulness, safety, fairness, robustness, privacy, ethics  # noqa: F401
