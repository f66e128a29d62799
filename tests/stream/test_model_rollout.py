"""Rolling a new model version under a running worker: the worker pauses (no output from a model of another
bundle, /health says why) and resumes, losing nothing, once restarted with the new bundle. And the bundle in service:
whatever `emostream export` put in Triton last, a worker started with defaults uses."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid

import pytest

from core.bundle_info import BundleInfo
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


def _export(work, bundle, stack, prefix) -> None:
    """`emostream export` as a user runs it in their checkout (`work`): the bundle in service becomes this one."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "emostream.cli",
            "export",
            "--bundle",
            str(bundle),
            "--repo",
            str(stack.triton_model_repo.parent),
        ]
        + ["--targets", "cpu", "--prefix", prefix],
        cwd=work,
        check=True,
        capture_output=True,
    )
    import tritonclient.http as httpclient

    from contracts import triton as tc
    from contracts.combos import COMBOS

    client = httpclient.InferenceServerClient(stack.triton_http_url, network_timeout=600)
    for combo in COMBOS:
        client.load_model(tc.ensemble_name(combo, prefix))
    client.close()


def test_a_worker_with_defaults_serves_what_was_exported_last(stack, demo_bundle, tmp_path):
    work = tmp_path / "checkout"
    first = work / "artifacts" / "bundles" / "demo" / BundleInfo.load(demo_bundle.bundle_path).version
    shutil.copytree(demo_bundle.bundle_path, first)
    second = perturbed_copy(first, tmp_path / "tmp-second")
    (work / "artifacts" / "bundles" / "goemotions").mkdir(parents=True)
    second = second.rename(work / "artifacts" / "bundles" / "goemotions" / BundleInfo.load(second).version)
    prefix = f"srv{uuid.uuid4().hex[:6]}_"
    env = WorkerEnv(stack, None, prefix)  # no EMOSTREAM_BUNDLE: the default, artifacts/bundles/serving
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    try:
        for n, bundle in enumerate((first, second)):  # `make demo`, then `make model`: each exports its bundle
            _export(work, bundle, stack, prefix)
            assert (work / "artifacts" / "bundles" / "serving").resolve() == bundle.resolve()
            env.procs.clear()
            env.start_worker(tmp_path, cwd=work)
            env.produce([{"id": f"p{n}-{env.uid}", "tags": ["fun"]}])
            out = [
                r
                for r in env.collect("out", 10**6, timeout_s=60, ids={f"p{n}-{env.uid}"})
                if r["id"] == f"p{n}-{env.uid}"
            ]
            assert out and out[0]["model_version"] == BundleInfo.load(bundle).version
            env.stop()
        # a worker pointed at the bundle no longer served says which one to pass
        res = subprocess.run(
            [sys.executable, "-m", "emostream.cli", "worker"],
            env=env.env(0, EMOSTREAM_BUNDLE=str(first)),
            cwd=work,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 1
        assert f"EMOSTREAM_BUNDLE={second.resolve()}" in res.stderr or f"EMOSTREAM_BUNDLE={second}" in res.stderr, (
            res.stderr[-800:]
        )
    finally:
        env.stop()
        unserve(stack, prefix)
