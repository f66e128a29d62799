"""End-to-end worker throughput and latency, measured in one run on the local stack: micro-batching by modality
combination vs a per-message mode (one Triton request per post, batch 1, as in Triton's Kafka tutorial), for
text+tags posts and for image posts, and the ratio to the raw Triton throughput of the same ensembles.

python -m bench.end_to_end
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from kafka import KafkaConsumer, KafkaProducer

from contracts.combos import COMBOS, Combo
from stream.kafka_admin import ensure_topics
from stream.triton_client import EmotionClient

from .common import pct, random_bundle, serve, unserve

ROOT = Path(__file__).resolve().parents[1]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def image_server() -> tuple[str, ThreadingHTTPServer]:
    from model.demo_data import make_image
    from model.demo_data import photos as demo_photos

    d = Path(tempfile.mkdtemp())
    rng = random.Random(0)
    photos = demo_photos()
    for i in range(16):
        make_image(rng, photos, "awe", size=320).save(d / f"{i}.jpg", quality=90)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(d)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}", srv


def posts(kind: str, n: int, base: str, tag: str) -> list[dict]:
    rng = random.Random(1)
    words = "happy party music calm home family angry protest fear danger storm mountain".split()
    out = []
    for i in range(n):
        p = {"id": f"{tag}-{i}"}
        if kind == "text_tags":
            p["text"] = " ".join(rng.choice(words) for _ in range(rng.randint(5, 30)))
            p["tags"] = rng.sample(words, 3)
        else:
            p["image_url"] = f"{base}/{i % 16}.jpg"
        out.append(p)
    return out


def run_mode(
    stack_env: dict, bundle: Path, prefix: str, kind: str, n: int, paced_n: int, base: str, batch: int, inflight: int
) -> dict:
    uid = uuid.uuid4().hex[:6]
    topics = {"posts": f"bposts-{uid}", "out": f"bout-{uid}", "dlq": f"bdlq-{uid}"}
    bootstrap = stack_env["EMOSTREAM_KAFKA_BOOTSTRAP"]
    ensure_topics(bootstrap, list(topics.values()), 4)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    for p in posts(kind, n, base, f"bulk{uid}"):
        producer.send(topics["posts"], key=p["id"].encode(), value=json.dumps(p).encode())
    producer.flush()
    port = 20000 + random.randrange(20000)
    env = {
        **os.environ,
        **stack_env,
        "EMOSTREAM_TRITON_MODEL_PREFIX": prefix,
        "EMOSTREAM_BUNDLE": str(bundle),
        "EMOSTREAM_TOPIC_POSTS": topics["posts"],
        "EMOSTREAM_TOPIC_OUTPUT": topics["out"],
        "EMOSTREAM_TOPIC_DLQ": topics["dlq"],
        "EMOSTREAM_APP_ID": f"bench-{uid}",
        "EMOSTREAM_REDIS_PREFIX": f"bench:{uid}:",
        "EMOSTREAM_WEB_PORT": str(port),
        "EMOSTREAM_IMAGE_ALLOW_LOOPBACK": "true",
        "EMOSTREAM_MAX_BATCH": str(batch),
        "EMOSTREAM_MAX_INFLIGHT": str(inflight),
        "EMOSTREAM_DATADIR": f"/tmp/emostream-bench-{uid}",
        "EMOSTREAM_LOG_LEVEL": "warn",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "worker"],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    consumer = KafkaConsumer(
        topics["out"],
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    try:
        done, times, deadline = 0, [], time.monotonic() + 600
        while done < n and time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(
                    f"worker exited with {worker.returncode}; run it by hand with these settings to see why"
                )
            for msg in consumer:
                done += 1
                times.append(msg.timestamp / 1000)  # broker append time of the output = when it was produced
        throughput = (len(times) - 1) / (max(times) - min(times)) if len(times) > 1 else float("nan")
        # latency at half the measured throughput: posts produced at a steady rate, latency_ms from the records
        rate = 0.5 * throughput
        paced = posts(kind, paced_n, base, f"paced{uid}")
        t0 = time.monotonic()
        for i, p in enumerate(paced):
            producer.send(topics["posts"], key=p["id"].encode(), value=json.dumps(p).encode())
            producer.flush()
            time.sleep(max(0.0, t0 + (i + 1) / rate - time.monotonic()))
        lat, deadline = [], time.monotonic() + 300
        while len(lat) < paced_n and time.monotonic() < deadline:
            for msg in consumer:
                rec = json.loads(msg.value)
                if rec["id"].startswith("paced"):
                    lat.append(rec["latency_ms"])
        return {"posts_per_s": throughput, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "n": len(times)}
    finally:
        consumer.close()
        producer.close()
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)


async def raw_triton(url: str, prefix: str, combo: str, batch: int, concurrency: int, seconds: float = 8.0) -> float:
    """Posts/s the ensemble serves to our client with the worker's request shape (batch, in-flight requests)."""
    shapes = {
        "image": ((batch, 224, 224, 3), np.uint8),
        "text": ((batch, 150), np.int64),
        "tags": ((batch, 10), np.int64),
    }
    head = Combo.parse(combo)
    inputs = {m: np.ones(*shapes[m]) for m in head}
    client = EmotionClient(url, prefix=prefix, timeout_s=120)
    await client.infer(head, inputs)
    done, t0 = 0, time.perf_counter()

    async def loop():
        nonlocal done
        while time.perf_counter() - t0 < seconds:
            await client.infer(head, inputs)
            done += batch

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    rate = done / (time.perf_counter() - t0)
    await client.close()
    return rate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text-posts", type=int, default=3000)
    ap.add_argument("--image-posts", type=int, default=160)
    ap.add_argument("--max-batch", type=int, default=256, help="worker micro-batch for text+tags posts (image: 32)")
    ap.add_argument("--only", choices=["text_tags", "image"], help="run one kind of post only")
    args = ap.parse_args(argv)
    bundle = random_bundle(224)
    prefix = f"e2e{uuid.uuid4().hex[:6]}_"
    cfg = serve(bundle, prefix, list(COMBOS), queue_delay_us=0)  # a worker checks all seven at start-up
    stack_env = cfg.client_env()
    base, srv = image_server()
    try:
        print("posts       mode                         | posts/s | p50 ms | p99 ms | raw Triton posts/s | e2e/raw")
        for kind, n in (("text_tags", args.text_posts), ("image", args.image_posts)):
            if args.only and kind != args.only:
                continue
            mb = args.max_batch if kind == "text_tags" else 32
            raw = asyncio.run(raw_triton(cfg.triton_grpc_url, prefix, kind, mb, 4))
            raw1 = asyncio.run(raw_triton(cfg.triton_grpc_url, prefix, kind, 1, 1))
            for mode, batch, inflight, rawv in (
                (f"micro-batch ({mb}, 4 in flight)", mb, 4, raw),
                ("per-message (1 request/post)", 1, 1, raw1),
            ):
                paced_n = min(n // 4, 400) if kind == "text_tags" else 40
                r = run_mode(
                    stack_env,
                    bundle,
                    prefix,
                    kind,
                    n if batch > 1 or kind == "image" else min(n, 1000),
                    paced_n,
                    base,
                    batch,
                    inflight,
                )
                print(
                    f"{kind:11s} {mode:28s} | {r['posts_per_s']:7.1f} | {r['p50_ms']:6.0f} | {r['p99_ms']:6.0f} | "
                    f"{rawv:18.1f} | {r['posts_per_s'] / rawv:6.2f}",
                    flush=True,
                )
    finally:
        srv.shutdown()
        unserve(prefix)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
