"""Stream-test helpers: real worker processes on their own topics, a local image server with failure routes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from devstack.proc import free_port
from emostream.launch import start_worker, wait_assigned

ROOT = Path(__file__).resolve().parents[2]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def worker_health(port: int) -> dict:
    """A worker's /health document, also when it answers 503 (a check failing)."""
    try:
        return get_json(f"http://127.0.0.1:{port}/health")
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def worker_metric(port: int, name: str, **labels) -> float:
    """Sum of a worker's Prometheus samples called `name` whose labels include `labels`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(
        s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


class ImageHandler(BaseHTTPRequestHandler):
    """Routes: /img/<file> (a demo image), /hold/<key>/<file> (that image once `release(key)` was called, or after
    60 s), /delay/<ms>/<file> (that image after ms milliseconds), and failure routes."""

    images: Path
    holds: dict[str, threading.Event] = {}

    def log_message(self, *args):
        pass

    @classmethod
    def hold(cls, key: str) -> threading.Event:
        return cls.holds.setdefault(key, threading.Event())

    @classmethod
    def release(cls, key: str) -> None:
        cls.hold(key).set()

    def do_GET(self):
        p = self.path
        if p.startswith("/img/"):
            data = (self.images / p[5:]).read_bytes()
            self._send(200, data, "image/jpeg")
        elif p.startswith("/hold/"):
            key, name = p[6:].split("/", 1)
            self.hold(key).wait(60)
            self._send(200, (self.images / name).read_bytes(), "image/jpeg")
        elif p.startswith("/delay/"):
            ms, name = p[7:].split("/", 1)
            time.sleep(int(ms) / 1000)
            self._send(200, (self.images / name).read_bytes(), "image/jpeg")
        elif p == "/slow.jpg":
            time.sleep(3)
            self._send(200, b"late", "image/jpeg")
        elif p == "/big.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()  # no Content-Length: the cap must hold while streaming
            try:
                for _ in range(64):
                    self.wfile.write(b"\xff" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif p == "/text.jpg":
            self._send(200, b"<html>not an image</html>", "image/jpeg")
        elif p == "/to-private.jpg":
            self.send_response(302)
            self.send_header("Location", "http://10.255.255.1/x.jpg")
            self.end_headers()
        else:
            self._send(404, b"nope", "text/plain")

    def _send(self, code, body, ctype):
        try:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a worker killed while it waited)


@dataclass
class WorkerEnv:
    """One isolated pipeline: its own topics, consumer group, Redis prefix and served models."""

    stack: object
    bundle_path: Path | None
    prefix: str
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    procs: list = field(default_factory=list)
    ports: list = field(default_factory=list)

    @property
    def topics(self):
        return {"posts": f"posts-{self.uid}", "out": f"out-{self.uid}", "dlq": f"dlq-{self.uid}"}

    @property
    def redis_prefix(self):
        return f"{{emo-{self.uid}}}:"

    def env(self, port: int, **extra) -> dict:
        e = {
            **os.environ,
            "EMOSTREAM_KAFKA_BOOTSTRAP": self.stack.kafka_bootstrap,
            "EMOSTREAM_REDIS_URL": self.stack.redis_url,
            "EMOSTREAM_TRITON_GRPC_URL": self.stack.triton_grpc_url,
            "EMOSTREAM_TRITON_MODEL_PREFIX": self.prefix,
            "EMOSTREAM_TOPIC_POSTS": self.topics["posts"],
            "EMOSTREAM_TOPIC_OUTPUT": self.topics["out"],
            "EMOSTREAM_TOPIC_DLQ": self.topics["dlq"],
            "EMOSTREAM_APP_ID": f"emostream-{self.uid}",
            "EMOSTREAM_REDIS_PREFIX": self.redis_prefix,
            "EMOSTREAM_WEB_PORT": str(port),
            "EMOSTREAM_IMAGE_ALLOW_LOOPBACK": "true",
            "EMOSTREAM_IMAGE_TIMEOUT_S": "1.5",
            "EMOSTREAM_IMAGE_MAX_BYTES": "1000000",
            "EMOSTREAM_DATADIR": f"/tmp/emostream-faust-{self.uid}-{port}",
            "EMOSTREAM_PARTITIONS": "4",
            "EMOSTREAM_LOG_LEVEL": "info",
            "PYTHONUNBUFFERED": "1",
        }
        if self.bundle_path is not None:  # None: the worker's default, the bundle in service
            e["EMOSTREAM_BUNDLE"] = str(self.bundle_path)
        else:
            e.pop("EMOSTREAM_BUNDLE", None)
        e.update(extra)
        return e

    def start_worker(self, log_dir: Path, cwd: Path = ROOT, **extra) -> tuple[subprocess.Popen, int]:
        port = free_port()
        log = log_dir / f"worker-{self.uid}-{port}.log"
        proc = start_worker(self.env(port, **extra), log, cwd)
        self.procs.append(proc)
        self.ports.append(port)
        wait_assigned(proc, port, 120, log)
        return proc, port

    def produce(self, posts: list, topic: str | None = None, partition: int | None = None) -> None:
        p = KafkaProducer(bootstrap_servers=self.stack.kafka_bootstrap, acks="all")
        for post in posts:
            raw = post if isinstance(post, bytes) else json.dumps(post).encode()
            key = post.get("id", "x").encode() if isinstance(post, dict) and isinstance(post.get("id"), str) else b"raw"
            p.send(topic or self.topics["posts"], key=key, value=raw, partition=partition)
        p.flush()
        p.close()

    def collect(self, topic: str, n: int, timeout_s: float = 90, ids=None) -> list[dict]:
        """Read the topic from the beginning until n records, or until every id in `ids` was seen, or the timeout."""
        c = KafkaConsumer(
            self.topics[topic],
            bootstrap_servers=self.stack.kafka_bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            consumer_timeout_ms=500,
        )
        out, seen, deadline = [], set(), time.monotonic() + timeout_s
        want = set(ids or ())
        while time.monotonic() < deadline:
            for msg in c:
                rec = json.loads(msg.value)
                out.append(rec)
                seen.add(rec.get("id"))
            if len(out) >= n or (want and want <= seen):
                break
        c.close()
        return out

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
