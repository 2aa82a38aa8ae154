"""Metrics: pure reductions from a list of scored items to a value, registered by name."""
from pytest_trustllm.metrics.core import (  # noqa: F401
    REDUCTIONS,
    MetricSpec,
    MetricValue,
    compute_metrics,
    field_of,
    kept,
    matches,
    reduction,
)
from pytest_trustllm.metrics.weights import weighted_reduction  # noqa: F401
