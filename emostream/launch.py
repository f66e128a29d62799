"""Start a worker process and wait until it works; stop it. The one launcher of the demo, the tests and the
benchmarks (each gives its own environment: topics, ports, prefixes), and the quiet static file server they host
images with."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

__all__ = ["QuietHandler", "start_worker", "wait_assigned", "stop_worker"]


class QuietHandler(SimpleHTTPRequestHandler):
    """A static file server that logs nothing (the demo's, tests' and benchmarks' image hosts)."""

    def log_message(self, *args):
        pass


def start_worker(
    env: dict[str, str], log: Path | None = None, cwd: Path | None = None, args: tuple[str, ...] = ()
) -> subprocess.Popen:
    """`emostream worker ARGS` in a process group of its own (so a stop reaches its children), its output into `log`
    (None: discarded). Returns at once: `wait_assigned` says when it works."""
    with open(log if log is not None else os.devnull, "wb") as out:  # the child keeps its own copy of the file
        return subprocess.Popen(
            [sys.executable, "-m", "emostream.cli", "worker", *args],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_assigned(worker: subprocess.Popen, port: int, timeout_s: float = 300, log: Path | None = None) -> None:
    """Until the worker's /health shows its Kafka partitions assigned (so Triton's models and the bundle were checked
    at start). RuntimeError, with the end of `log`, if it exits or takes longer than `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited with {worker.returncode}{_tail(log)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if json.loads(r.read()).get("kafka_assigned"):
                    return
        except Exception:  # noqa: BLE001 - not up yet (503 included)
            pass
        time.sleep(0.2)
    raise RuntimeError(f"worker not assigned after {timeout_s:.0f}s{_tail(log)}")


def stop_worker(worker: subprocess.Popen, timeout_s: float = 30) -> int:
    """SIGTERM to the worker's process group, SIGKILL after `timeout_s`; its exit status."""
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
    try:
        return worker.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        return worker.wait()


def _tail(log: Path | None) -> str:
    return f": {log.read_text(errors='replace')[-3000:]}" if log is not None and log.exists() else ""
