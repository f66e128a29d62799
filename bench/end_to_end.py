"""End-to-end worker throughput and latency on the local stack, every number side by side in one run, each stream
repeated --repeat times (3) and folded into median (min-max):

- streams: text+tags posts, image posts, and a seeded mixed stream (40 % text+tags, 20 % image+text+tags,
  15 % image+text, 10 % text, 5 % image, 5 % tags, 5 % text with an image URL that fails), images served by a local
  HTTP server as JPEGs of 640-1600 px;
- raw Triton: the project's client alone replaying the requests the worker makes for the same posts (same grouping by
  combination, same request sizes, same requests in flight), inputs pre-encoded; the end-to-end / raw ratio;
- the worker on a backlog (its maximum rate), then paced at 50 % and 90 % of it (p50 / p99 of `latency_ms`);
- per message (one request per post) for text+tags: the pattern of Triton's Kafka tutorial;
- each stage's share of the worker's time (emostream_stage_seconds_total);
- what explains a ratio: Triton's own statistics per model (requests, mean batch, ms queued and computing per
  request), the worker's request sizes and timeouts, the image server's time per GET.

python -m bench.end_to_end [--only mixed] [--cpus split] [--quick] [--repeat 3]
(results: artifacts/bench/end_to_end.json)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import random
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from contracts.combos import COMBOS, Combo
from core.bundle_info import BundleInfo
from core.imaging import decode_image
from emostream.launch import QuietHandler, start_worker, stop_worker, wait_assigned
from model.export import ExportOptions
from stream.kafka_admin import ensure_topics
from stream.pipeline import request_arrays
from stream.settings import Settings
from stream.triton_client import EmotionClient

from .common import (
    add_repeat,
    pct,
    random_bundle,
    repeated,
    serve,
    stat,
    triton_breakdown,
    triton_stats,
    unserve,
    write_result,
)
from .cpus import LAYOUTS, cpu_seconds, layout, stack_groups

ROOT = Path(__file__).resolve().parents[1]
MIXES = {
    "text_tags": {"text_tags": 1.0},
    "image": {"image": 1.0},
    "mixed": {
        "text_tags": 0.40,
        "image_text_tags": 0.20,
        "image_text": 0.15,
        "text": 0.10,
        "image": 0.05,
        "tags": 0.05,
        "broken": 0.05,
    },
}
WORDS = [f"w{i}" for i in range(3000)]  # the random bundle's vocabulary
PARTITIONS = 4  # of each benchmark topic
IMAGE_BATCH = ExportOptions().image_batch  # the export's max batch size of the image ensembles


class TimedHandler(QuietHandler):
    """Counts the image server's requests and the seconds it spent answering them (`served` is shared)."""

    served = {"requests": 0, "seconds": 0.0}
    lock = threading.Lock()

    def do_GET(self):
        t0 = time.perf_counter()
        super().do_GET()
        with self.lock:
            self.served["requests"] += 1
            self.served["seconds"] += time.perf_counter() - t0


def image_server(n: int = 24) -> tuple[str, ThreadingHTTPServer, Path]:
    """JPEGs of 640-1600 px (cut from the photos scikit-image ships), served on loopback."""
    from model.demo_data import photos

    d, rng, pics = Path(tempfile.mkdtemp()), random.Random(0), photos()
    for i in range(n):
        w = rng.randint(640, 1600)
        h = int(w * rng.uniform(0.6, 1.0))
        pics[i % len(pics)].resize((w, h)).save(d / f"{i}.jpg", quality=85)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(TimedHandler, directory=str(d)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}", srv, d


