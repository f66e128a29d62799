"""Rolling a new model version under a running worker: the worker pauses (no output from a model of another
bundle, /health says why) and resumes, losing nothing, once restarted with the new bundle."""

from __future__ import annotations

import time
import uuid

import pytest

from model.bundle_info import BundleInfo
from stream.kafka_admin import ensure_topics
from tests.helpers.bundles import perturbed_copy
from tests.helpers.services import serve_bundle, unserve
from tests.helpers.stream import WorkerEnv, worker_health

pytestmark = pytest.mark.stack


def test_new_version_pauses_worker_until_restarted_with_its_bundle(stack, demo_bundle, tmp_path):
    prefix = f"roll{uuid.uuid4().hex[:6]}_"
    second = perturbed_copy(demo_bundle.bundle_path, tmp_path / "second")
    serve_bundle(stack, demo_bundle.bundle_path, prefix)
    env = WorkerEnv(stack, demo_bundle.bundle_path, prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    try:
        proc, port = env.start_worker(tmp_path)
        env.produce([{"id": f"before-{env.uid}", "tags": ["fun"]}])
        first = env.collect("out", 1, timeout_s=60)
        assert first[0]["model_version"] == BundleInfo.load(demo_bundle.bundle_path).version
        serve_bundle(stack, second, prefix)  # Triton now serves another bundle under the same names
        env.produce([{"id": f"during-{i}-{env.uid}", "tags": ["fun"]} for i in range(5)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and worker_health(port).get("triton_ready", True):
            time.sleep(1)
        health = worker_health(port)
        assert health["triton_ready"] is False and "serves bundle" in health["triton_error"]
        assert len(env.collect("out", 10**6, timeout_s=3)) == 1  # nothing labelled by a model of another bundle
        env.stop()
        env.bundle_path = second
        env.procs.clear()
        env.start_worker(tmp_path)
        ids = {f"during-{i}-{env.uid}" for i in range(5)}
        out = env.collect("out", 10**6, timeout_s=60, ids=ids)
        late = [r for r in out if r["id"] in ids]
        assert {r["id"] for r in late} == ids
        assert {r["model_version"] for r in late} == {BundleInfo.load(second).version}
    finally:
        env.stop()
        unserve(stack, prefix)
