"""Addresses as they may be logged: no secret survives in any URL form redis-py (or another client) accepts."""

import pytest

from stream.connections import redact_url


@pytest.mark.parametrize(
    "url,shown",
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
        ("rediss://default:s3cret@[::1]:6380/1", "rediss://default:***@[::1]:6380/1"),
        ("redis://user@redis:6379", "redis://user@redis:6379"),
        ("redis://redis:6379/0?password=s3cret", "redis://redis:6379/0?password=***"),
        (
            "redis://redis/0?socket_timeout=2&Password=s3cret&username=u",
            "redis://redis/0?socket_timeout=2&Password=***&username=u",
        ),
        ("unix:///run/redis.sock?db=0&password=s3cret", "unix:///run/redis.sock?db=0&password=***"),
        ("redis://u:p%40ss@redis:6379?token=abc", "redis://u:***@redis:6379?token=***"),
        ("redis://:s3cret@redis:notaport/0", "<URL not shown: it does not parse>"),
    ],
)
def test_secrets_are_masked(url, shown):
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url) and "p%40ss" not in redact_url(url)
