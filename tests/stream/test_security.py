"""Secured services for real: the worker on the local broker's SASL/PLAIN listener, Redis behind a password; secrets
never in the logs; a wrong password stops the worker at start-up with a clear error."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from contracts.redis_keys import RedisKeys
from devstack import StackConfig
from stream.kafka_admin import ensure_topics
from tests.helpers.services import OwnRedis, wait_for
from tests.helpers.stream import ROOT, WorkerEnv

pytestmark = pytest.mark.stack
REDIS_PASSWORD = "redis-test-secret-42"


def sasl_env(cfg: StackConfig, password: str) -> dict:
    return {
        "EMOSTREAM_KAFKA_BOOTSTRAP": f"{cfg.host}:{cfg.kafka_sasl_port}",
        "EMOSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "EMOSTREAM_KAFKA_SASL_MECHANISM": "PLAIN",
        "EMOSTREAM_KAFKA_SASL_USERNAME": cfg.kafka_sasl_user,
        "EMOSTREAM_KAFKA_SASL_PASSWORD": password,
    }


def test_worker_over_sasl_and_a_redis_password(stack, served, tmp_path):
    cfg = StackConfig()
    r = OwnRedis(tmp_path, password=REDIS_PASSWORD)
    r.start()
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    try:
        env.start_worker(tmp_path, EMOSTREAM_REDIS_URL=r.url, **sasl_env(cfg, cfg.kafka_sasl_password))
        posts = [{"id": f"sec{i}-{env.uid}", "text": "happy party", "tags": ["fun"]} for i in range(20)]
        env.produce(posts)
        ids = {p["id"] for p in posts}
        assert ids <= {rec["id"] for rec in env.collect("out", 10**6, timeout_s=60, ids=ids)}
        totals = RedisKeys(env.redis_prefix).totals
        wait_for(
            lambda: int(r.client().hget(totals, "posts") or 0) == len(posts), 30, "posts counted in the password Redis"
        )
    finally:
        env.stop()
        r.stop()
    logs = "".join(p.read_text() for p in tmp_path.glob("worker-*.log"))
    assert "SASL_PLAINTEXT" in logs and "redis://:***@127.0.0.1" in logs
    assert REDIS_PASSWORD not in logs and cfg.kafka_sasl_password not in logs


def test_a_wrong_kafka_password_fails_fast_and_clearly(stack, served, tmp_path):
    cfg = StackConfig()
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    t0 = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "emostream.cli", "worker"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env.env(0, **sasl_env(cfg, "wrong-password")),
    )
    assert res.returncode == 1 and time.monotonic() - t0 < 25
    assert "error: Kafka at" in res.stderr and "SASL_PLAINTEXT" in res.stderr and "wrong-password" not in res.stderr