def posts(mix: str, n: int, base: str, tag: str, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    kinds, weights = zip(*MIXES[mix].items(), strict=True)
    out = []
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        p = {"id": f"{tag}-{i}"}
        if kind == "broken":
            p["image_url"], p["text"] = f"{base}/missing-{i}.jpg", " ".join(rng.choices(WORDS, k=12))
        else:
            combo = Combo.parse(kind)
            if "text" in combo:
                p["text"] = " ".join(rng.choices(WORDS, k=rng.randint(5, 30)))
            if "tags" in combo:
                p["tags"] = rng.sample(WORDS, 3)
            if "image" in combo:
                p["image_url"] = f"{base}/{rng.randrange(24)}.jpg"
        out.append(p)
    return out


def requests_of(batch: list[dict], max_batch: int) -> list[tuple[Combo, list[dict]]]:
    """The Triton requests the worker makes for these posts: micro-batches, grouped by the combination each post can
    use (a failed image leaves the rest), chunked by the ensemble's max batch size."""
    out = []
    for start in range(0, len(batch), max_batch):
        groups: dict[Combo, list[dict]] = {}
        for p in batch[start : start + max_batch]:
            have = [
                m
                for m, ok in (
                    ("image", "image_url" in p and "missing" not in p["image_url"]),
                    ("text", "text" in p),
                    ("tags", "tags" in p),
                )
                if ok
            ]
            groups.setdefault(Combo.of(have), []).append(p)
        for combo, ps in groups.items():
            size = min(ExportOptions().max_batch(combo), max_batch)
            out += [(combo, ps[i : i + size]) for i in range(0, len(ps), size)]
    return out


async def raw_triton(
    url: str,
    prefix: str,
    bundle: BundleInfo,
    reqs: list[tuple[Combo, list[dict]]],
    images: Path,
    inflight: int,
    rounds: int = 1,
) -> dict:
    """Posts/s of the client alone replaying `reqs` (inputs pre-encoded as the worker encodes them: the bundle's
    tokenizer, text cut to `text_tensor`'s length; `inflight` requests at a time), and Triton's own breakdown of
    the replay (`triton_breakdown`)."""
    decoded = {p.name: decode_image(p.read_bytes(), 224) for p in images.glob("*.jpg")}
    encoded = []
    for combo, ps in reqs:
        ids = [bundle.tokenizer.encode_post(p.get("text"), p.get("tags")) for p in ps]
        images = [decoded[p["image_url"].rsplit("/", 1)[1]] for p in ps] if combo.has_image else None
        arrays = request_arrays(combo, bundle, images, [t for t, _ in ids], [t for _, t in ids])
        encoded.append((combo, arrays, len(ps)))
    client = EmotionClient(url, prefix=prefix, timeout_s=300)
    await client.infer(*encoded[0][:2])  # warm-up
    # the worker's caps: `inflight` requests, of which at most EMOSTREAM_MAX_IMAGE_INFLIGHT's default with images
    sem, images_sem, done = asyncio.Semaphore(inflight), asyncio.Semaphore(Settings().max_image_inflight), 0

    async def one(combo, arrays, n):
        nonlocal done
        async with images_sem if combo.has_image else contextlib.nullcontext(), sem:
            await client.infer(combo, arrays)
            done += n

    before, t0 = triton_stats(url, prefix), time.perf_counter()
    for _ in range(rounds):
        await asyncio.gather(*(one(*e) for e in encoded))
    rate = done / (time.perf_counter() - t0)
    await client.stop()
    return {"posts_per_s": rate, "triton": triton_breakdown(before, triton_stats(url, prefix))}


def _scrape(port: int) -> list:
    """Every sample of the worker's /metrics, read once."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return [s for fam in text_string_to_metric_families(text) for s in fam.samples]


def _metric(samples: list, name: str, label: str = "stage") -> dict[str, float]:
    """One metric of a scrape, summed by one label (value -> sum; "" when it has none)."""
    out: dict[str, float] = {}
    for s in samples:
        if s.name == name:
            out[s.labels.get(label, "")] = out.get(s.labels.get(label, ""), 0.0) + s.value
    return out


def diagnosis(run: dict) -> str:
    """One line per Triton model of a run: requests, mean batch, queue and compute ms (the breakdown asked for when
    a row's ratio falls)."""
    return "\n".join(
        f"{'':16s} triton {name:22s} {t['requests']:6d} req | batch {t['mean_batch']:5.1f} | queue "
        f"{t['queue_ms_per_request']:7.1f} ms/req | compute {t['compute_ms_per_request']:7.1f} ms/req"
        for name, t in sorted(run["triton"].items())
        if not name.startswith("emotion_")  # ensembles: their time is their steps'
    )


def _assigned(worker: subprocess.Popen, port: int) -> float:
    """Wall-clock time at which the worker's /health first shows its partitions assigned."""
    wait_assigned(worker, port)
    return time.time()


def run_worker(
    stack_env: dict,
    bundle: Path,
    prefix: str,
    backlog: list[dict],
    paced: dict[str, list[dict]],
    settings: dict[str, str],
) -> dict:
    """A worker on its own topics: throughput on the backlog (from the output records' broker times), then latency
    of each paced list (produced at its rate), and the stage shares."""
    uid = uuid.uuid4().hex[:6]
    topics = {"posts": f"bposts-{uid}", "out": f"bout-{uid}", "dlq": f"bdlq-{uid}"}
    bootstrap, triton_url = stack_env["EMOSTREAM_KAFKA_BOOTSTRAP"], stack_env["EMOSTREAM_TRITON_GRPC_URL"]
    ensure_topics(bootstrap, list(topics.values()), PARTITIONS)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    for p in backlog:
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
        "EMOSTREAM_REDIS_PREFIX": f"{{b{uid}}}:",
        "EMOSTREAM_WEB_PORT": str(port),
        "EMOSTREAM_IMAGE_ALLOW_LOOPBACK": "true",
        "EMOSTREAM_DATADIR": f"/tmp/emostream-bench-{uid}",
        "EMOSTREAM_LOG_LEVEL": "warn",
        **settings,
    }
    worker = start_worker(env, cwd=ROOT)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, consumer_timeout_ms=1000)
    parts = [TopicPartition(topics[t], p) for t in ("out", "dlq") for p in range(PARTITIONS)]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    try:
        started = _assigned(worker, port)  # the clock starts when the worker owns its partitions
        groups = {**stack_groups(), "worker": worker.pid, "benchmark": os.getpgid(0)}
        cpu0, triton0, served0 = cpu_seconds(groups), triton_stats(triton_url, prefix), dict(TimedHandler.served)
        deadline = time.monotonic() + 900
        # done = the backlog's records are in the output topics; only their end offsets are read meanwhile, so the
        # benchmark takes no CPU from the system it measures (the records are read afterwards, for their times)
        while sum(consumer.end_offsets(parts).values()) < len(backlog) and time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited with {worker.returncode}")
            time.sleep(0.1)
        cpu1, triton1, served1 = cpu_seconds(groups), triton_stats(triton_url, prefix), dict(TimedHandler.served)
        cpu = {k: v - cpu0[k] for k, v in cpu1.items()}
        images = served1["requests"] - served0["requests"]
        times = []
        while len(times) < len(backlog) and time.monotonic() < deadline:
            times += [m.timestamp / 1000 for m in consumer]
        rate = len(times) / (max(times) - started) if times else float("nan")
        samples = _scrape(port)
        stages = _metric(samples, "emostream_stage_seconds_total")
        sizes = (
            _metric(samples, "emostream_triton_batch_size_sum")[""],
            _metric(samples, "emostream_triton_batch_size_count")[""],
        )
        out = {
            "posts_per_s": rate,
            "n": len(times),
            "triton": triton_breakdown(triton0, triton1),
            "triton_timeouts": sum(_metric(samples, "emostream_triton_timeouts_total", "head").values()),
            "worker_mean_request_posts": sizes[0] / max(1, sizes[1]),
            "stage_seconds_per_post": {k: v / max(1, len(times)) for k, v in stages.items()},
            "image_server": {
                "requests": images,
                "ms_per_request": 1000 * (served1["seconds"] - served0["seconds"]) / max(1, images),
            },
            # CPU ms per post of each process group while the worker drained the backlog
            "cpu_ms_per_post": {k: 1000 * v / max(1, len(times)) for k, v in cpu.items()},
            "worker_cpu_ms_per_post": 1000 * cpu["worker"] / max(1, len(times)),
            "stage_share": {k: v / sum(stages.values()) for k, v in stages.items()},
        }
        for label, ps in paced.items():
            share = float(label.rstrip("%")) / 100
            t0 = time.monotonic()
            for i, p in enumerate(ps):
                producer.send(topics["posts"], key=p["id"].encode(), value=json.dumps(p).encode())
                producer.flush()
                time.sleep(max(0.0, t0 + (i + 1) / (share * rate) - time.monotonic()))
            ids, lat, deadline = {p["id"] for p in ps}, [], time.monotonic() + 300
            while len(lat) < len(ps) and time.monotonic() < deadline:
                for m in consumer:
                    rec = json.loads(m.value)
                    if rec.get("id") in ids and "latency_ms" in rec:
                        lat.append(rec["latency_ms"])
            out[label] = {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "n": len(lat)}
        return out
    finally:
        consumer.close()
        producer.close()
        stop_worker(worker)


