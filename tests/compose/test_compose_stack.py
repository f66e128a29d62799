"""The production compose stack started for real (docker-compose.yml + deploy/compose.test.yml, images built here):
healthy services, the topic-init job, posts from the host labelled and counted, two worker replicas sharing the
partitions, a replica killed mid-stream without loss or double counting, the dashboard API equal to Redis, Prometheus
scraping every replica and Triton, a model version rolled out as the README says, and `down -v` leaving nothing."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from contracts import triton as tc
from contracts.combos import COMBOS
from contracts.redis_keys import RedisKeys
from tests.helpers.bundles import perturbed_copy
from tests.helpers.compose import Stack
from tests.helpers.services import wait_for

pytestmark = pytest.mark.compose


def produce(stack: Stack, posts: list[dict]) -> None:
    p = KafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    for post in posts:
        p.send("posts", key=post["id"].encode(), value=json.dumps(post).encode())
    p.flush()
    p.close()


def outputs(stack: Stack, ids: set[str], timeout_s: float) -> list[dict]:
    """Every record on post-emotions until all of `ids` were seen (or the timeout)."""
    c = KafkaConsumer(
        "post-emotions",
        bootstrap_servers=stack.kafka,
        group_id=None,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    out, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out += [json.loads(m.value) for m in c]
        if ids <= {r["id"] for r in out}:
            break
    c.close()
    return out


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def posts(tag: str, n: int) -> list[dict]:
    return [
        {"id": f"{tag}{i}-{uuid.uuid4().hex[:6]}", "text": f"happy party number {i}", "tags": ["fun", f"t{i % 5}"]}
        for i in range(n)
    ]


def test_the_stack_as_ops_run_it(compose_stack: Stack):
    s = compose_stack
    report = Path(__file__).resolve().parents[2] / "artifacts" / "compose-test" / "time_to_healthy.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(s.healthy_after, indent=1))  # for the README and the notes, run to run
    assert s.exit_code("topic-init") == 0 and s.exit_code("preflight") == 0
    assert {"kafka", "redis", "triton", "worker", "dashboard", "prometheus"} <= set(s.healthy_after)

    # placeholder, empty and short secrets, and an exposed dashboard without a password, are refused (an empty
    # required one by compose itself, before anything starts; the rest by the preflight job)
    for env, why in (
        ({"REDIS_PASSWORD": "change-me"}, "REDIS_PASSWORD is a placeholder"),
        ({"TRITON_ADMIN_KEY": ""}, "required variable TRITON_ADMIN_KEY is missing a value"),
        ({"GRAFANA_ADMIN_PASSWORD": "short"}, "GRAFANA_ADMIN_PASSWORD has 5 characters"),
        ({"DASHBOARD_BIND": "0.0.0.0", "DASHBOARD_PASSWORD": ""}, "DASHBOARD_PASSWORD is empty"),
    ):
        res = s.run_preflight(**env)
        assert res.returncode != 0 and why in res.stderr, (env, res.returncode, res.stderr[-500:])

    # a worker cannot load or unload models: Triton's model control wants the admin key's header
    unload = (
        "import urllib.request, urllib.error\n"
        "req = urllib.request.Request('http://triton:8000/v2/repository/models/emotion_text/unload', method='POST')\n"
        "try:\n    print(urllib.request.urlopen(req, timeout=5).status)\n"
        "except urllib.error.HTTPError as e:\n    print(e.code)\n"
    )
    assert s.docker("exec", s.containers("worker")[0], "python", "-c", unload).strip() == "403"

    # the worker image is the serving core alone: no trainer, no dev stack, no command-line top, no torch; its
    # `emostream` is the stream's command table
    importable = (
        "import importlib.util as u; print([m for m in ('model', 'devstack', 'emostream', 'torch') if u.find_spec(m)])"
    )
    assert s.docker("exec", s.containers("worker")[0], "python", "-c", importable).strip() == "[]"
    assert "aggregator" in s.docker("exec", s.containers("worker")[0], "emostream", "--help")

    # posts from the host: labelled on the output topic, counted in Redis
    first = posts("a", 60)
    produce(s, first)
    ids = {p["id"] for p in first}
    assert ids <= {r["id"] for r in outputs(s, ids, 120)}
    totals = RedisKeys().totals
    wait_for(lambda: s.redis("HGET", totals, "posts") == "60", 60, "Redis counting the posts")

    # two worker replicas share the partitions
    s.compose("up", "-d", "--no-recreate", "--scale", "worker=2", "worker")
    s.wait_healthy("worker", replicas=2)
    second = posts("b", 200)
    produce(s, second)
    ids = {p["id"] for p in second}
    assert ids <= {r["id"] for r in outputs(s, ids, 180)}
    per_replica = s.worker_metric("emostream_posts_in_total")
    assert len(per_replica) == 2 and all(v > 0 for v in per_replica.values()), per_replica

    # one replica killed mid-stream: nothing lost, nothing counted twice
    third = posts("c", 300)
    produce(s, third[:150])
    victim = s.containers("worker")[0]
    s.docker("kill", victim)
    produce(s, third[150:])
    ids = {p["id"] for p in third}
    assert ids <= {r["id"] for r in outputs(s, ids, 240)}, "posts lost when a worker was killed"
    s.compose("up", "-d", "--no-recreate", "--scale", "worker=2", "worker")  # the replacement
    s.wait_healthy("worker", replicas=2)
    everything = {r["id"] for r in outputs(s, set(), 5)}
    wait_for(lambda: s.redis("HGET", totals, "posts") == str(len(everything)), 90, "Redis == distinct labelled posts")

    # the dashboard's JSON API equals Redis
    summary = get_json(f"http://127.0.0.1:{s.dashboard_port}/api/summary")
    assert summary["totals"]["posts"] == int(s.redis("HGET", totals, "posts"))
    assert summary["totals"]["emotions"] == {
        e: int(s.redis("HGET", totals, f"emotion:{e}") or 0) for e in summary["totals"]["emotions"]
    }

    # Prometheus scrapes every replica and Triton, and a worker metric reaches it
    def targets_up() -> bool:
        active = get_json(f"http://127.0.0.1:{s.prometheus_port}/api/v1/targets")["data"]["activeTargets"]
        jobs = [(t["labels"]["job"], t["health"]) for t in active]
        return (
            jobs.count(("emostream-worker", "up")) == 2
            and ("triton", "up") in jobs
            and ("emostream-dashboard", "up") in jobs
        )

    wait_for(targets_up, 90, "Prometheus targets up")
    # the alert rules are loaded (deploy/prometheus/rules/emostream.yml) and read the dashboard's spike gauges
    rules = get_json(f"http://127.0.0.1:{s.prometheus_port}/api/v1/rules")["data"]["groups"]
    assert {r["name"] for g in rules for r in g["rules"]} >= {"EmotionSpike", "EmostreamDashboardDown"}
    spike = get_json(f"http://127.0.0.1:{s.prometheus_port}/api/v1/query?query=emostream_emotion_spike_score")
    assert {r["metric"]["emotion"] for r in spike["data"]["result"]} >= {"anger", "neutral"}
    q = get_json(f"http://127.0.0.1:{s.prometheus_port}/api/v1/query?query=sum(emostream_posts_out_total)")
    assert float(q["data"]["result"][0]["value"][1]) > 0

    # a new model version rolled out as README "Production" says: export, load in Triton, restart the workers
    new = perturbed_copy(s.bundle, s.artifacts / "bundles" / "rolled")
    s.export(new)
    s.serve(new)
    for combo in COMBOS:
        url = f"localhost:8000/v2/repository/models/{tc.ensemble_name(combo)}/load"
        s.compose(
            "exec", "-T", "triton", "sh", "-c", f'curl -fsS -H "triton-admin-key: $TRITON_ADMIN_KEY" -X POST {url}'
        )
    during = posts("d", 100)
    produce(s, during)
    s.compose("restart", "worker")
    s.wait_healthy("worker", replicas=2)
    ids = {p["id"] for p in during}
    got = [r for r in outputs(s, ids, 180) if r["id"] in ids]
    assert ids <= {r["id"] for r in got}, "posts lost across the roll-out"
    after = posts("e", 20)
    produce(s, after)
    ids = {p["id"] for p in after}
    assert {r["model_version"] for r in outputs(s, ids, 120) if r["id"] in ids} == {
        json.loads((new / "bundle.json").read_text())["version"]
    }

    # every container runs under its limits, with rotated logs; the peaks measured here size them (README)
    used = s.resources()
    (report.parent / "resources.json").write_text(json.dumps(used, indent=1))
    for name, r in used.items():
        print(f"{name}: peak {r['peak_mib']:.0f} MiB of {r['mem_limit_mib']:.0f}, {r['pids_now']} processes")
        assert r["mem_limit_mib"] > 0 and r["pids_limit"] > 0, name
        assert r["log"]["Type"] == "json-file" and r["log"]["Config"]["max-size"], name
        assert r["peak_mib"] < r["mem_limit_mib"], name

    # down -v leaves nothing of the project behind
    s.down()
    assert s.leftovers() == {"containers": [], "networks": [], "volumes": []}
