"""docker-compose.yml cannot run here (no Docker engine): check what can be checked of it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from devstack import StackConfig

ROOT = Path(__file__).resolve().parents[2]
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
    for name in ("worker", "dashboard"):
        for key in SERVICES[name]["environment"]:
            assert key in fields, f"compose sets {key} on {name}, which the code does not read"
    for key in StackConfig().client_env():
        assert key in env and key in fields, f"worker does not set {key}"
    # ports in the addresses match the services' own ports
    assert env["EMOSTREAM_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert re.search(r"@redis:6379/", env["EMOSTREAM_REDIS_URL"])
    assert env["EMOSTREAM_TRITON_GRPC_URL"] == "triton:8001"


def test_validates_against_the_compose_specification_schema():
    import json

    import jsonschema

    schema = json.loads((ROOT / "tests" / "schemas" / "compose-spec.json").read_text())
    jsonschema.validate(COMPOSE, schema, cls=jsonschema.Draft202012Validator)


def test_schema_check_can_fail():
    import json

    import jsonschema
    import pytest

    schema = json.loads((ROOT / "tests" / "schemas" / "compose-spec.json").read_text())
    bad = {
        **COMPOSE,
        "services": {**SERVICES, "worker": {**SERVICES["worker"], "depends_on": {"kafka": {"condition": "whenever"}}}},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)


def test_every_file_the_compose_file_mounts_exists():
    for name, svc in SERVICES.items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("./deploy/"):
                assert (ROOT / src).exists(), f"{name} mounts missing {src}"


def test_env_example_lists_every_variable_the_compose_file_reads():
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert used <= example, f"missing in .env.example: {sorted(used - example)}"


def test_monitoring_and_training_are_profiles_and_grafana_dashboard_is_provisioned():
    import json

    assert SERVICES["prometheus"]["profiles"] == ["monitoring"] and SERVICES["grafana"]["profiles"] == ["monitoring"]
    assert SERVICES["trainer"]["profiles"] == ["train"]
    prom = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    assert jobs["emostream-worker"]["dns_sd_configs"][0]["port"] == int(
        SERVICES["worker"]["environment"]["EMOSTREAM_WEB_PORT"]
    )
    dash = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "emostream.json").read_text())
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
    from stream import metrics

    assert jobs["emostream-dashboard"]["static_configs"][0]["targets"] == ["dashboard:8080"]
    assert prom["rule_files"] == ["/etc/prometheus/rules/emostream.yml"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in SERVICES["prometheus"]["volumes"]
    spikes = {t["expr"] for p in dash["panels"] for t in p["targets"] if "spike_score" in t["expr"]}
    assert len(spikes) == 9  # a panel per emotion (and neutral)
    for m in (
        "emostream_posts_in_total",
        "emostream_consumer_lag",
        "emostream_dead_letters_total",
        "emostream_end_to_end_seconds",
    ):
        assert m.removesuffix("_total") in exprs
        assert any(c._name == m.removesuffix("_total") for c in vars(metrics).values() if hasattr(c, "_name"))
