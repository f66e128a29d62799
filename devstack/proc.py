"""Start, watch and stop one background service process, tracked by a pid file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class StackError(RuntimeError):
    """A local service could not be installed, started or stopped; the message says why."""


def log_tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a server started next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ManagedProcess:
    """One service process: its pid file, log file and process group."""

    def __init__(self, name: str, state_dir: Path):
        self.name = name
        self.pid_file = state_dir / f"{name}.pid"
        self.log_file = state_dir / f"{name}.log"

    def pid(self) -> int | None:
        """The pid recorded for this service when that process is still alive."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        # A zombie (exited, not reaped) counts as dead.
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
                return None
        except OSError:
            pass
        return pid

    def start(self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
        """Spawn argv in its own session (so stop() can end the whole group) and record its pid."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def wait_ready(self, ready: Callable[[], bool], timeout_s: float) -> float:
        """Poll ready() until it holds; raise StackError with the log tail if the process dies or time runs out."""
        t0 = time.monotonic()
        while True:
            if self.pid() is None:
                raise StackError(
                    f"{self.name} exited during start-up. Last log lines ({self.log_file}):\n{log_tail(self.log_file)}"
                )
            try:
                if ready():
                    return time.monotonic() - t0
            except Exception:  # noqa: BLE001 - any failure of a probe means "not ready yet"
                pass
            if time.monotonic() - t0 > timeout_s:
                raise StackError(
                    f"{self.name} not ready after {timeout_s:.0f}s. "
                    f"Last log lines ({self.log_file}):\n{log_tail(self.log_file)}"
                )
            time.sleep(0.25)

    def group_pids(self, pgid: int) -> list[int]:
        """Live (non-zombie) processes of process group pgid: the service and the children it spawned."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().split(")")[-1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    pids.append(int(stat.parent.name))
            except (OSError, ValueError, IndexError):
                continue
        return pids

    def stop(self, timeout_s: float = 20.0) -> bool:
        """SIGTERM the process group, SIGKILL it after timeout_s; False when nothing was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout_s
        while self.group_pids(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.group_pids(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while self.group_pids(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def rss_kib(self) -> int | None:
        """Resident memory of the service's whole process group, in KiB."""
        pid = self.pid()
        if pid is None:
            return None
        total = 0
        for p in self.group_pids(pid):
            try:
                for line in Path(f"/proc/{p}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total
