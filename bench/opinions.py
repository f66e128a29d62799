"""What every modality's opinion costs: the same random-weight bundle exported twice into the running local Triton,
once with the single-modality heads' opinions in the heads of 2-3 modalities (`emostream export`, the default) and
once without (`--no-opinions`), measured side by side in each round (the order alternates), --repeat rounds (3):

- raw Triton: the project's client replaying the worker's requests for the same posts (bench/end_to_end.py);
- the worker draining a backlog of the same posts (posts/s, and its CPU ms per post).

Streams: text+tags posts (the cheapest head, where an extra head weighs most) and the end-to-end bench's mixed stream.
Prints each round, then median (min-max) of posts/s and of the with/without ratio.

python -m bench.opinions [--quick] [--repeat 3]   (results: artifacts/bench/opinions.json)
"""

from __future__ import annotations

import asyncio
import uuid

from contracts.combos import COMBOS

from .common import random_bundle, repeated, serve, side_by_side_args, stat, unserve, write_result
from .end_to_end import WORDS, context, posts, raw_triton, requests_of, run_worker

VARIANTS = ("without", "with")


def one_round(ctx: dict, mix: str, n: int, order: tuple[str, ...]) -> dict:
    """Both exports on the same posts, in `order`: raw Triton, then the worker, for each."""
    backlog = posts(mix, n, ctx["base"], f"op-{mix}")
    out = {}
    for variant in order:
        prefix = ctx["prefix"][variant]
        raw = asyncio.run(raw_triton(ctx["url"], prefix, ctx["info"], requests_of(backlog, 256), ctx["images"], 4))
        fresh = posts(mix, n, ctx["base"], f"op-{mix}-{variant}-{uuid.uuid4().hex[:4]}")  # new ids: no dedup
        r = run_worker(ctx["stack_env"], ctx["bundle"], prefix, fresh, {}, {})
        out[variant] = {
            "raw_triton_posts_per_s": raw["posts_per_s"],
            "worker_posts_per_s": r["posts_per_s"],
            "worker_cpu_ms_per_post": r["worker_cpu_ms_per_post"],
            "triton_cpu_ms_per_post": r["cpu_ms_per_post"].get("triton", float("nan")),
        }
        print(
            f"{mix:9s} {variant:8s} opinions | raw Triton {raw['posts_per_s']:7.1f} posts/s | worker "
            f"{r['posts_per_s']:7.1f} posts/s | CPU ms/post worker {r['worker_cpu_ms_per_post']:.2f} triton "
            f"{out[variant]['triton_cpu_ms_per_post']:.2f}",
            flush=True,
        )
    for k in ("raw_triton_posts_per_s", "worker_posts_per_s"):
        out[f"{k}_with_over_without"] = out["with"][k] / out["without"][k]
    return out


def main(argv: list[str] | None = None) -> int:
    args = side_by_side_args(__doc__, argv)
    scale = 0.2 if args.quick else 1.0
    counts = {"text_tags": int(3000 * scale), "mixed": int(400 * scale)}
    bundle = random_bundle(224, n_words=len(WORDS) + 2)
    run = uuid.uuid4().hex[:6]
    prefix = {"without": f"opoff{run}_", "with": f"opon{run}_"}
    cfg = serve(bundle, prefix["without"], list(COMBOS), opinions=False)
    serve(bundle, prefix["with"], list(COMBOS), opinions=True)
    ctx, srv = context(bundle, cfg, prefix)
    results = {}
    try:
        for mix, n in counts.items():
            rounds = [one_round(ctx, mix, n, VARIANTS if i % 2 == 0 else VARIANTS[::-1]) for i in range(args.repeat)]
            results[mix] = repeated(rounds)
            r = results[mix]
            print(
                f"{mix:9s} MEDIAN (MIN-MAX) OF {args.repeat}: raw Triton with/without opinions "
                f"{stat(r['raw_triton_posts_per_s_with_over_without'], 3)}, worker with/without "
                f"{stat(r['worker_posts_per_s_with_over_without'], 3)} (worker posts/s without "
                f"{stat(r['without']['worker_posts_per_s'])}, with {stat(r['with']['worker_posts_per_s'])})",
                flush=True,
            )
    finally:
        srv.shutdown()
        for p in prefix.values():
            unserve(p)
    write_result("opinions", {"repeat": args.repeat, "posts": counts, "streams": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
