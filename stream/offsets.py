"""Which input messages may be acknowledged (and so committed): per partition, only the contiguous prefix of the taken
messages whose posts have ended, whatever order their batches finish in.

Faust commits the highest acked offset of a run of acked offsets, and its check for a hole before that run misses one
message (faust-streaming 0.15.3, `Consumer._new_offset`): a fast batch acked before a slow earlier one of the same
partition moves the committed offset past posts still in progress, and a crash then loses them. So nothing is acked
through Faust until every earlier message of its partition has ended; Faust then only ever sees runs without holes.
Pure logic, no Kafka: tests/unit/test_offsets.py drives it with random completion orders.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Ticket", "OffsetLedger"]

T = TypeVar("T")


@dataclass(eq=False)
class _Partition:
    """One partition's taken, unreleased messages in offset order (one generation: a seek or a re-assignment starts a
    new one, and slots of an old one are never released)."""

    slots: deque = field(default_factory=deque)
    last: int = -1


@dataclass(eq=False)
class _Slot(Generic[T]):
    part: _Partition
    offset: int
    item: T
    ticket: Ticket
    done: bool = False


@dataclass(eq=False)
class Ticket:
    """One batch's messages in the ledger. `held` until each of them is released or forgotten (revoked)."""

    open: int = 0  # slots neither released nor forgotten

    @property
    def held(self) -> bool:
        return self.open > 0


class OffsetLedger(Generic[T]):
    """Taken messages per partition, in the order they were taken; `finish` returns those that may be acknowledged."""

    def __init__(self) -> None:
        self._parts: dict[Hashable, _Partition] = {}
        self._tickets: dict[Ticket, list[_Slot[T]]] = {}
        self.open = 0  # messages taken and neither released nor forgotten

    def take(self, messages: Iterable[tuple[Hashable, int, T]]) -> Ticket:
        """Register a batch's messages (partition, offset, item), in the order they were taken from the stream. An
        offset not above the partition's last one (a seek back, a re-assignment) starts a new generation: what was
        taken before it is never released (its posts are delivered again)."""
        ticket = Ticket()
        slots = []
        for tp, offset, item in messages:
            part = self._parts.get(tp)
            if part is None or offset <= part.last:
                if part is not None:
                    self._forget(part)
                part = self._parts[tp] = _Partition()
            part.last = offset
            slot = _Slot(part, offset, item, ticket)
            part.slots.append(slot)
            slots.append(slot)
        ticket.open = len(slots)
        self.open += len(slots)
        self._tickets[ticket] = slots
        return ticket

    def finish(self, ticket: Ticket) -> list[T]:
        """The batch's posts have ended (outputs and dead letters acknowledged by Kafka). Returns the items that may be
        acknowledged now: of each partition the batch touched, the run of finished messages at its head."""
        slots = self._tickets.get(ticket, [])
        parts: dict[int, _Partition] = {}
        for slot in slots:
            slot.done = True
            parts[id(slot.part)] = slot.part
        out: list[T] = []
        for part in parts.values():  # a forgotten generation's partition has no slots left
            while part.slots and part.slots[0].done:
                slot = part.slots.popleft()
                self._close(slot)
                out.append(slot.item)
        return out

    def revoke(self, tps: Iterable[Hashable]) -> None:
        """The partitions went to another worker: forget what was taken from them (never acknowledged here)."""
        for tp in tps:
            part = self._parts.pop(tp, None)
            if part is not None:
                self._forget(part)

    def held(self) -> int:
        """Batches taken whose messages are not all released or forgotten."""
        return sum(1 for t in self._tickets if t.held)

    def unreleased(self, tp: Hashable) -> list[int]:
        """Offsets of a partition taken and not released, in order."""
        part = self._parts.get(tp)
        return [s.offset for s in part.slots] if part else []

    def _forget(self, part: _Partition) -> None:
        while part.slots:
            self._close(part.slots.popleft())

    def _close(self, slot: _Slot[T]) -> None:
        ticket = slot.ticket
        ticket.open -= 1
        self.open -= 1
        if not ticket.held:
            self._tickets.pop(ticket, None)
