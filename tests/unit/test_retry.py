"""The one retry policy: transient errors are retried with capped backoff; anything else propagates; a stop ends it."""

import asyncio
import time

import pytest

from stream.retry import Backoff, Stopped, Waiting, retry_transient

FAST = Backoff(first_s=0.01, max_s=0.02)


class Down(Exception):
    pass


async def test_retries_until_success_and_reports_what_it_waits_on():
    calls, waiting = [], Waiting()

    async def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise Down("not yet")
        return "ok"

    assert (
        await retry_transient("dep", flaky, transient=(Down,), stopping=asyncio.Event(), backoff=FAST, waiting=waiting)
        == "ok"
    )
    assert len(calls) == 4 and waiting.dependency is None


async def test_other_errors_propagate_at_once():
    calls = []

    async def broken():
        calls.append(1)
        raise KeyError("a bug, not a dependency")

    with pytest.raises(KeyError):
        await retry_transient("dep", broken, transient=(Down,), stopping=asyncio.Event(), backoff=FAST)
    assert len(calls) == 1


async def test_stop_interrupts_a_long_backoff():
    stopping, waiting = asyncio.Event(), Waiting()

    async def down():
        raise Down("gone")

    asyncio.get_running_loop().call_later(0.2, stopping.set)
    t0 = time.monotonic()
    with pytest.raises(Stopped):
        await retry_transient(
            "dep", down, transient=(Down,), stopping=stopping, backoff=Backoff(first_s=60, max_s=60), waiting=waiting
        )
    assert time.monotonic() - t0 < 2
    assert waiting.dependency == "dep" and "gone" in waiting.error and waiting.seconds() > 0


def test_backoff_is_capped():
    assert [Backoff(0.2, 1.0).delay(i) for i in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
