"""The real services under test: their addresses, and serving a bundle on the real Triton."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import redis
import yaml

from devstack import StackConfig
from devstack.proc import free_port

ENV_KEYS = (
    "EMOSTREAM_KAFKA_BOOTSTRAP",
    "EMOSTREAM_REDIS_URL",
    "EMOSTREAM_TRITON_GRPC_URL",
    "EMOSTREAM_TRITON_HTTP_URL",
)


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    redis_url: str
    triton_grpc_url: str
    triton_http_url: str

    @property
    def triton_model_repo(self) -> Path:
        """The folder the Triton server serves (EMOSTREAM_TRITON_MODEL_REPO, else the local stack's)."""
        return Path(os.environ.get("EMOSTREAM_TRITON_MODEL_REPO") or StackConfig().triton_model_repo)


@dataclass(frozen=True)
class Served:
    prefix: str
    bundle_path: Path
    version: int


def serve_bundle(stack: Endpoints, bundle_path: Path, prefix: str, **opts) -> int:
    """Export a bundle under a model-name prefix into the server's repository and load its ensembles."""
    from model.export import deploy

    return deploy(bundle_path, stack.triton_model_repo, stack.triton_http_url, prefix, **opts)


def unserve(stack: Endpoints, prefix: str) -> None:
    from model.export import undeploy

    undeploy(stack.triton_model_repo, stack.triton_http_url, prefix)


def wait_for(pred, timeout_s: float, what: str, every_s: float = 0.3) -> None:
    """Poll pred() until it is true; an exception counts as 'not yet'. AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except Exception:  # noqa: BLE001 - not yet
            pass
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")


class OwnRedis:
    """A redis-server of one test's own on a free port, so it can be stopped and restarted without touching the
    shared one. append_only=True keeps what was written across a restart (fsync on every write)."""

    def __init__(self, data_dir: Path, append_only: bool = False, password: str | None = None):
        self.port, self.dir, self.append_only, self.password, self.proc = (
            free_port(),
            data_dir,
            append_only,
            password,
            None,
        )

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, decode_responses=True)

    def start(self) -> None:
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.append_only else ["--appendonly", "no"]
        auth = ["--requirepass", self.password] if self.password else []
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                *aof,
                *auth,
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: self.client().ping(), 10, "redis")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class OwnKafka:
    """A Kafka broker of one test's own (KRaft, the local stack's jars, free ports, a folder of its own), so it can be
    stopped for an outage and started again with its data, without touching the shared one."""

    def __init__(self, folder: Path):
        from devstack.kafka import Kafka

        cfg = StackConfig(
            dir=folder,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            kafka_sasl_port=free_port(),
            kafka_heap="256m",
        )
        self.kafka = Kafka(cfg)
        self.kafka.libs = Kafka(StackConfig()).libs  # the jars the local stack installed
        self.bootstrap, self.proc = cfg.kafka_bootstrap, None
        self.log = folder / "kafka.log"

    def start(self) -> None:
        self.kafka.home.mkdir(parents=True, exist_ok=True)
        self.kafka.prepare()
        self.proc = subprocess.Popen(
            self.kafka.argv(), stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for(self.kafka.ready, 90, f"own Kafka on {self.bootstrap}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(30)


class OwnPrometheus:
    """A Prometheus server (Debian's binary) of one test's own on a free port: scrapes `targets` every second and
    evaluates the project's alert rules (deploy/prometheus/rules/emostream.yml) every second."""

    RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules" / "emostream.yml"

    def __init__(self, folder: Path, job: str, targets: list[str]):
        self.port, self.dir, self.proc = free_port(), Path(folder), None
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(self.RULES)],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}],
        }
        self.config = self.dir / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=open(self.dir / "prometheus.log", "wb"),
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: urllib.request.urlopen(f"{self.url}/-/ready", timeout=2).status == 200, 30, "prometheus")

    def alerts(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/api/v1/alerts", timeout=5) as r:
            return json.loads(r.read())["data"]["alerts"]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
