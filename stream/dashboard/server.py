"""`emostream dashboard`: the live page, its JSON API (docs/DASHBOARD.md) and a server-sent-events feed, all read
from Redis.

One snapshot of the aggregates is computed per interval and shared by every client; the number of live streams is
capped; with EMOSTREAM_DASHBOARD_PASSWORD set every page but /health and /metrics asks for it (HTTP basic auth)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hmac
import json
import logging
import math
import time
from pathlib import Path

from aiohttp import web
from redis.exceptions import RedisError

from ..connections import redact_url, redis_client
from ..settings import Settings
from .queries import SPIKE_MINUTES, Queries

__all__ = ["create_app", "main"]

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("emostream.dashboard")
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


# Without the password: health, and the spike gauges Prometheus scrapes (per-emotion rates and scores only: no post,
# tag or id; the workers' own metrics are as open)
OPEN_PATHS = ("/health", "/metrics")


def _bad(name: str, what: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": f"{name} must be {what}"}), content_type="application/json")


def _int(request: web.Request, name: str, default: int, hi: int) -> int:
    try:
        return max(1, min(hi, int(request.query.get(name, default))))
    except ValueError as e:
        raise _bad(name, "an integer") from e


def _epoch_s(request: web.Request, name: str) -> float | None:
    """An optional time in epoch seconds."""
    value = request.query.get(name)
    try:
        at = None if value is None else float(value)
    except ValueError as e:
        raise _bad(name, "epoch seconds") from e
    if at is not None and not math.isfinite(at):
        raise _bad(name, "epoch seconds")
    return at


class Snapshot:
    """The page's data (summary, timeseries, top tags, latest results), read from Redis at most once per interval
    however many clients ask: concurrent callers wait for the one read in flight."""

    def __init__(self, q: Queries, interval_s: float):
        self.q, self.interval_s = q, interval_s
        self._at, self._data, self._lock = 0.0, None, asyncio.Lock()
        self.metrics = SpikeMetrics()

    async def get(self) -> dict:
        async with self._lock:
            if self._data is None or time.monotonic() - self._at >= self.interval_s:
                now = time.time()
                series = await self.q.timeseries(SPIKE_MINUTES, now)  # one read: the hour shown, spikes, summary
                hour = {**series, "buckets": [b for b in series["buckets"] if b["t"] >= now - 3600]}
                self._data = {
                    "summary": await self.q.summary(hour),
                    "timeseries": hour,
                    "spikes": self.q.spikes(series, now),
                    "top_tags": await self.q.top_tags(5),
                    "recent": await self.q.recent(30),
                }
                self._at = time.monotonic()
                self.metrics.update(self._data["spikes"])
            return self._data


class KeyViews:
    """Drill-down views, each read from Redis at most once per interval however many clients ask for it (the last
    MAX_VIEWS keys asked for are kept)."""

    MAX_VIEWS = 32

    def __init__(self, q: Queries, interval_s: float):
        self.q, self.interval_s, self._views = q, interval_s, {}

    async def get(self, key: str, minutes: int) -> dict:
        at, data = self._views.get((key, minutes), (0.0, None))
        if data is None or time.monotonic() - at >= self.interval_s:
            data = await self.q.drill_down(key, minutes)
            self._views.pop((key, minutes), None)
            self._views[(key, minutes)] = (time.monotonic(), data)
            while len(self._views) > self.MAX_VIEWS:
                self._views.pop(next(iter(self._views)))
        return data


class SpikeMetrics:
    """The snapshot's spike scores as Prometheus gauges (a registry of the dashboard's own), per label (the 8 emotions
    and neutral): the window's rate, the baseline rate, the spike score and whether a spike is open (1/0). The alert
    rules in deploy/prometheus/rules/ read them."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Gauge

        self.registry = CollectorRegistry()
        label = ["emotion"]
        self.rate = Gauge(
            "emostream_emotion_rate_per_minute", "posts per minute over the spike window", label, registry=self.registry
        )
        self.baseline = Gauge(
            "emostream_emotion_baseline_per_minute",
            "posts per minute over the baseline hour",
            label,
            registry=self.registry,
        )
        self.window = Gauge(
            "emostream_emotion_window_posts", "posts in the spike window", label, registry=self.registry
        )
        self.score = Gauge(
            "emostream_emotion_spike_score", "-log10 Poisson tail of the window's count", label, registry=self.registry
        )
        self.open = Gauge(
            "emostream_emotion_spike_open", "1 while a spike is open (stream/spikes.py)", label, registry=self.registry
        )

    def update(self, spikes: dict) -> None:
        for name, s in spikes["labels"].items():
            self.rate.labels(name).set(s["rate_per_min"])
            self.baseline.labels(name).set(s["baseline_per_min"])
            self.window.labels(name).set(s["count"])
            self.score.labels(name).set(s["score"])
            self.open.labels(name).set(int(s["open"]))

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


def _authorized(request: web.Request, password: str) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        _, _, given = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(given.encode(), password.encode())


