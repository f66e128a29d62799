"""The classify loop's pure logic with fake events and a fake processor: batches run at once, finish in any order,
and are acknowledged to Faust only in offset order; a stop acknowledges nothing after it; a failure ends the worker."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from stream.batches import BatchRunner
from stream.retry import Stopped


def event(partition: int, offset: int):
    return SimpleNamespace(message=SimpleNamespace(tp=("posts", partition), offset=offset))


async def batches(runner, groups):
    """The groups, then the stream stays open (as Faust's does) until every batch taken has ended."""
    for g in groups:
        yield g
        await asyncio.sleep(0)
    while runner.running:
        await asyncio.sleep(0.01)


def run(groups, delays, fail=None, stop=None, concurrency=2, max_uncommitted=10**6):
    """Process each batch after its delay (seconds, by first offset); return (acked offsets in order, fatal errors)."""
    acked, fatal = [], []

    async def process(events):
        first = events[0].message.offset
        await asyncio.sleep(delays.get(first, 0))
        if first == fail:
            raise ZeroDivisionError("a bug")
        if first == stop:
            raise Stopped("triton")

    async def ack(e):
        acked.append(e.message.offset if e.message.tp[1] == 0 else (e.message.tp[1], e.message.offset))

    async def go():
        runner = BatchRunner(process, ack, fatal.append, concurrency, max_uncommitted)
        await runner.run(batches(runner, groups))
        return runner

    runner = asyncio.run(go())
    return acked, fatal, runner


def test_a_fast_batch_is_acknowledged_only_after_the_slow_one_before_it():
    groups = [[event(0, o) for o in range(0, 10)], [event(0, 10)], [event(0, 11)]]
    acked, fatal, runner = run(groups, {10: 0.3})
    assert acked == list(range(12)) and not fatal and runner.uncommitted == 0


def test_partitions_do_not_wait_for_each_other():
    groups = [[event(0, 0)], [event(1, 5)], [event(1, 6), event(0, 1)]]
    acked, _, _ = run(groups, {0: 0.3}, concurrency=3)
    # partition 1 is acknowledged while partition 0's first post is still in progress; partition 0's second post
    # (finished early, in the third batch) waits for it
    assert acked == [(1, 5), (1, 6), 0, 1]


def test_a_stopped_batch_holds_everything_after_it():
    groups = [[event(0, 0)], [event(0, 1)], [event(0, 2)]]
    acked, fatal, runner = run(groups, {}, stop=1)
    assert acked == [0] and not fatal and runner.uncommitted == 2


def test_a_failed_batch_ends_the_worker_unacknowledged():
    groups = [[event(0, 0)], [event(0, 1)], [event(0, 2)]]
    acked, fatal, _ = run(groups, {}, fail=1)
    assert acked == [0] and [type(e) for e in fatal] == [ZeroDivisionError]


def test_taking_waits_while_too_much_is_uncommitted():
    taken = []

    async def go():
        async def process(events):
            await asyncio.sleep(0.2 if events[0].message.offset == 0 else 0)

        async def ack(e):
            pass

        async def source():
            for o in range(6):
                taken.append((o, runner.uncommitted))
                yield [event(0, o)]
            while runner.running:
                await asyncio.sleep(0.01)

        runner = BatchRunner(process, ack, lambda e: None, concurrency=4, max_uncommitted=3)
        await runner.run(source())

    asyncio.run(go())
    assert max(u for _, u in taken) <= 3
