"""Kafka on this machine, for the capacity plan (docs/CAPACITY.md): how many post-sized records per second the local
broker takes in and hands out, measured with kcat (librdkafka, an independent client, so the number is the
broker's and not kafka-python's), on a topic with the worker's partition count.

Each of --repeat rounds (3) on a new topic; median (min-max).

python -m bench.kafka_throughput [--records 200000] [--repeat 3]      (results: artifacts/bench/kafka_throughput.json)
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

from .common import add_repeat, repeated, stat, write_result

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


def measure(bootstrap: str, data: Path, warm: Path, records: int, partitions: int) -> dict:
    """One round on a new topic: the warm-up, then `records` produced and all of them consumed by kcat."""
    topic = f"bench-kafka-{uuid.uuid4().hex[:6]}"
    ensure_topics(bootstrap, [topic], partitions)
    produce = ["kcat", "-P", "-b", bootstrap, "-t", topic, "-X", "acks=all", "-X", "linger.ms=5", "-l"]
    subprocess.run([*produce, str(warm)], check=True)  # the new partitions' leaders settle, the broker's JIT warms
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
    if consumed != records + WARMUP:
        raise RuntimeError(f"consumed {consumed} of {records + WARMUP} records")
    size = data.stat().st_size / records
    r = {
        "produce_records_per_s": records / produce_s,
        "produce_mb_per_s": records * size / produce_s / 1e6,
        "consume_records_per_s": consumed / consume_s,
    }
    print(
        f"  round: produce {r['produce_records_per_s']:.0f}/s, consume {r['consume_records_per_s']:.0f}/s", flush=True
    )
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=4)
    add_repeat(ap)
    args = ap.parse_args(argv)
    cfg = StackConfig()
    up(cfg, log=lambda *_: None)
    bootstrap = cfg.client_env()["EMOSTREAM_KAFKA_BOOTSTRAP"]
    data = Path(tempfile.mkdtemp()) / "posts.jsonl"
    data.write_bytes(b"\n".join(_post(i) for i in range(args.records)) + b"\n")
    warm = data.with_suffix(".warm")
    warm.write_bytes(b"\n".join(_post(i) for i in range(WARMUP)) + b"\n")
    size = data.stat().st_size / args.records
    rounds = repeated([measure(bootstrap, data, warm, args.records, args.partitions) for _ in range(args.repeat)])
    print(
        f"kcat -> Kafka ({args.partitions} partitions, {size:.0f}-byte posts, acks=all), median (min-max) of "
        f"{args.repeat}: produce {stat(rounds['produce_records_per_s'], 0)} records/s "
        f"({stat(rounds['produce_mb_per_s'])} MB/s), consume {stat(rounds['consume_records_per_s'], 0)} records/s"
    )
    result = {"records": args.records, "record_bytes": size, "partitions": args.partitions, "repeat": args.repeat}
    write_result("kafka_throughput", {**result, **rounds})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
