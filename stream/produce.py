"""`emostream produce`: replay a JSONL file of posts, or generate posts at a rate, into Kafka (kafka-python)."""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from kafka import KafkaProducer
from tqdm import tqdm

from contracts.combos import COMBOS
from contracts.labels import EMOTIONS

from .connections import kafka_python_config
from .kafka_admin import ensure_topics
from .settings import Settings


def synthetic_post(rng: random.Random, i: int, image_base: str | None) -> dict:
    """A post with a random subset of modalities, drawn from the demo generator's cues (torch-free)."""
    from core.synthetic import make_tags, make_text

    emotion = rng.choice(EMOTIONS)
    combo = rng.choice([c for c in COMBOS if image_base or not c.has_image])
    post: dict = {"id": f"gen-{int(time.time())}-{i}"}
    if "text" in combo:
        post["text"] = make_text(rng, emotion)
    if "tags" in combo:
        post["tags"] = make_tags(rng, emotion)
    if "image" in combo:
        post["image_url"] = f"{image_base.rstrip('/')}/{emotion}/{rng.randrange(16)}.jpg"
    return post


def main(argv: list[str] | None = None) -> int:
    s = Settings()
    ap = argparse.ArgumentParser(prog="emostream produce", description=__doc__)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--file", type=Path, help="JSONL of posts (one JSON object per line, sent as is)")
    src.add_argument("--generate", type=int, metavar="N", help="generate N synthetic posts")
    ap.add_argument("--rate", type=float, default=0.0, help="posts per second (0 = as fast as possible)")
    ap.add_argument("--image-base", help="with --generate: base URL serving <emotion>/<n>.jpg")
    ap.add_argument("--topic", default=s.topic_posts)
    ap.add_argument("--partitions", type=int, default=s.partitions, help="partitions when the topic is created")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    ensure_topics(kafka_python_config(s), [args.topic], args.partitions)
    producer = KafkaProducer(acks="all", linger_ms=5, **kafka_python_config(s))
    if args.file:
        lines = [line for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        rng = random.Random(args.seed)
        lines = [json.dumps(synthetic_post(rng, i, args.image_base)) for i in range(args.generate)]
    t0 = time.monotonic()
    for i, line in enumerate(tqdm(lines, desc="produce", unit="post")):
        try:
            key = str(json.loads(line).get("id", i)).encode()
        except (json.JSONDecodeError, AttributeError):
            key = str(i).encode()  # malformed lines are sent as they are: the worker dead-letters them
        producer.send(args.topic, key=key, value=line.encode())
        if args.rate > 0:
            time.sleep(max(0.0, t0 + (i + 1) / args.rate - time.monotonic()))
    producer.flush()
    producer.close()
    print(f"sent {len(lines)} posts to {args.topic} in {time.monotonic() - t0:.1f}s")
    return 0
