"""Metrics: pure reductions from a list of scored items to a value, registered by name."""
from .core import (  # noqa: F401
    REDUCTIONS,
    MetricSpec,
    MetricValue,
    compute_metrics,
    field_of,
    kept,
    matches,
    reduction,
)
from .weights import weighted_reduction  # noqa: F401
