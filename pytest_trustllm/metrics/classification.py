"""Reductions used by the TrustLLM suites (classification)."""
