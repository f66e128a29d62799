"""CPU layouts for the end-to-end benchmark.

- `shared`: every process may run on every core, as `emostream stack up` starts them. On a small box the ratio to
  raw Triton then mostly measures how Triton shares the cores with Kafka, Redis, the worker and the load generator.
- `split`: Triton (its whole process group: server and python-backend stubs) on the upper half of the cores,
  everything else (Kafka, Redis, the worker, the benchmark) on the lower half, for the raw replay and the worker
  alike. As on a production host where the model runs on its own device, the ratio then measures whether the
  pipeline keeps Triton busy.

Pinning uses `taskset -a` (every thread of each process); the cores are given back to everyone on exit.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from devstack import StackConfig, status

LAYOUTS = ("shared", "split")


def _stats() -> dict[int, list[str]]:
    """/proc/<pid>/stat fields after the command name, for every process."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            out[int(stat.parent.name)] = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
    return out


def _group(pgid: int) -> list[int]:
    """Processes of a process group (the stack starts each service in its own)."""
    return [pid for pid, f in _stats().items() if int(f[2]) == pgid]


def cpu_seconds(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system, every thread) used so far by each named process group: the stack's services
    (`stack_groups()`) and any other, e.g. a worker started in its own session."""
    stats, tick = _stats(), os.sysconf("SC_CLK_TCK")
    return {
        name: sum(int(f[11]) + int(f[12]) for f in stats.values() if int(f[2]) == pgid) / tick
        for name, pgid in groups.items()
    }


def stack_groups() -> dict[str, int]:
    """Process group of each service `emostream stack up` runs (service name -> pgid)."""
    return {s.name: s.pid for s in status(StackConfig()) if s.pid}


def _pin(pids: list[int], cpus: list[int]) -> None:
    spec = ",".join(map(str, cpus))
    for pid in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", spec, str(pid)], capture_output=True, check=False)


@contextlib.contextmanager
def layout(name: str) -> Iterator[dict[str, list[int]]]:
    """Apply a layout to the running local stack and this process (children inherit it); yields the cores."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown CPU layout {name!r}; one of {LAYOUTS}")
    every = list(range(os.cpu_count() or 1))
    groups = stack_groups()
    if name == "shared":
        cores = {"triton": every, "rest": every}
    elif len(every) < 2 or "triton" not in groups:
        raise RuntimeError("the split layout needs 2+ cores and a Triton started by `emostream stack up`")
    else:
        half = len(every) // 2
        cores = {"triton": every[half:], "rest": every[:half]}
    try:
        for svc, pgid in groups.items():
            _pin(_group(pgid), cores["triton" if svc == "triton" else "rest"])
        _pin([os.getpid()], cores["rest"])
        yield cores
    finally:
        for pgid in groups.values():
            _pin(_group(pgid), every)
        _pin([os.getpid()], every)