def create_app(s: Settings, interval_s: float = 2.0) -> web.Application:
    password = s.dashboard_password.get_secret_value()

    @web.middleware
    async def guard(request: web.Request, handler):
        if password and request.path not in OPEN_PATHS and not _authorized(request, password):
            resp = web.Response(
                status=401, text="authentication required", headers={"WWW-Authenticate": 'Basic realm="emostream"'}
            )
        else:
            resp = await handler(request)
        if not resp.prepared:
            resp.headers.update(HEADERS)
        return resp

    app = web.Application(middlewares=[guard])
    client = redis_client(s, socket_timeout=3, socket_connect_timeout=2, retry_on_timeout=False)
    q = Queries(client, s.redis_prefix, s.bucket_s, s.key_bucket_s)
    views = KeyViews(q, interval_s)
    snapshot = Snapshot(q, interval_s)
    streams = {"open": 0}

    async def guarded(coro):
        try:
            return web.json_response(await coro)
        except (RedisError, OSError) as e:
            return web.json_response({"error": f"redis unavailable: {type(e).__name__}", "stale": True}, status=503)

    async def _part(name: str):
        return (await snapshot.get())[name]

    async def index(request):
        return web.FileResponse(STATIC / "index.html")

    async def summary(request):
        return await guarded(_part("summary"))

    async def timeseries(request):
        return await guarded(q.timeseries(_int(request, "minutes", 60, 24 * 60), _epoch_s(request, "end")))

    async def tracked(request):
        return await guarded(q.tracked(_int(request, "n", 20, 200)))

    async def drill_down(request):
        key = request.query.get("key", "")
        if not key or len(key) > 200:
            raise _bad("key", "a drill-down key of 1-200 characters (see /api/keys)")
        return await guarded(views.get(key, _int(request, "minutes", 60, 6 * 60)))

    async def spikes(request):
        return await guarded(_part("spikes"))

    async def metrics(request):
        """Prometheus: the spike gauges, from a snapshot at most `interval_s` old (a scrape refreshes it)."""
        try:
            await snapshot.get()
        except (RedisError, OSError) as e:
            return web.Response(status=503, text=f"redis unavailable: {type(e).__name__}")
        return web.Response(body=snapshot.metrics.exposition(), content_type="text/plain", charset="utf-8")

    async def top_tags(request):
        return await guarded(q.top_tags(_int(request, "n", 5, 100)))

    async def recent(request):
        return await guarded(q.recent(_int(request, "n", 30, 500), request.query.get("after")))

    async def events(request):
        """Server-sent events: `update` with everything the page shows every interval, `stale` while Redis is down."""
        if streams["open"] >= s.dashboard_max_streams:
            return web.json_response({"error": "too many live connections"}, status=503, headers={"Retry-After": "10"})
        streams["open"] += 1
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **HEADERS})
        try:
            await resp.prepare(request)
            after = None
            while True:
                try:
                    data = await snapshot.get()
                    fresh = [r for r in data["recent"] if after is None or _newer(r["stream_id"], after)]
                    if data["recent"]:
                        after = data["recent"][0]["stream_id"]
                    await resp.write(f"event: update\ndata: {json.dumps({**data, 'recent': fresh})}\n\n".encode())
                except (RedisError, OSError) as e:
                    await resp.write(f"event: stale\ndata: {json.dumps({'error': type(e).__name__})}\n\n".encode())
                await asyncio.sleep(interval_s)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            streams["open"] -= 1
        return resp

    async def health(request):
        try:
            ok = bool(await client.ping())
        except (RedisError, OSError):
            ok = False
        return web.json_response({"ok": ok, "redis": ok, "streams": streams["open"]}, status=200 if ok else 503)

    async def close(app):
        await client.aclose()

    app.router.add_get("/", index)
    app.router.add_get("/api/summary", summary)
    app.router.add_get("/api/timeseries", timeseries)
    app.router.add_get("/api/spikes", spikes)
    app.router.add_get("/api/keys", tracked)
    app.router.add_get("/api/key", drill_down)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/top-tags", top_tags)
    app.router.add_get("/api/recent", recent)
    app.router.add_get("/api/events", events)
    app.router.add_get("/health", health)
    app.router.add_static("/static/", STATIC)
    app.on_cleanup.append(close)
    return app


def _newer(stream_id: str, than: str) -> bool:
    a, b = (tuple(int(x) for x in i.split("-")) for i in (stream_id, than))
    return a > b


def main(argv: list[str] | None = None) -> int:
    s = Settings()
    ap = argparse.ArgumentParser(prog="emostream dashboard", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default=s.dashboard_host)
    ap.add_argument("--port", type=int, default=s.dashboard_port)
    ap.add_argument("--interval-s", type=float, default=2.0, help="seconds between live updates")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    where = redact_url(s.redis_url.get_secret_value())
    web.run_app(
        create_app(s, args.interval_s),
        host=args.host,
        port=args.port,
        print=lambda *_: print(
            f"dashboard on http://{args.host}:{args.port}/ (Redis {where}, prefix {s.redis_prefix!r}"
            f"{', password required' if s.dashboard_password.get_secret_value() else ''})",
            flush=True,
        ),
    )
    return 0