def run_stream(mix: str, n: int, concurrency: list[int], ctx: dict, repeat: int) -> dict:
    """`repeat` rounds of one stream in the current CPU layout, folded into medians and spreads (`repeated`)."""
    row = repeated([one_round(mix, n, concurrency, ctx) for _ in range(repeat)])
    for name, r in row["runs"].items():
        print(
            f"{ctx['layout']:6s} {mix:9s} {name:26s} | MEDIAN (MIN-MAX) OF {repeat}: {stat(r['posts_per_s'])} posts/s"
            f" | raw {stat(r['raw_triton_posts_per_s'])} | e2e/raw {stat(r['e2e_over_raw'], 2)} | p50/p99 ms at 50%"
            f" {r['50%']['p50_ms']['median']:.0f} / {r['50%']['p99_ms']['median']:.0f}, at 90% "
            f"{r['90%']['p50_ms']['median']:.0f} / {r['90%']['p99_ms']['median']:.0f}",
            flush=True,
        )
    return row


def one_round(mix: str, n: int, concurrency: list[int], ctx: dict) -> dict:
    """One stream in the current CPU layout: raw Triton, the worker at each agent concurrency (and per message for
    text+tags), each against raw Triton measured just before it."""
    base, images, url, prefix, info = ctx["base"], ctx["images"], ctx["url"], ctx["prefix"], ctx["info"]
    backlog = posts(mix, n, base, f"bulk-{mix}")
    raw = asyncio.run(raw_triton(url, prefix, info, requests_of(backlog, 256), images, 4))
    row = {"raw_triton_posts_per_s": raw["posts_per_s"], "raw_triton": raw["triton"], "runs": {}}
    print(
        f"{ctx['layout']:6s} {mix:9s} {'raw Triton replay':26s} | {'':8s} | {raw['posts_per_s']:10.1f}\n"
        + diagnosis(raw)
    )
    modes = [(f"micro-batch, concurrency {c}", {"EMOSTREAM_AGENT_CONCURRENCY": str(c)}) for c in concurrency]
    if mix == "text_tags":
        modes.append(("per message", {"EMOSTREAM_MAX_BATCH": "1", "EMOSTREAM_MAX_INFLIGHT": "1"}))
    for name, settings in modes:
        per_message = name == "per message"
        b = backlog[: max(200, n // 10)] if per_message else backlog
        paced_n = max(20, min(len(b) // 4, 150))
        paced = {f"{s}%": posts(mix, paced_n, base, f"paced{s}-{mix}-{len(row['runs'])}", seed=s) for s in (50, 90)}
        r = run_worker(ctx["stack_env"], ctx["bundle"], prefix, b, paced, settings)
        if per_message:
            alone = asyncio.run(raw_triton(url, prefix, info, requests_of(b, 1), images, 1))
            reference, r["raw_triton"] = alone["posts_per_s"], alone["triton"]
        else:
            reference = raw["posts_per_s"]
        r["raw_triton_posts_per_s"], r["e2e_over_raw"] = reference, r["posts_per_s"] / reference
        row["runs"][name] = r
        shares = " ".join(f"{k} {v:.0%}" for k, v in sorted(r["stage_share"].items(), key=lambda kv: -kv[1]))
        print(
            f"{ctx['layout']:6s} {mix:9s} {name:26s} | {r['posts_per_s']:8.1f} | {reference:10.1f} | "
            f"{r['e2e_over_raw']:7.2f} | {r['50%']['p50_ms']:8.0f} / {r['50%']['p99_ms']:6.0f} | "
            f"{r['90%']['p50_ms']:5.0f} / {r['90%']['p99_ms']:5.0f} | {shares}\n{'':16s} CPU ms/post: "
            + " ".join(f"{k} {v:.2f}" for k, v in r["cpu_ms_per_post"].items())
            + f"\n{'':16s} worker requests of {r['worker_mean_request_posts']:.1f} posts, "
            f"{r['triton_timeouts']:.0f} timed out; image server "
            f"{r['image_server']['requests']} GETs, {r['image_server']['ms_per_request']:.1f} ms each\n" + diagnosis(r),
            flush=True,
        )
    if "per message" in row["runs"]:
        best = max(v["posts_per_s"] for k, v in row["runs"].items() if k != "per message")
        row["micro_batch_over_per_message"] = best / row["runs"]["per message"]["posts_per_s"]
        print(f"{'':16s} micro-batching / per message: {row['micro_batch_over_per_message']:.1f}x")
    return row


def context(bundle: Path, cfg, prefix) -> tuple[dict, ThreadingHTTPServer]:
    """What a round needs (image server, Triton address, the served prefix(es), the bundle) and the image server,
    started here, for the caller to shut down."""
    base, srv, images = image_server()
    ctx = {
        "base": base,
        "images": images,
        "url": cfg.triton_grpc_url,
        "prefix": prefix,
        "info": BundleInfo.load(bundle),
        "bundle": bundle,
        "stack_env": cfg.client_env(),
    }
    return ctx, srv


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=list(MIXES), nargs="*", help="these streams only")
    ap.add_argument("--quick", action="store_true", help="fewer posts (a smoke run, not a measurement)")
    ap.add_argument("--concurrency", type=int, nargs="*", default=[2], help="worker agent concurrency values to run")
    ap.add_argument("--cpus", choices=LAYOUTS, nargs="*", default=list(LAYOUTS), help="CPU layouts (bench/cpus.py)")
    add_repeat(ap)
    ap.add_argument("--json", type=Path, help="where the results go (default: artifacts/bench/end_to_end.json)")
    args = ap.parse_args(argv)
    scale = 0.2 if args.quick else 1.0
    # a backlog of 15-90 s of work per stream, so the start (assignment, the first micro-batch) weighs little
    counts = {"text_tags": int(12000 * scale), "image": int(240 * scale), "mixed": int(1000 * scale)}
    bundle = random_bundle(224, n_words=len(WORDS) + 2)
    prefix = f"e2e{uuid.uuid4().hex[:6]}_"
    cfg = serve(bundle, prefix, list(COMBOS))
    ctx, srv = context(bundle, cfg, prefix)
    results: dict = {"cpu_count": os.cpu_count(), "layouts": {}}
    print(
        f"{'cpus':6s} {'stream':9s} {'worker':26s} | {'posts/s':>8s} | {'raw Triton':>10s} | {'e2e/raw':>7s} | "
        f"{'p50/p99 ms at 50%':>17s} | {'at 90%':>13s} | stage shares"
    )
    try:
        for name in args.cpus:
            with layout(name) as cores:
                ctx["layout"] = name
                streams = {
                    mix: run_stream(mix, counts[mix], args.concurrency, ctx, args.repeat) for mix in args.only or MIXES
                }
                results["layouts"][name] = {"cores": cores, "streams": streams}
    finally:
        srv.shutdown()
        unserve(prefix)
    write_result("end_to_end", {"repeat": args.repeat, **results}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
