"""The one retry policy: a call that failed on a *dependency* (Triton, Kafka, Redis) is tried again with capped
exponential backoff until it succeeds or the service stops. Nothing derived from a post may be retried here: a post
that cannot be served is a dead letter, settled before any retry (docs/ARCHITECTURE.md, "Failure classes")."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from . import metrics

__all__ = ["Stopped", "Backoff", "Waiting", "retry_transient"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Stopped(Exception):
    """The service is stopping: the call was abandoned (its batch stays un-acked and is redelivered)."""


@dataclass(frozen=True)
class Backoff:
    """Delays 0.2 s, 0.4 s, ... capped at `max_s`."""

    first_s: float = 0.2
    max_s: float = 10.0

    def delay(self, attempt: int) -> float:
        return min(self.first_s * 2**attempt, self.max_s)


@dataclass
class Waiting:
    """What a service is waiting on right now (shown by /health): dependency, since when, the last error."""

    dependency: str | None = None
    since: float | None = None
    error: str | None = None
    history: dict[str, str] = field(default_factory=dict)

    def start(self, dependency: str, error: BaseException) -> None:
        if self.dependency != dependency:
            self.dependency, self.since = dependency, time.monotonic()
        self.error = f"{type(error).__name__}: {error}"[:500]

    def clear(self, dependency: str) -> None:
        if self.dependency == dependency:
            self.dependency = self.since = self.error = None

    def seconds(self) -> float:
        return time.monotonic() - self.since if self.since is not None else 0.0


async def retry_transient(
    what: str,
    call: Callable[[], Awaitable[T]],
    *,
    transient: tuple[type[BaseException], ...],
    stopping: asyncio.Event,
    backoff: Backoff,
    waiting: Waiting | None = None,
) -> T:
    """`await call()` until it returns. Exceptions of the `transient` types are retried after a backoff, counted in
    `emostream_dependency_retries_total{dependency=what}` and shown in `waiting`; anything else propagates at once.
    Raises Stopped as soon as `stopping` is set, also in the middle of a backoff."""
    attempt = 0
    while True:
        if stopping.is_set():
            raise Stopped(what)
        try:
            result = await call()
        except transient as e:
            metrics.RETRIES.labels(what).inc()
            if waiting is not None:
                waiting.start(what, e)
            delay = backoff.delay(attempt)
            attempt += 1
            log.warning(
                "%s unavailable (%s: %s); retry %d in %.1fs", what, type(e).__name__, str(e)[:300], attempt, delay
            )
            try:
                await asyncio.wait_for(stopping.wait(), timeout=delay)
            except TimeoutError:
                continue
            raise Stopped(what) from e
        if waiting is not None:
            waiting.clear(what)
        return result
