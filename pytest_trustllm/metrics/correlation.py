"""Reductions used by the TrustLLM suites (correlation)."""
