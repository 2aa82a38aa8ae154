"""TrustLLM robustness rules."""
