"""Redis from Debian's redis-server package, loopback only, no persistence."""

from __future__ import annotations

import os
import shutil
import subprocess

from .config import StackConfig
from .proc import StackError


class Redis:
    name = "redis"

    def __init__(self, cfg: StackConfig):
        self.cfg = cfg
        self.port = cfg.redis_port

    def installed(self) -> bool:
        return shutil.which("redis-server") is not None

    def install(self) -> None:
        """apt-get install redis-server (needs root, as on the CI and dev machines)."""
        if os.geteuid() != 0:
            raise StackError("redis-server is missing; install it with: sudo apt-get install -y redis-server")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "redis-server"]):
            res = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if res.returncode != 0:
                raise StackError(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")

    def prepare(self) -> None:
        pass

    def argv(self) -> list[str]:
        return [
            shutil.which("redis-server") or "redis-server",
            "--bind",
            self.cfg.host,
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.cfg.dir),
            "--maxmemory",
            "512mb",
            "--maxmemory-policy",
            "noeviction",
        ]

    def env(self) -> dict[str, str]:
        return {}

    def ready(self) -> bool:
        import redis

        return bool(redis.Redis(host=self.cfg.host, port=self.port, socket_timeout=2).ping())
