"""Bring the local stack up, report on it and take it down, stopping exactly the processes it started."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from .config import StackConfig
from .kafka import Kafka
from .proc import ManagedProcess, StackError, port_open
from .redis import Redis
from .service import Service
from .triton import Triton

__all__ = ["StackError", "ServiceState", "services", "up", "down", "status", "main"]


def services(cfg: StackConfig) -> list[Service]:
    """The services of the stack, in start order."""
    return [Kafka(cfg), Redis(cfg), Triton(cfg)]


@dataclass
class ServiceState:
    name: str
    state: str  # running | external | stopped
    pid: int | None
    port: int
    rss_mib: float | None = None

    def line(self) -> str:
        extra = f" pid={self.pid}" if self.pid else ""
        if self.rss_mib is not None:
            extra += f" rss={self.rss_mib:.0f}MiB"
        return f"{self.name:7s} {self.state:9s} port={self.port}{extra}"


def _proc(cfg: StackConfig, svc: Service) -> ManagedProcess:
    return ManagedProcess(svc.name, cfg.dir)


def _is_ready(svc: Service) -> bool:
    try:
        return bool(svc.ready())
    except Exception:  # noqa: BLE001 - a failing probe means "not ready"
        return False


def up(cfg: StackConfig | None = None, only: list[str] | None = None, log=print) -> list[ServiceState]:
    """Install (first use), start and health-check every service; a service already answering is left alone."""
    cfg = cfg or StackConfig()
    cfg.dir.mkdir(parents=True, exist_ok=True)
    started: list[tuple] = []
    states: dict[str, ServiceState] = {}
    for svc in services(cfg):
        if only and svc.name not in only:
            continue
        proc = _proc(cfg, svc)
        pid = proc.pid()
        if pid is not None and _is_ready(svc):
            states[svc.name] = ServiceState(svc.name, "running", pid, svc.port)
            continue
        if pid is None and port_open(cfg.host, svc.port):
            if _is_ready(svc):
                states[svc.name] = ServiceState(svc.name, "external", None, svc.port)
                continue
            raise StackError(
                f"port {svc.port} is taken by something that is not a ready {svc.name}; "
                f"set EMOSTREAM_STACK_{svc.name.upper()}_PORT or stop it"
            )
        if pid is None:
            if not svc.installed():
                log(f"{svc.name}: installing into {cfg.dir} (first use)...")
                svc.install()
            svc.prepare()
            proc.start(svc.argv(), env=svc.env(), cwd=cfg.dir)
        started.append((svc, proc))
    for svc, proc in started:
        proc.wait_ready(lambda s=svc: _is_ready(s), cfg.start_timeout_s)
        states[svc.name] = ServiceState(svc.name, "running", proc.pid(), svc.port)
    return [states[s.name] for s in services(cfg) if s.name in states]


def down(cfg: StackConfig | None = None, only: list[str] | None = None) -> list[str]:
    """Stop the processes this stack started (by pid file, whole process group); return their names."""
    cfg = cfg or StackConfig()
    stopped = []
    for svc in reversed(services(cfg)):
        if only and svc.name not in only:
            continue
        if _proc(cfg, svc).stop():
            stopped.append(svc.name)
    return stopped


def status(cfg: StackConfig | None = None) -> list[ServiceState]:
    """What runs now: managed (with pid and RSS), external (answering but not ours) or stopped."""
    cfg = cfg or StackConfig()
    out = []
    for svc in services(cfg):
        proc = _proc(cfg, svc)
        pid = proc.pid()
        ready = _is_ready(svc)
        if pid is not None:
            rss = proc.rss_kib()
            out.append(
                ServiceState(svc.name, "running" if ready else "starting", pid, svc.port, rss / 1024 if rss else None)
            )
        else:
            out.append(ServiceState(svc.name, "external" if ready else "stopped", None, svc.port))
    return out


def main(argv: list[str] | None = None) -> int:
    """`emostream stack up|down|status`."""
    ap = argparse.ArgumentParser(
        prog="emostream stack", description="Local Kafka (KRaft), Redis and Triton on 127.0.0.1."
    )
    ap.add_argument("action", choices=["up", "down", "status", "env"])
    ap.add_argument("--only", nargs="*", choices=["kafka", "redis", "triton"], help="limit `up` to these services")
    args = ap.parse_args(argv)
    cfg = StackConfig()
    try:
        if args.action == "up":
            t0 = time.monotonic()
            for st in up(cfg, args.only):
                print(st.line())
            print(f"stack ready in {time.monotonic() - t0:.1f}s; clients use:")
            for k, v in cfg.client_env().items():
                print(f"  export {k}={v}")
        elif args.action == "down":
            names = down(cfg)
            print("stopped: " + (", ".join(names) if names else "nothing was running"))
        elif args.action == "env":
            for k, v in cfg.client_env().items():
                print(f"export {k}={v}")
        else:
            states = status(cfg)
            for st in states:
                print(st.line())
            return 0 if all(s.state in ("running", "external") for s in states) else 3
    except StackError as e:
        print(f"error: {e}")
        return 1
    return 0
