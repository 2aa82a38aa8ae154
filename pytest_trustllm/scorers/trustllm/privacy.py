"""TrustLLM privacy rules."""
