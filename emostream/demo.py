"""`emostream demo`: the main job on the local stack, from nothing to labelled posts.

Stack up -> a model bundle (`--bundle`; else the GoEmotions reference bundle of `make model` when there is one; else
the synthetic demo bundle, trained if absent) -> export to triton_repo/ (the bundle in service from then on:
artifacts/bundles/serving) and load in Triton -> a worker -> real GoEmotions test comments (when the data is here or
can be downloaded) and posts from the test split of the bundle's own data (images from a local HTTP server) -> labels
printed as they arrive, beside what the human raters said, checked against the bundle run in PyTorch -> the Redis
aggregates. It says which bundle answered and what it was trained on. Everything it starts besides the stack is
stopped at the end.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path

from contracts import triton as tc
from contracts.combos import COMBOS
from contracts.redis_keys import RedisKeys
from devstack import StackConfig, StackError, up
from emostream.launch import QuietHandler, start_worker, stop_worker, wait_assigned
from stream.schemas import DeadLetterRecord, EmotionRecord
from stream.settings import Settings

ART = Path("artifacts")
REFERENCE = ART / "bundles" / "goemotions" / "latest"  # `make model`'s bundle


def _step(msg: str) -> None:
    print(f"\n== {msg}", flush=True)


def _run(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "emostream.cli", *args], check=True)


def _served_version(http_url: str, model: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{http_url}/v2/models/{model}/config", timeout=5) as r:
            return json.loads(r.read()).get("parameters", {}).get(tc.PARAMS.BUNDLE_VERSION, {}).get("string_value")
    except Exception:  # noqa: BLE001 - not loaded
        return None


def sample_posts(manifest: Path, image_base: str, n: int, seed: int = 0, tag: str = "demo") -> list[dict]:
    """Test-split examples turned into posts. Trimodal examples (the synthetic data) are cut to each of the seven
    modality combinations in turn; others are sent as they are. `true_*`: what the data says (not used by the model)."""
    rng = random.Random(seed)
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("split") == "test" and any(r.get(m) for m in ("image", "text", "tags"))]
    rng.shuffle(rows)
    run = uuid.uuid4().hex[:6]
    posts = []
    for i, r in enumerate(rows[:n]):
        trimodal = all(r.get(m) for m in ("image", "text", "tags"))
        combo = COMBOS[i % len(COMBOS)] if trimodal else None
        post = {
            "id": f"{tag}-{run}-{i:03d}",
            "true_emotion": "neutral" if r.get("neutral") else r.get("emotion"),
            "true_sentiment": r.get("sentiment"),
            "true_categories": r.get("categories"),
        }
        if r.get("image") and (combo is None or "image" in combo):
            post["image_url"] = f"{image_base}/{r['image']}"
        if r.get("text") and (combo is None or "text" in combo):
            post["text"] = r["text"]
        if r.get("tags") and (combo is None or "tags" in combo):
            post["tags"] = r["tags"]
        posts.append({k: v for k, v in post.items() if v is not None})
    return posts


def odd_posts(image_base: str) -> list[dict]:
    """A post whose image is missing (labelled from its text, the image `degraded`) and a malformed one (a dead
    letter)."""
    run = uuid.uuid4().hex[:6]
    return [
        {
            "id": f"demo-{run}-broken-image",
            "image_url": f"{image_base}/images/missing.jpg",
            "text": "a calm day at home",
        },
        {"id": f"demo-{run}-malformed", "text": 42},
    ]


def real_comments(log=print) -> Path | None:
    """The GoEmotions manifest (real Reddit comments, the same source as `make model`), built when missing: from
    ../shared/data/goemotions, or the official files downloaded and verified. None, saying why, when neither works."""
    manifest = ART / "data" / "goemotions" / "manifest.jsonl"
    if manifest.exists():
        return manifest
    res = subprocess.run(
        [sys.executable, "-m", "emostream.cli", "data", "goemotions", "--out", str(manifest.parent)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        log(f"no real comments this time: {(res.stderr.strip().splitlines() or ['?'])[-1]}")
        return None
    return manifest


def describe(bundle) -> str:
    """Which bundle answers and what it was trained on, in a sentence or two."""
    meta = bundle.meta
    on = meta.trained_on or {}
    ex = on.get("examples") or {}
    source = on.get("source") or (on.get("manifest") and f"the manifest {on['manifest']}") or "data not recorded"
    line = f"bundle {bundle.version}, trained on {source}"
    if ex:
        line += (
            f" ({ex.get('train', 0):,} training / {ex.get('val', 0):,} validation / {ex.get('test', 0):,} test posts)"
        )
    t = meta.test_metrics.get("text") or {}
    if t.get("emotion_f1") is not None:
        line += (
            f"; its text head on that test split: emotion accuracy {100 * t['emotion_acc']:.1f} %, macro-F1 "
            f"{100 * t['emotion_f1']:.1f} %, sentiment accuracy {100 * t['sentiment_acc']:.1f} %"
        )
    return line


def parity(bundle_path: Path, posts: dict[str, dict], records: dict[str, EmotionRecord], folder: Path) -> float:
    """Largest |Triton - PyTorch| over the emotion scores of the labelled posts (the bundle run in PyTorch on the same
    inputs: the same tokenizer, the same image decoding)."""
    from core.imaging import decode_image
    from model.bundle import load_bundle

    bundle, worst = load_bundle(bundle_path), 0.0
    for pid, rec in records.items():
        post = posts[pid]
        image = None
        if "image" in rec.modalities:
            image = decode_image((folder / post["image_url"].split("/", 3)[3]).read_bytes(), bundle.image_size)
        want = bundle.predict({"text": post.get("text"), "tags": post.get("tags"), "image": image})
        worst = max(worst, *(abs(rec.emotion_scores[k] - v) for k, v in want["emotion_scores"].items()))
    return worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="emostream demo", description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=21, help="posts from the bundle's own test split")
    ap.add_argument("--real", type=int, default=12, help="real GoEmotions test comments (0: none)")
    ap.add_argument("--retrain", action="store_true", help="train a new synthetic demo bundle even if one exists")
    ap.add_argument("--bundle", type=Path, help="serve this bundle (default: the reference bundle, else the demo one)")
    ap.add_argument("--manifest", type=Path, help="with --bundle: the manifest whose test split the posts come from")
    args = ap.parse_args(argv)
    if args.bundle and not args.manifest:
        ap.error(
            "--bundle needs --manifest (the posts are its test split), e.g. artifacts/data/goemotions/manifest.jsonl"
        )
    cfg = StackConfig()
    _step("local stack: Kafka, Redis, Triton")
    try:
        for st in up(cfg, log=print):
            print(st.line())
    except StackError as e:
        print(f"error: {e}")
        return 1
    env = {**os.environ, **cfg.client_env()}
    os.environ.update(cfg.client_env())
    data, demo_bundles = ART / "demo-data", ART / "bundles" / "demo"
    real = real_comments() if args.real else None
    if args.bundle:
        chosen, manifest = args.bundle, args.manifest
    elif (REFERENCE / "bundle.json").exists() and real is not None:
        chosen, manifest = REFERENCE, real  # `make model`'s bundle: real comments only (its image heads are untrained)
    else:
        chosen, manifest = demo_bundles / "latest", data / "manifest.jsonl"
        if not manifest.exists():
            _step("synthetic demo data")
            _run("demo-data", "--out", str(data))
        if args.retrain or not (chosen / "bundle.json").exists():
            _step("training the model (frozen EfficientNet-Lite0 ImageNet features cached; a few minutes on 2 cores)")
            _run(
                "train", "--manifest", str(manifest), "--out", str(demo_bundles), "--lr", "0.001", "--max-epochs", "20"
            )
    from core.bundle_info import BundleInfo, point_serving

    bundle = BundleInfo.load(chosen)
    repo_root = cfg.triton_model_repo.parent
    exported = cfg.triton_model_repo / tc.ensemble_name(COMBOS[-1]) / "config.pbtxt"
    if not exported.exists() or bundle.version not in exported.read_text():
        _step(f"export bundle {bundle.version} to {repo_root}")
        _run("export", "--bundle", str(bundle.path), "--repo", str(repo_root))  # also puts it in service
    else:
        point_serving(bundle.path)
    import tritonclient.http as httpclient

    triton = httpclient.InferenceServerClient(cfg.triton_http_url, network_timeout=600)
    stale = [c for c in COMBOS if _served_version(cfg.triton_http_url, tc.ensemble_name(c)) != bundle.version]
    if stale:
        _step(f"loading {len(stale)} ensembles of bundle {bundle.version} in Triton (explicit model control)")
    for combo in stale:  # (re)loads the ensemble and the encoders and head it wires
        triton.load_model(tc.ensemble_name(combo))
    triton.close()
    _step("starting a worker (with the defaults: the bundle in service)")
    handler = functools.partial(QuietHandler, directory=str(manifest.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    image_base = f"http://127.0.0.1:{server.server_address[1]}"
    log_path = ART / "demo-worker.log"
    worker = start_worker({**env, "EMOSTREAM_IMAGE_ALLOW_LOOPBACK": "true"}, log_path, args=("--load-models",))
    try:
        try:
            wait_assigned(worker, Settings().web_port, log=log_path)
        except RuntimeError as e:
            raise SystemExit(str(e)) from e
        print("worker healthy: Kafka assigned, Triton models ready, Redis reachable")
        print(f"answering: {describe(bundle)}")
        reddit = "real Reddit comments (GoEmotions test split, human-rated)"
        if manifest == real:  # the reference bundle: its own test split is the real comments
            groups = [(reddit, sample_posts(real, image_base, args.real + args.posts, tag="real"))]
        else:
            groups = [(reddit, sample_posts(real, "", args.real, tag="real"))] if real is not None else []
            groups.append(("posts from the test split of its own data", sample_posts(manifest, image_base, args.posts)))
        groups.append(("a broken image and a malformed post", odd_posts(image_base)))
        if ((bundle.meta.trained_on or {}).get("source") or "").startswith("synthetic") and real is not None:
            print(
                "note: this bundle learnt from generated sentences; its labels on real comments mean little. "
                "`make model` trains the real-text reference bundle (11-20 min on 2 cores), which the next "
                "`make demo` serves."
            )
        records = _stream(cfg, groups)
        posts = {p["id"]: p for _, g in groups for p in g}
        labelled = {pid: r for pid, r in records.items() if r is not None}
        print(
            f"Triton vs the bundle in PyTorch, same posts: max |difference| of the emotion scores "
            f"{parity(bundle.path, posts, labelled, manifest.parent):.2e} over {len(labelled)} posts"
        )
        _show_redis(cfg.redis_url, Settings().redis_prefix)
        return 0 if len(records) == len(posts) else 1
    finally:
        stop_worker(worker)
        server.shutdown()
        print("\nworker stopped; the stack keeps running (`emostream stack down` stops it)")


def _stream(
    cfg: StackConfig, groups: list[tuple[str, list[dict]]], timeout_s: float = 300
) -> dict[str, EmotionRecord | None]:
    """Send every group's posts, print each group's outcomes as they arrive (with what the raters said), return
    id -> output record (None for a dead letter)."""
    from kafka import KafkaConsumer, KafkaProducer

    from stream.tail import format_record

    consumer = KafkaConsumer(
        "post-emotions",
        "posts-dlq",
        bootstrap_servers=cfg.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        consumer_timeout_ms=1000,
    )
    consumer.poll(timeout_ms=1000)
    producer = KafkaProducer(bootstrap_servers=cfg.kafka_bootstrap, acks="all")
    posts = {p["id"]: p for _, g in groups for p in g}
    for p in posts.values():
        producer.send("posts", key=p["id"].encode(), value=json.dumps(p).encode())
    producer.flush()
    producer.close()
    out: dict[str, EmotionRecord | None] = {}
    deadline = time.monotonic() + timeout_s
    while len(out) < len(posts) and time.monotonic() < deadline:
        for msg in consumer:
            if msg.topic == "posts-dlq":
                dead = DeadLetterRecord.model_validate_json(msg.value)
                try:
                    pid = json.loads(dead.original or "{}").get("id")
                except (ValueError, AttributeError):  # the original was not a JSON object
                    continue
                if pid in posts:
                    out[pid] = None
                    posts[pid]["dead"] = f"{dead.reason}: {dead.error[:70]}"
            else:
                rec = EmotionRecord.model_validate_json(msg.value)
                if rec.id in posts:
                    out[rec.id] = rec
    consumer.close()
    for title, group in groups:
        _step(f"{title}: {len(group)}")
        right = judged = 0
        for p in group:
            rec = out.get(p["id"])
            if p["id"] not in out:
                print(f"{p['id']:<28} not seen in {timeout_s:.0f} s")
                continue
            if rec is None:
                print(f"{p['id']:<28} DEAD LETTER  {p['dead']}")
                continue
            truth = p.get("true_emotion") or p.get("true_sentiment")
            if p.get("true_emotion"):
                judged += 1
                right += rec.emotion == p["true_emotion"]
            cats = p.get("true_categories")
            said = f"raters: {truth} ({', '.join(cats)})" if cats else f"label: {truth}"  # human-rated vs generated
            gold = f"  {said}" if truth else ""
            text = f"  {p['text'][:70]!r}" if isinstance(p.get("text"), str) else ""
            print(format_record(rec) + gold + text, flush=True)
        if judged:
            print(f"-> {right} of {judged} posts with a human emotion label (or neutral) got that answer")
    return out


def _show_redis(url: str, prefix: str) -> None:
    import redis

    keys = RedisKeys(prefix)
    r = redis.Redis.from_url(url, decode_responses=True)
    deadline = time.monotonic() + 15  # the aggregator applies what the worker published a moment ago
    while int(r.hget(keys.totals, "posts") or 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    totals = r.hgetall(keys.totals)
    _step("Redis aggregates (all time)")
    print("posts:", totals.get("posts"))
    for kind in ("emotion", "sentiment", "head", "degraded"):
        items = sorted(
            ((k.split(":", 1)[1], int(v)) for k, v in totals.items() if k.startswith(kind + ":")), key=lambda kv: -kv[1]
        )
        print(f"{kind:10s}", ", ".join(f"{k} {v}" for k, v in items))
    for emotion in ("amusement", "fear"):
        print(
            f"top tags for {emotion}:",
            ", ".join(f"{t} ({int(s)})" for t, s in r.zrevrange(keys.top(emotion), 0, 4, withscores=True)),
        )
