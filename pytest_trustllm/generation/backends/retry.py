"""Retry policy for remote backends: exponential backoff with jitter that honours Retry-After.

Pure functions (no client library), so the timing rules are tested directly and every backend or
judge that talks to a service retries the same way.
"""
from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Callable, Mapping

# Statuses worth another try: rate limits, server errors, request timeouts and lock conflicts.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


def is_retryable_status(status: int | None) -> bool:
    return status is not None and (status in RETRY_STATUSES or status >= 500)


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date.

    Returns None when absent or unparseable (the caller then uses its own backoff). Negative
    waits (a date in the past) become 0.
    """
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` further attempts after the first. The n-th retry waits
    ``min(cap_s, base_s * 2**n)`` scaled by a random factor in [0.5, 1] ("equal jitter"), or the
    server's Retry-After when it sends one (capped at ``max_retry_after_s``) plus up to 10 % jitter.
    """

    max_retries: int = 6
    base_s: float = 0.5
    cap_s: float = 30.0
    max_retry_after_s: float = 120.0

    def delay(self, retry: int, retry_after: float | None = None,
              rand: Callable[[], float] = random.random) -> float:
        backoff = min(self.cap_s, self.base_s * (2 ** retry)) * (0.5 + 0.5 * rand())
        if retry_after is None:
            return backoff
        # The server knows when it will take us again: never sooner, and spread the herd a little.
        return min(retry_after, self.max_retry_after_s) * (1.0 + 0.1 * rand())


def scrub(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """Replace every secret value (API keys) in ``text``: errors and logs must never show them."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text
