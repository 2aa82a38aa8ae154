"""TrustLLM ethics rules."""
