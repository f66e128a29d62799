"""The compose stack under test: images built here (docker build, classic builder), the production compose file with
deploy/compose.test.yml on top, one project of its own, and what the test asks of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from devstack.proc import free_port

ROOT = Path(__file__).resolve().parents[2]
BASE = "emostream-base:bookworm"
TEST_IMAGES = {
    "kafka": "emostream-test-kafka:local",
    "redis": "emostream-test-redis:local",
    "triton": "emostream-test-triton:local",
    "prometheus": "emostream-test-prometheus:local",
}
IMAGE_TAG = "compose-test"
ONE_SHOT = {"topic-init", "preflight"}


def _when(stamp: str) -> float:
    """Docker's RFC 3339 timestamps (nanoseconds) as epoch seconds."""
    from datetime import datetime

    head, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float("0." + (frac[:6] or "0"))


def run(cmd: list[str], timeout: float = 900, env: dict | None = None, check: bool = True) -> str:
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res.stdout


def build_images() -> dict[str, float]:
    """The engine, the base and every image of the test stack; seconds per step."""
    took = {}
    t0 = time.monotonic()
    run(["bash", "scripts/docker-engine.sh", "base"])
    took["engine + base"] = time.monotonic() - t0
    t0 = time.monotonic()
    run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            "deploy/test/kafka/pom.xml",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={ROOT / 'deploy/test/kafka/libs'}",
        ]
    )
    took["kafka jars (maven)"] = time.monotonic() - t0
    for name, tag in TEST_IMAGES.items():
        t0 = time.monotonic()
        run(["docker", "build", "-q", "--build-arg", f"BASE={BASE}", "-t", tag, f"deploy/test/{name}"])
        took[f"image {name}"] = time.monotonic() - t0
    t0 = time.monotonic()
    run(
        [
            "docker",
            "build",
            "-q",
            "--build-arg",
            f"BASE={BASE}",
            "--target",
            "worker",
            "-t",
            f"emostream:{IMAGE_TAG}",
            ".",
        ]
    )
    took["image worker"] = time.monotonic() - t0
    return took


