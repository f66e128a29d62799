"""docker-compose.yml cannot run here (no Docker engine): check what can be checked of it."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from stream.localstack import StackConfig

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _long_running(svc: dict) -> bool:
    return svc.get("restart") != "no"


def test_every_image_has_a_pinned_tag():
    for name, svc in SERVICES.items():
        image = svc["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest", f"{name}: image {image!r} needs a pinned tag"


def test_every_long_running_service_has_a_healthcheck():
    for name, svc in SERVICES.items():
        if _long_running(svc):
            assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_depends_on_waits_for_health_or_completion():
    for name, svc in SERVICES.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
            want = "service_healthy" if _long_running(SERVICES[dep]) else "service_completed_successfully"
            assert cond["condition"] == want, f"{name} -> {dep}: {cond}"


def test_triton_reserves_a_gpu_and_mounts_the_gpu_repo():
    triton = SERVICES["triton"]
    devices = triton["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in d["capabilities"] for d in devices)
    assert any(v.startswith("./triton_repo/gpu:") for v in triton["volumes"])
    assert "--model-control-mode=explicit" in triton["command"]


def test_worker_is_scalable():
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker, "fixed names/host ports break --scale"


def test_worker_environment_names_are_read_by_the_code():
    from stream.settings import Settings

    env = SERVICES["worker"]["environment"]
    fields = {f"EMOSTREAM_{name.upper()}" for name in Settings.model_fields}
    for key in env:
        assert key in fields, f"compose sets {key}, which the worker does not read"
    for key in StackConfig().client_env():
        assert key in env and key in fields, f"worker does not set {key}"
    # ports in the addresses match the services' own ports
    assert env["EMOSTREAM_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert re.search(r"@redis:6379/", env["EMOSTREAM_REDIS_URL"])
    assert env["EMOSTREAM_TRITON_GRPC_URL"] == "triton:8001"
