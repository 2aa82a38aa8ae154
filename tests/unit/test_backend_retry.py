"""Retry timing rules: Retry-After parsing, backoff bounds, key scrubbing."""
import email.utils

import pytest

from pytest_trustllm.generation.backends.retry import RetryPolicy, is_retryable_status, parse_retry_after, scrub


@pytest.mark.parametrize("headers, expected", [
    ({"Retry-After": "3"}, 3.0),
    ({"retry-after": "0.25"}, 0.25),
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after-ms": "200", "retry-after": "9"}, 0.2),   # the finer one wins
    ({"retry-after-ms": "junk", "retry-after": "2"}, 2.0),
    ({"retry-after": "soon"}, None),
    ({}, None),
    (None, None),
    ({"retry-after": "-5"}, 0.0),
])
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date():
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30, abs=1)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now=now) == 0.0


def test_backoff_grows_with_jitter_and_is_capped():
    p = RetryPolicy(max_retries=10, base_s=0.5, cap_s=4.0)
    assert p.delay(0, rand=lambda: 0.0) == 0.25 and p.delay(0, rand=lambda: 1.0) == 0.5
    assert p.delay(2, rand=lambda: 1.0) == 2.0
    assert p.delay(9, rand=lambda: 1.0) == 4.0           # capped
    assert p.delay(9, rand=lambda: 0.0) == 2.0           # jitter keeps at least half


def test_retry_after_is_honoured_not_shortened():
    p = RetryPolicy(base_s=0.01, cap_s=0.02, max_retry_after_s=60)
    assert p.delay(0, retry_after=5.0, rand=lambda: 0.0) == 5.0
    assert 5.0 <= p.delay(0, retry_after=5.0, rand=lambda: 1.0) <= 5.5
    assert p.delay(0, retry_after=600.0, rand=lambda: 0.0) == 60.0   # a silly wait is capped


@pytest.mark.parametrize("status, retry", [(429, True), (500, True), (503, True), (504, True), (408, True),
                                           (400, False), (401, False), (404, False), (422, False), (None, False)])
def test_retryable_statuses(status, retry):
    assert is_retryable_status(status) is retry


def test_scrub_removes_every_secret():
    assert scrub("key sk-abc123 and sk-abc123 again", ["sk-abc123"]) == "key *** and *** again"
    assert scrub("short a", ["a"]) == "short a"      # too short to be a key: left alone
