"""What the stack manager needs of a local service: install it once, prepare its state, start it, tell when ready."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Service(Protocol):
    """One local service (Kafka, Redis, Triton). The manager starts `argv()` with `env()` in its own process group,
    records its pid and polls `ready()`; `port` is how it tells a running foreign server (`external`) apart."""

    name: str
    port: int

    def installed(self) -> bool:
        """The binaries are where argv() expects them."""

    def install(self) -> None:
        """Fetch what the service needs (first use); StackError saying what is missing when it cannot."""

    def prepare(self) -> None:
        """Write configuration and initialise state before each start (idempotent)."""

    def argv(self) -> list[str]:
        """The command line of the server process."""

    def env(self) -> dict[str, str]:
        """Environment added to the server process's."""

    def ready(self) -> bool:
        """The service answers as its clients need (may raise: counts as not ready)."""
