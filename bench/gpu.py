"""The image ensemble on a GPU (or, with --cpu, the same run on the CPU as a dry run): perf_analyzer 2.51 at batch
1..64 beside the project's client at the same batch sizes, then the end-to-end benchmark's mixed stream, then the
trainer's step with each image backbone frozen and fine-tuned; one JSON + Markdown report (artifacts/bench/gpu.json,
gpu.md). bench/gpu.sh prepares a GPU machine and calls this.

python -m bench.gpu [--cpu] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

import numpy as np

from contracts import triton as tc
from contracts.combos import COMBOS, Combo
from stream.triton_client import EmotionClient

from . import end_to_end
from .common import perf_analyzer, random_bundle, serve, stat, unserve, write_result

ROOT = Path(__file__).resolve().parents[1]
IMAGE = Combo.parse("image")


async def own_client(url: str, prefix: str, batch: int, concurrency: int, requests: int) -> tuple[float, float]:
    client = EmotionClient(url, prefix=prefix, timeout_s=600)
    arrays = {"image": np.zeros((batch, 224, 224, 3), np.uint8)}
    await client.infer(IMAGE, arrays)
    lat: list[float] = []

    async def loop():
        for _ in range(max(1, requests // concurrency)):
            t = time.perf_counter()
            await client.infer(IMAGE, arrays)
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    rate = len(lat) * batch / (time.perf_counter() - t0)
    await client.stop()
    return rate, float(np.median(lat)) * 1000


def training(device: str, quick: bool) -> list[dict]:
    """The trainer's step (bench/model_speed.py `train_rate`: mixed precision and loss scaling on a GPU) at batch 64,
    trimodal examples/s with each backbone frozen (cached features) and fine-tuned. On the CPU (the dry run) the
    fine-tuned step runs at batch 4, once: it checks the path, it measures nothing."""
    import torch

    from model.architecture import EmotionNet
    from model.backbones import BACKBONES
    from model.config import ModelConfig
    from model.device import placement

    from .model_speed import train_rate

    where = placement("cuda" if device == "gpu" else "cpu")
    gpu = where.cuda
    rows = []
    for name in BACKBONES:
        torch.manual_seed(0)
        cfg = ModelConfig(n_words=5000, n_tags=2000, image_size=224, image_backbone=name)
        net = EmotionNet(cfg)
        batch = 64 if gpu else 4
        frozen = train_rate(net, cfg, True, steps=50 if gpu else 3, n=64, where=where)
        tuned = train_rate(net, cfg, False, steps=(5 if quick else 20) if gpu else 1, n=batch, where=where)
        rows.append(
            {
                "backbone": name,
                "device": str(where.device),
                "amp": str(where.amp_dtype).removeprefix("torch.") if where.amp_dtype else None,
                "frozen_examples_per_s": frozen,
                "finetune_batch": batch,
                "finetune_examples_per_s": tuned,
            }
        )
        print(
            f"training {name:18s} frozen {frozen:9.1f} ex/s | fine-tuned {tuned:8.1f} ex/s (batch {batch})", flush=True
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="onnxruntime on the CPU (a dry run of the GPU script)")
    ap.add_argument("--quick", action="store_true", help="batch 1 and 4 only, a short end-to-end run")
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 2, 4, 8, 16, 32, 64])
    ap.add_argument("--concurrency", type=int, default=2)
    args = ap.parse_args(argv)
    batches = [1, 4] if args.quick else args.batches
    providers = "CPUExecutionProvider" if args.cpu else "CUDAExecutionProvider,CPUExecutionProvider"
    device = "cpu" if args.cpu else "gpu"
    prefix = f"gpu{uuid.uuid4().hex[:6]}_"
    bundle = random_bundle(224, n_words=len(end_to_end.WORDS) + 2)
    cfg = serve(bundle, prefix, list(COMBOS), image_batch=max(batches), providers=providers)
    rows = []
    try:
        model = tc.ensemble_name(IMAGE, prefix)
        print(f"image ensemble on the {device} ({providers}), concurrency {args.concurrency}")
        print("batch | perf_analyzer img/s  p50 ms | own client img/s  p50 ms | own/pa")
        for b in batches:
            n = 8 if args.quick or args.cpu else 64
            pa, pa_ms = perf_analyzer(model, cfg.triton_grpc_url, args.concurrency, n, batch=b)
            own, own_ms = asyncio.run(own_client(cfg.triton_grpc_url, prefix, b, args.concurrency, n))
            rows.append(
                {
                    "batch": b,
                    "perf_analyzer_img_per_s": pa,
                    "perf_analyzer_p50_ms": pa_ms,
                    "own_img_per_s": own,
                    "own_p50_ms": own_ms,
                    "own_over_pa": own / pa,
                }
            )
            print(f"{b:5d} | {pa:19.1f} {pa_ms:7.1f} | {own:16.1f} {own_ms:7.1f} | {own / pa:6.2f}", flush=True)
    finally:
        unserve(prefix)
    e2e = ["--only", "mixed", "--cpus", "shared"] + (["--quick", "--repeat", "1"] if args.quick else [])
    end_to_end.main(e2e)
    train_rows = training(device, args.quick)
    report = {
        "device": device,
        "providers": providers,
        "image_ensemble": rows,
        "training": train_rows,
        "end_to_end": __import__("json").loads((ROOT / "artifacts/bench/end_to_end.json").read_text()),
    }
    write_result("gpu", report)
    md = [
        f"# Image ensemble on the {device}",
        "",
        "| batch | perf_analyzer img/s | p50 ms | own client img/s | p50 ms | own/pa |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    md += [
        f"| {r['batch']} | {r['perf_analyzer_img_per_s']:.1f} | {r['perf_analyzer_p50_ms']:.1f} | "
        f"{r['own_img_per_s']:.1f} | {r['own_p50_ms']:.1f} | {r['own_over_pa']:.2f} |"
        for r in rows
    ]
    mixed = report["end_to_end"]["layouts"]["shared"]["streams"]["mixed"]
    run = next(iter(mixed["runs"].values()))
    md += [
        "",
        f"Mixed stream end to end (median, min-max of {report['end_to_end']['repeat']}): "
        f"{stat(run['posts_per_s'])} posts/s, raw Triton {stat(run['raw_triton_posts_per_s'])}, "
        f"ratio {stat(run['e2e_over_raw'], 2)}; p99 at 50 % load {run['50%']['p99_ms']['median']:.0f} ms.",
    ]
    md += [
        "",
        f"Training step on {train_rows[0]['device']} (mixed precision: {train_rows[0]['amp'] or 'none'}), trimodal "
        "examples/s:",
        "",
        "| backbone | frozen, batch 64 | fine-tuned | batch |",
        "| --- | ---: | ---: | ---: |",
    ]
    md += [
        f"| {r['backbone']} | {r['frozen_examples_per_s']:.1f} | {r['finetune_examples_per_s']:.1f} | "
        f"{r['finetune_batch']} |"
        for r in train_rows
    ]
    (ROOT / "artifacts" / "bench" / "gpu.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