@dataclass
class Stack:
    compose_bin: str
    bundle: Path  # the bundle served at the start
    artifacts: Path  # mounted at /artifacts (bundles/serving: the bundle in service)
    model_repo: Path  # mounted at /models in Triton
    project: str = field(default_factory=lambda: f"emostream-test-{uuid.uuid4().hex[:6]}")
    kafka_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    prometheus_port: int = field(default_factory=free_port)
    redis_password: str = field(default_factory=lambda: uuid.uuid4().hex)
    triton_admin_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    healthy_after: dict[str, float] = field(default_factory=dict)

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def env(self, **override: str) -> dict[str, str]:
        return {
            **os.environ,
            "REDIS_PASSWORD": self.redis_password,
            "TRITON_ADMIN_KEY": self.triton_admin_key,
            "GRAFANA_ADMIN_PASSWORD": uuid.uuid4().hex,
            "EMOSTREAM_PARTITIONS": "4",
            "EMOSTREAM_IMAGE_TAG": IMAGE_TAG,
            "EMOSTREAM_TEST_BASE": BASE,
            "EMOSTREAM_TEST_KAFKA_PORT": str(self.kafka_port),
            "DASHBOARD_PORT": str(self.dashboard_port),
            "PROMETHEUS_PORT": str(self.prometheus_port),
            "GRAFANA_PORT": str(free_port()),
            "EMOSTREAM_TEST_MODEL_REPO": str(self.model_repo),
            "EMOSTREAM_TEST_ARTIFACTS": str(self.artifacts),
            "KAFKA_HEAP_OPTS": "-Xmx512m -Xms512m",
            **override,
        }

    def compose(self, *args: str, timeout: float = 600, check: bool = True, **env: str) -> str:
        cmd = [
            self.compose_bin,
            "-f",
            "docker-compose.yml",
            "-f",
            "deploy/compose.test.yml",
            "-p",
            self.project,
            "--profile",
            "monitoring",
            *args,
        ]
        return run(cmd, timeout=timeout, env=self.env(**env), check=check)

    def docker(self, *args: str) -> str:
        return run(["docker", *args])

    def containers(self, service: str, all_: bool = False) -> list[str]:
        return self.compose("ps", "-q", *(["-a"] if all_ else []), service).split()

    def _state(self, cid: str) -> dict:
        return json.loads(self.docker("inspect", "--format", "{{json .State}}", cid))

    def up(self, timeout_s: float = 600) -> None:
        """`up -d` with the images built here, then wait for every service to be healthy (or, one-shot, done)."""
        t0 = time.monotonic()
        self.compose("up", "-d", "--no-build")
        services = self.compose("config", "--services").split()
        while time.monotonic() - t0 < timeout_s:
            for svc in services:
                if svc in self.healthy_after:
                    continue
                states = [self._state(c) for c in self.containers(svc, all_=True)]
                if svc in ONE_SHOT and states and states[0]["Status"] == "exited":
                    self.healthy_after[svc] = round(time.monotonic() - t0, 1)
                elif states and all(st.get("Health", {}).get("Status") == "healthy" for st in states):
                    self.healthy_after[svc] = round(time.monotonic() - t0, 1)
            if len(self.healthy_after) == len(services):
                self.healthy_after = {svc: self._seconds_to_healthy(svc) for svc in services}
                return
            time.sleep(1)
        missing = sorted(set(services) - set(self.healthy_after))
        logs = self.compose("logs", "--tail", "40", *missing)
        raise AssertionError(f"not healthy after {timeout_s:.0f}s: {missing}\n{logs[-6000:]}")

    def _seconds_to_healthy(self, service: str) -> float:
        """From the container's start to its first passing healthcheck (to its exit, for a one-shot job)."""
        state = self._state(self.containers(service, all_=True)[0])
        start = _when(state["StartedAt"])
        if service in ONE_SHOT:
            return round(_when(state["FinishedAt"]) - start, 1)
        passed = [_when(e["End"]) for e in state["Health"]["Log"] if e["ExitCode"] == 0]
        return round(min(passed) - start, 1)

    def wait_healthy(self, service: str, replicas: int, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = [self._state(c) for c in self.containers(service)]
            if len(states) == replicas and all(st.get("Health", {}).get("Status") == "healthy" for st in states):
                return
            time.sleep(1)
        raise AssertionError(f"{service}: {replicas} healthy replicas not there in {timeout_s:.0f}s")

    def exit_code(self, service: str) -> int:
        return self._state(self.containers(service, all_=True)[0])["ExitCode"]

    def redis(self, *args: str) -> str:
        return self.compose("exec", "-T", "redis", "redis-cli", "--no-auth-warning", *args).strip()

    def worker_metric(self, name: str) -> dict[str, float]:
        """A metric's sum per worker replica, read inside each container (their ports are not published)."""
        code = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:6066/metrics').read().decode())"
        out = {}
        for cid in self.containers("worker"):
            text = self.docker("exec", cid, "python", "-c", code)
            out[cid] = sum(
                s.value for fam in text_string_to_metric_families(text) for s in fam.samples if s.name == name
            )
        return out

    def export(self, bundle: Path) -> int:
        """`emostream export` of a bundle (the cpu target) into the repository Triton serves, as a new version."""
        from model.bundle import load_bundle
        from model.export import ExportOptions, export

        version = export(
            load_bundle(bundle), self.model_repo.parent, ExportOptions(targets=("cpu",)), dirs={"cpu": self.model_repo}
        )
        run(["chmod", "-R", "a+rX", str(self.model_repo)])
        return version

    def serve(self, bundle: Path) -> None:
        """Put `bundle` in service, as `emostream export` does (artifacts/bundles/serving)."""
        from core.bundle_info import point_serving

        point_serving(bundle, self.artifacts / "bundles" / "serving")
        run(["chmod", "-R", "a+rX", str(self.artifacts)])

    def run_preflight(self, **env: str) -> subprocess.CompletedProcess:
        """`compose run --rm preflight` with some variables of .env changed (exit status and what it printed)."""
        cmd = [self.compose_bin, "-f", "docker-compose.yml", "-f", "deploy/compose.test.yml", "-p", self.project]
        return subprocess.run(
            [*cmd, "run", "--rm", "--no-deps", "preflight"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env=self.env(**env),
        )

    def resources(self) -> dict[str, dict]:
        """Per container: the limits compose set (memory, CPUs, processes, log rotation) and, from its cgroup (v1 or
        v2, read on the host), its peak memory and its processes now."""
        out = {}
        for cid in self.compose("ps", "-q").split():
            info = json.loads(self.docker("inspect", cid))[0]
            host = info["HostConfig"]
            name = info["Config"]["Labels"]["com.docker.compose.service"]
            full = info["Id"]
            out[f"{name}/{cid[:8]}"] = {
                "mem_limit_mib": host["Memory"] / 2**20,
                "cpus": host["NanoCpus"] / 1e9,
                "pids_limit": host["PidsLimit"],
                "log": host["LogConfig"],
                "peak_mib": _cgroup_int(
                    f"/sys/fs/cgroup/memory/docker/{full}/memory.max_usage_in_bytes",
                    f"/sys/fs/cgroup/system.slice/docker-{full}.scope/memory.peak",
                )
                / 2**20,
                "pids_now": _cgroup_int(
                    f"/sys/fs/cgroup/pids/docker/{full}/pids.current",
                    f"/sys/fs/cgroup/system.slice/docker-{full}.scope/pids.current",
                ),
            }
        return out

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", timeout=300)

    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=com.docker.compose.project={self.project}"
        return {
            "containers": self.docker("ps", "-aq", "--filter", label).split(),
            "networks": self.docker("network", "ls", "-q", "--filter", label).split(),
            "volumes": self.docker("volume", "ls", "-q", "--filter", label).split(),
        }


def _cgroup_int(*paths: str) -> int:
    for path in paths:
        try:
            return int(Path(path).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return -1


def new_stack(compose_bin: str, bundle: Path, folder: Path) -> Stack:
    """Artifacts (bundles/<version>, bundles/serving) and a model repository with the bundle exported, readable by the
    containers' users."""
    artifacts, repo = folder / "artifacts", folder / "models" / "cpu"
    (artifacts / "bundles").mkdir(parents=True)
    repo.mkdir(parents=True)
    served = artifacts / "bundles" / bundle.name
    shutil.copytree(bundle, served)
    stack = Stack(compose_bin, served, artifacts, repo)
    stack.serve(served)
    stack.export(served)
    run(["chmod", "a+rx", str(folder), str(folder / "models")])
    return stack
