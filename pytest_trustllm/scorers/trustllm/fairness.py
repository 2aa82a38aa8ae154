"""TrustLLM fairness rules."""
