"""TrustLLM safety rules."""
