"""The two image backbones side by side (model/backbones.py): the paper's DenseNet-121 and EfficientNet-Lite0, each in
a random-weight bundle (speed does not depend on the weights) served by the running local Triton, measured in each
round (the order alternates), --repeat rounds (3):

- PyTorch: the image head's posts/s on decoded 224 px photos, batches of 32 (the export's image batch), this process's
  torch threads;
- raw Triton: the project's client replaying the worker's requests for an image-only stream (bench/end_to_end.py);
- the worker draining a backlog of the same image posts, fetched from a local image server (posts/s).

Prints each round, then median (min-max) of posts/s and of the Lite0 / DenseNet ratio.

python -m bench.backbones [--quick] [--repeat 3]   (results: artifacts/bench/backbones.json)
"""

from __future__ import annotations

import asyncio
import time
import uuid

import numpy as np
import torch

from contracts.combos import COMBOS
from core.bundle_info import BundleInfo
from core.imaging import decode_image
from model.backbones import BACKBONES
from model.bundle import load_bundle

from .common import random_bundle, repeated, serve, side_by_side_args, stat, unserve, write_result
from .end_to_end import IMAGE_BATCH, WORDS, context, posts, raw_triton, requests_of, run_worker

NAMES = tuple(BACKBONES)  # densenet121, efficientnet-lite0


@torch.no_grad()
def pytorch_posts_per_s(bundle, photos: np.ndarray, n: int) -> float:
    """The image head on `n` photos in batches of IMAGE_BATCH, after one warm-up batch."""
    batches = [photos[np.arange(i, min(i + IMAGE_BATCH, n)) % len(photos)] for i in range(0, n, IMAGE_BATCH)]
    bundle.predict_arrays("image", image=batches[0])
    t0 = time.perf_counter()
    for b in batches:
        bundle.predict_arrays("image", image=b)
    return n / (time.perf_counter() - t0)


def one_round(ctx: dict, variants: dict, photos: np.ndarray, counts: dict, order: tuple[str, ...]) -> dict:
    out = {}
    for name in order:
        v = variants[name]
        torch_rate = pytorch_posts_per_s(v["model"], photos, counts["pytorch"])
        backlog = posts("image", counts["stream"], ctx["base"], "bb-raw")
        raw = asyncio.run(
            raw_triton(ctx["url"], v["prefix"], v["info"], requests_of(backlog, IMAGE_BATCH), ctx["images"], 4)
        )
        fresh = posts("image", counts["stream"], ctx["base"], f"bb-{name}-{uuid.uuid4().hex[:4]}")  # new ids
        r = run_worker(ctx["stack_env"], v["bundle"], v["prefix"], fresh, {}, {})
        out[name] = {
            "pytorch_posts_per_s": torch_rate,
            "raw_triton_posts_per_s": raw["posts_per_s"],
            "worker_posts_per_s": r["posts_per_s"],
            "triton_cpu_ms_per_post": r["cpu_ms_per_post"].get("triton", float("nan")),
        }
        print(
            f"{name:18s} | PyTorch {torch_rate:6.1f} | raw Triton {raw['posts_per_s']:6.1f} | worker "
            f"{r['posts_per_s']:6.1f} image posts/s | Triton CPU {out[name]['triton_cpu_ms_per_post']:.0f} ms/post",
            flush=True,
        )
    for k in ("pytorch_posts_per_s", "raw_triton_posts_per_s", "worker_posts_per_s"):
        out[f"{k}_lite0_over_densenet"] = out["efficientnet-lite0"][k] / out["densenet121"][k]
    return out


def main(argv: list[str] | None = None) -> int:
    args = side_by_side_args(__doc__, argv)
    counts = {"pytorch": 32 if args.quick else 96, "stream": 40 if args.quick else 160}
    run = uuid.uuid4().hex[:6]
    variants, cfg = {}, None
    for i, name in enumerate(NAMES):
        bundle = random_bundle(224, n_words=len(WORDS) + 2, backbone=name)
        prefix = f"bb{i}{run}_"
        cfg = serve(bundle, prefix, list(COMBOS))
        variants[name] = {
            "bundle": bundle,
            "prefix": prefix,
            "info": BundleInfo.load(bundle),
            "model": load_bundle(bundle),
        }
    ctx, srv = context(variants[NAMES[0]]["bundle"], cfg, None)
    photos = np.stack([decode_image(p.read_bytes(), 224) for p in sorted(ctx["images"].glob("*.jpg"))])
    try:
        rounds = [
            one_round(ctx, variants, photos, counts, NAMES if i % 2 == 0 else NAMES[::-1]) for i in range(args.repeat)
        ]
    finally:
        srv.shutdown()
        for v in variants.values():
            unserve(v["prefix"])
    r = repeated(rounds)
    for k in ("pytorch_posts_per_s", "raw_triton_posts_per_s", "worker_posts_per_s"):
        print(
            f"MEDIAN (MIN-MAX) OF {args.repeat}: {k}: DenseNet-121 {stat(r['densenet121'][k])}, EfficientNet-Lite0 "
            f"{stat(r['efficientnet-lite0'][k])}, Lite0 / DenseNet {stat(r[f'{k}_lite0_over_densenet'], 2)}",
            flush=True,
        )
    write_result(
        "backbones",
        {"repeat": args.repeat, "posts": counts, "torch_threads": torch.get_num_threads(), "results": r},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
