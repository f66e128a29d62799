"""Fixtures of the stream tests: a local image server with failure routes and one worker process on fresh topics."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest

from stream.kafka_admin import ensure_topics
from tests.helpers.stream import ImageHandler, WorkerEnv


@pytest.fixture(scope="session")
def image_server(demo_bundle):
    handler = type("H", (ImageHandler,), {"images": demo_bundle.manifest.parent / "images"})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.fixture(scope="module")
def pipeline_env(stack, served, tmp_path_factory):
    """One worker process on fresh topics, serving the demo bundle."""
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    env.log_dir = tmp_path_factory.mktemp("worker-logs")
    env.start_worker(env.log_dir, EMOSTREAM_LOG_JSON="true")
    yield env
    env.stop()
