"""The `classify` agent's loop: micro-batches taken from one Faust stream, up to EMOSTREAM_AGENT_CONCURRENCY processed
at once, acknowledged to Faust only in offset order (stream/offsets.py), so the committed offset of a partition never
passes a post that has not ended, whatever order the batches finish in.

One actor takes every batch (so batches are taken in offset order) and runs each as a task: a slow batch (a slow image)
does not stop the next ones from being processed and published, only from being committed. Taking waits while
EMOSTREAM_AGENT_CONCURRENCY batches are in progress or EMOSTREAM_MAX_UNCOMMITTED posts are taken and not yet
acknowledged: that is the memory a slow post can make the worker hold.

Outcomes of a batch: it ends (acknowledged in offset order); the worker stops meanwhile (`Stopped`: nothing of it or
after it is acknowledged, the next owner processes it again); anything else is a bug or a dependency failure the
worker does not know how to wait for: `on_fatal` ends the worker with a non-zero status, un-acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence

from . import metrics
from .offsets import OffsetLedger, Ticket
from .retry import Stopped

__all__ = ["BatchRunner"]


class BatchRunner:
    """Runs micro-batches of Faust events concurrently and acks each partition's finished prefix."""

    def __init__(
        self,
        process: Callable[[Sequence], Awaitable[None]],
        ack: Callable[[object], Awaitable[object]],
        on_fatal: Callable[[BaseException], None],
        concurrency: int,
        max_uncommitted: int,
    ):
        self.process, self.ack, self.on_fatal = process, ack, on_fatal
        self.concurrency, self.max_uncommitted = concurrency, max_uncommitted
        self.ledger: OffsetLedger = OffsetLedger()
        self.running = 0
        self._changed = asyncio.Event()

    @property
    def uncommitted(self) -> int:
        """Posts taken and neither acknowledged nor forgotten."""
        return self.ledger.open

    async def run(self, batches: AsyncIterable[Sequence]) -> None:
        """Take batches until the stream ends or the task is cancelled (a stop); cancels what is in progress then."""
        tasks: set[asyncio.Task] = set()
        try:
            async for events in batches:
                ticket = self.ledger.take((e.message.tp, e.message.offset, e) for e in events)
                metrics.UNCOMMITTED.set(self.uncommitted)
                self.running += 1
                task = asyncio.create_task(self._one(events, ticket))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                await self._room()  # the stream does not advance meanwhile: Faust stops fetching when its buffer fills
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _room(self) -> None:
        while self.running >= self.concurrency or self.uncommitted >= self.max_uncommitted:
            self._changed.clear()
            await self._changed.wait()

    async def _one(self, events: Sequence, ticket: Ticket) -> None:
        try:
            await self.process(events)
        except Stopped:
            return  # the worker is stopping: this batch and what follows it stay un-acknowledged
        except Exception as e:  # noqa: BLE001 - not a post's problem (those are dead letters): the worker must end
            self.on_fatal(e)
            return
        finally:
            self.running -= 1
            self._changed.set()
        for event in self.ledger.finish(ticket):
            await self.ack(event)
        self._settle()

    def revoke(self, tps) -> None:
        """Partitions went to another worker: what was taken from them is never acknowledged here."""
        self.ledger.revoke(tps)
        self._settle()

    def _settle(self) -> None:
        metrics.UNCOMMITTED.set(self.uncommitted)
        self._changed.set()
