"""Triton throughput of the text+tags and image ensembles at concurrency 1..8 (batch-1 requests), measured in one
run: perf_analyzer 2.51 vs the project's grpc.aio client, dynamic batching on vs off, and a queue-delay sweep.

python -m bench.triton_throughput [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

import numpy as np

from contracts import triton as tc
from contracts.combos import Combo
from stream.triton_client import EmotionClient

from .common import perf_analyzer as common_perf_analyzer
from .common import random_bundle, serve, unserve

ROOT = Path(__file__).resolve().parents[1]
TEXT_LENGTH = 150  # text positions per request: the random bundle's max_words (the longest a request can be)


def perf_analyzer(combo: str, prefix: str, url: str, concurrency: int, requests: int) -> tuple[float, float]:
    """common.perf_analyzer on an ensemble at batch 1; a failure is reported and its row kept (nan)."""
    shapes = {tc.INPUTS["text"].name: TEXT_LENGTH} if "text" in Combo.parse(combo) else None
    try:
        return common_perf_analyzer(tc.ensemble_name(Combo.parse(combo), prefix), url, concurrency, requests, 1, shapes)
    except RuntimeError as e:
        print(f"  ({e})")
        return float("nan"), float("nan")


async def own_client(
    url: str, prefix: str, combo: str, inputs: dict, concurrency: int, requests: int
) -> tuple[float, float]:
    """(inferences/s, p50 latency ms) with `concurrency` loops of sequential batch-1 requests."""
    client = EmotionClient(url, prefix=prefix, timeout_s=60)
    lat: list[float] = []
    per = max(1, requests // concurrency)

    async def loop():
        for _ in range(per):
            t = time.perf_counter()
            await client.infer(Combo.parse(combo), inputs)
            lat.append(time.perf_counter() - t)

    await asyncio.gather(*(client.infer(Combo.parse(combo), inputs) for _ in range(concurrency)))  # warm-up
    t0 = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    rate = per * concurrency / (time.perf_counter() - t0)
    await client.close()
    return rate, float(np.median(lat)) * 1000


def zeros(combo: str, image_size: int) -> dict:
    shapes = {
        "image": ((1, image_size, image_size, 3), np.uint8),
        "text": ((1, TEXT_LENGTH), np.int64),
        "tags": ((1, 10), np.int64),
    }
    return {m: np.zeros(*shapes[m]) for m in Combo.parse(combo)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="*", default=[1, 2, 4, 8])
    ap.add_argument("--delays-us", type=int, nargs="*", default=[0, 100, 300, 500, 1000, 2000])
    args = ap.parse_args(argv)
    bundle = random_bundle(224)
    uid = uuid.uuid4().hex[:6]
    on, off = f"bon{uid}_", f"boff{uid}_"
    combos = {"text_tags": 400, "image": 48}  # requests per measurement (the image ensemble runs DenseNet on 2 cores)
    cfg = serve(bundle, on, list(combos))
    serve(bundle, off, list(combos), dynamic_batching=False)
    url = cfg.triton_grpc_url
    try:
        print(
            "ensemble          conc | perf_analyzer inf/s  p50 ms | own client inf/s  p50 ms | own/pa "
            "| batching off inf/s | on/off"
        )
        for combo, n in combos.items():
            for c in args.concurrency:
                pa, pa_lat = perf_analyzer(combo, on, url, c, n)
                own, own_lat = asyncio.run(own_client(url, on, combo, zeros(combo, 224), c, n))
                pa_off, _ = perf_analyzer(combo, off, url, c, n)
                print(
                    f"{combo:16s} {c:5d} | {pa:19.1f} {pa_lat:7.1f} | {own:16.1f} {own_lat:7.1f} | {own / pa:6.2f} | "
                    f"{pa_off:18.1f} | {pa / pa_off:6.2f}",
                    flush=True,
                )
    finally:
        unserve(on)
        unserve(off)
    print("\nqueue-delay sweep, text_tags ensemble, own client, concurrency 8, batch-1 requests")
    print("max_queue_delay_us | inf/s  p50 ms")
    for d in args.delays_us:
        prefix = f"d{d}{uid}_"
        serve(bundle, prefix, ["text_tags"], queue_delay_us=d)
        try:
            rate, lat = asyncio.run(own_client(url, prefix, "text_tags", zeros("text_tags", 224), 8, 400))
            print(f"{d:18d} | {rate:6.1f} {lat:6.1f}", flush=True)
        finally:
            unserve(prefix)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
