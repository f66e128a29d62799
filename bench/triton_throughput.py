"""Triton throughput of the text+tags and image ensembles at concurrency 1..8 (batch-1 requests), measured in one
run: perf_analyzer 2.51 vs the project's grpc.aio client, dynamic batching on vs off, and a queue-delay sweep; every
figure the median (min-max) of --repeat rounds of the whole grid.

python -m bench.triton_throughput [--repeat 3]      (results: artifacts/bench/triton_throughput.json)
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

from .common import add_repeat, random_bundle, repeated, serve, stat, unserve, write_result
from .common import perf_analyzer as common_perf_analyzer

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
    await client.stop()
    return rate, float(np.median(lat)) * 1000


def zeros(combo: str, image_size: int) -> dict:
    shapes = {
        "image": ((1, image_size, image_size, 3), np.uint8),
        "text": ((1, TEXT_LENGTH), np.int64),
        "tags": ((1, 10), np.int64),
    }
    return {m: np.zeros(*shapes[m]) for m in Combo.parse(combo)}


def grid_round(on: str, off: str, url: str, combos: dict[str, int], concurrency: list[int]) -> dict:
    """One round of the grid: each ensemble at each concurrency, perf_analyzer and our client with dynamic batching
    on, perf_analyzer with it off."""
    out = {}
    for combo, n in combos.items():
        for c in concurrency:
            pa, pa_lat = perf_analyzer(combo, on, url, c, n)
            own, own_lat = asyncio.run(own_client(url, on, combo, zeros(combo, 224), c, n))
            pa_off, _ = perf_analyzer(combo, off, url, c, n)
            out[f"{combo} c{c}"] = {
                "perf_analyzer_inf_per_s": pa,
                "perf_analyzer_p50_ms": pa_lat,
                "own_inf_per_s": own,
                "own_p50_ms": own_lat,
                "own_over_pa": own / pa,
                "batching_off_inf_per_s": pa_off,
                "on_over_off": pa / pa_off,
            }
            print(f"  round: {combo} c{c}: pa {pa:.1f}, own {own:.1f}, off {pa_off:.1f}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="*", default=[1, 2, 4, 8])
    ap.add_argument("--delays-us", type=int, nargs="*", default=[0, 100, 300, 500, 1000, 2000])
    add_repeat(ap)
    args = ap.parse_args(argv)
    bundle = random_bundle(224)
    uid = uuid.uuid4().hex[:6]
    on, off = f"bon{uid}_", f"boff{uid}_"
    combos = {"text_tags": 400, "image": 48}  # requests per measurement (the image ensemble runs DenseNet on 2 cores)
    cfg = serve(bundle, on, list(combos))
    serve(bundle, off, list(combos), dynamic_batching=False)
    url = cfg.triton_grpc_url
    try:
        grid = repeated([grid_round(on, off, url, combos, args.concurrency) for _ in range(args.repeat)])
    finally:
        unserve(on)
        unserve(off)
    print(f"\nmedian (min-max) of {args.repeat} rounds; ! = spread over 20 %")
    print("ensemble, conc | perf_analyzer inf/s | own client inf/s | own/pa | batching off inf/s | on/off")
    for key, r in grid.items():
        print(
            f"{key:15s} | {stat(r['perf_analyzer_inf_per_s'])} | {stat(r['own_inf_per_s'])} | "
            f"{stat(r['own_over_pa'], 2)} | {stat(r['batching_off_inf_per_s'])} | {stat(r['on_over_off'], 2)}"
        )
    prefixes = {d: f"d{d}{uid}_" for d in args.delays_us}
    try:
        for d, prefix in prefixes.items():
            serve(bundle, prefix, ["text_tags"], queue_delay_us=d)

        def sweep_round() -> dict:
            out = {}
            for d, prefix in prefixes.items():
                rate, lat = asyncio.run(own_client(url, prefix, "text_tags", zeros("text_tags", 224), 8, 400))
                out[str(d)] = {"inf_per_s": rate, "p50_ms": lat}
            return out

        sweep = repeated([sweep_round() for _ in range(args.repeat)])
    finally:
        for prefix in prefixes.values():
            unserve(prefix)
    print("\nqueue-delay sweep, text_tags ensemble, own client, concurrency 8, batch-1 requests, median (min-max)")
    print("max_queue_delay_us | inf/s | p50 ms")
    for d, r in sweep.items():
        print(f"{d:>18s} | {stat(r['inf_per_s'])} | {stat(r['p50_ms'])}", flush=True)
    write_result("triton_throughput", {"repeat": args.repeat, "grid": grid, "queue_delay_sweep": sweep})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
