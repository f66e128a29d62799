"""`emostream tail`: print results from the output topic as they arrive."""

from __future__ import annotations

import argparse

from kafka import KafkaConsumer
from pydantic import ValidationError

from .connections import kafka_python_config
from .schemas import DeadLetterRecord, EmotionRecord
from .settings import Settings


def format_record(r: EmotionRecord) -> str:
    deg = ", ".join(f"{d.modality}:{d.reason}" for d in r.degraded)
    score = r.neutral_score if r.emotion == "neutral" else r.emotion_scores[r.emotion]
    split = " ".join(f"{m}={o.emotion}" for m, o in r.opinions.items()) if r.disagreement else ""
    return (
        f"{r.id:<28} {r.emotion:<12} {score:.2f}  {r.sentiment:<8} "
        f"head={r.head:<16} {r.latency_ms:>7.0f} ms"
        + (f"  degraded[{deg}]" if deg else "")
        + (f"  disagree[{split}]" if split else "")
    )


def format_value(value: bytes) -> str:
    """One line for a record of the output or the dead-letter topic, read with its model; anything else says so."""
    try:
        return format_record(EmotionRecord.model_validate_json(value))
    except ValidationError:
        pass
    try:
        d = DeadLetterRecord.model_validate_json(value)
    except ValidationError:
        return f"(not an emostream record: {value[:80]!r})"
    where = f"{d.source.topic}:{d.source.partition}:{d.source.offset}"
    return f"{'DEAD LETTER':<28} {d.reason:<20} stage={d.stage:<10} {where}  {d.error[:80]}"


def main(argv: list[str] | None = None) -> int:
    s = Settings()
    ap = argparse.ArgumentParser(prog="emostream tail", description=__doc__)
    ap.add_argument("--topic", default=s.topic_output)
    ap.add_argument("--from-beginning", action="store_true")
    ap.add_argument("--max", type=int, default=0, help="stop after this many records (0 = never)")
    ap.add_argument("--timeout-s", type=float, default=0, help="stop after this long without a record (0 = never)")
    ap.add_argument("--json", action="store_true", help="print raw JSON")
    args = ap.parse_args(argv)
    consumer = KafkaConsumer(
        args.topic,
        group_id=None,
        **kafka_python_config(s),
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        consumer_timeout_ms=int(args.timeout_s * 1000) if args.timeout_s else float("inf"),
    )
    n = 0
    for msg in consumer:
        print(msg.value.decode("utf-8", "replace") if args.json else format_value(msg.value), flush=True)
        n += 1
        if args.max and n >= args.max:
            break
    consumer.close()
    return 0
