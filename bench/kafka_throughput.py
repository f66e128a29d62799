"""Kafka on this machine, for the capacity plan (docs/CAPACITY.md): how many post-sized records per second the local
broker takes in and hands out, measured with kcat (librdkafka, an independent client, so the number is the
broker's and not kafka-python's), on a topic with the worker's partition count.

python -m bench.kafka_throughput [--records 200000]      (results: artifacts/bench/kafka_throughput.json)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from devstack import StackConfig, up
from stream.kafka_admin import ensure_topics

from .common import write_result

WARMUP = 5000


def _post(i: int) -> bytes:
    """A realistic text+tags post (~230 bytes of JSON)."""
    return json.dumps(
        {
            "id": f"post-{i:09d}",
            "text": "what a view from the top this morning, totally worth the climb and the cold",
            "tags": ["sunrise", "hiking", "mountains"],
            "image_url": f"https://images.example.com/p/{i:09d}.jpg",
        }
    ).encode()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=4)
    args = ap.parse_args(argv)
    cfg = StackConfig()
    up(cfg, log=lambda *_: None)
    bootstrap = cfg.client_env()["EMOSTREAM_KAFKA_BOOTSTRAP"]
    topic = f"bench-kafka-{uuid.uuid4().hex[:6]}"
    ensure_topics(bootstrap, [topic], args.partitions)
    data = Path(tempfile.mkdtemp()) / "posts.jsonl"
    data.write_bytes(b"\n".join(_post(i) for i in range(args.records)) + b"\n")
    size = data.stat().st_size / args.records

    produce = ["kcat", "-P", "-b", bootstrap, "-t", topic, "-X", "acks=all", "-X", "linger.ms=5", "-l"]
    warm = data.with_suffix(".warm")  # the new partitions' leaders settle and the broker's JIT warms up first
    warm.write_bytes(b"\n".join(_post(i) for i in range(WARMUP)) + b"\n")
    subprocess.run([*produce, str(warm)], check=True)
    t0 = time.perf_counter()
    subprocess.run([*produce, str(data)], check=True)
    produce_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o\n"],
        check=True,
        capture_output=True,
    )
    consume_s = time.perf_counter() - t0
    consumed = out.stdout.count(b"\n")  # every record, the warm-up's too
    if consumed != args.records + WARMUP:
        raise RuntimeError(f"consumed {consumed} of {args.records + WARMUP} records")
    result = {
        "records": args.records,
        "record_bytes": size,
        "partitions": args.partitions,
        "produce_records_per_s": args.records / produce_s,
        "produce_mb_per_s": args.records * size / produce_s / 1e6,
        "consume_records_per_s": consumed / consume_s,
    }
    print(
        f"kcat -> Kafka ({args.partitions} partitions, {size:.0f}-byte posts, acks=all): "
        f"produce {result['produce_records_per_s']:.0f} records/s ({result['produce_mb_per_s']:.1f} MB/s), "
        f"consume {result['consume_records_per_s']:.0f} records/s"
    )
    write_result("kafka_throughput", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
