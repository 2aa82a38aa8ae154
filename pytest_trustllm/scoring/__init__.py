"""Scoring: per-item rules (``scorers/``), the judges they call (``judges/``), the ``assert_*`` helpers for
hand-written tests (``asserts/``) and the refusal judge's calibration; no pytest here."""
