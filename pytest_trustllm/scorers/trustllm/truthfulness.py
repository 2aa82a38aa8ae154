"""TrustLLM truthfulness rules."""
