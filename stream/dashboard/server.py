"""`emostream dashboard`: the live page, its JSON API (docs/DASHBOARD.md) and a server-sent-events feed, all read from Redis."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from ..settings import Settings
from .queries import Queries

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("emostream.dashboard")


def _int(request: web.Request, name: str, default: int, hi: int) -> int:
    try:
        return max(1, min(hi, int(request.query.get(name, default))))
    except ValueError as e:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"{name} must be an integer"}), content_type="application/json") from e


def create_app(s: Settings, interval_s: float = 2.0) -> web.Application:
    app = web.Application()
    client = aioredis.Redis.from_url(s.redis_url, socket_timeout=3, socket_connect_timeout=2, retry_on_timeout=False)
    q = Queries(client, s.redis_prefix, s.bucket_s)

    async def guarded(coro):
        try:
            return web.json_response(await coro)
        except (RedisError, OSError) as e:
            return web.json_response({"error": f"redis unavailable: {e}", "stale": True}, status=503)

    async def index(request):
        return web.FileResponse(STATIC / "index.html")

    async def summary(request):
        return await guarded(q.summary())

    async def timeseries(request):
        return await guarded(q.timeseries(_int(request, "minutes", 60, 24 * 60)))

    async def top_tags(request):
        return await guarded(q.top_tags(_int(request, "n", 5, 100)))

    async def recent(request):
        return await guarded(q.recent(_int(request, "n", 30, 500), request.query.get("after")))

    async def events(request):
        """Server-sent events: `update` with everything the page shows every interval, `stale` while Redis is down."""
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        after = None
        try:
            while True:
                try:
                    recent_rows = await q.recent(30, after)
                    if recent_rows:
                        after = recent_rows[0]["stream_id"]
                    payload = {"summary": await q.summary(), "timeseries": await q.timeseries(60),
                               "top_tags": await q.top_tags(5), "recent": recent_rows}
                    await resp.write(f"event: update\ndata: {json.dumps(payload)}\n\n".encode())
                except (RedisError, OSError) as e:
                    await resp.write(f"event: stale\ndata: {json.dumps({'error': str(e)})}\n\n".encode())
                await asyncio.sleep(interval_s)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    async def health(request):
        try:
            ok = bool(await client.ping())
        except (RedisError, OSError):
            ok = False
        return web.json_response({"ok": ok, "redis": ok}, status=200 if ok else 503)

    async def close(app):
        await client.aclose()

    app.router.add_get("/", index)
    app.router.add_get("/api/summary", summary)
    app.router.add_get("/api/timeseries", timeseries)
    app.router.add_get("/api/top-tags", top_tags)
    app.router.add_get("/api/recent", recent)
    app.router.add_get("/api/events", events)
    app.router.add_get("/health", health)
    app.router.add_static("/static/", STATIC)
    app.on_cleanup.append(close)
    return app


def main(argv: list[str] | None = None) -> int:
    s = Settings()
    ap = argparse.ArgumentParser(prog="emostream dashboard", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default=s.dashboard_host)
    ap.add_argument("--port", type=int, default=s.dashboard_port)
    ap.add_argument("--interval-s", type=float, default=2.0, help="seconds between live updates")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    web.run_app(create_app(s, args.interval_s), host=args.host, port=args.port, print=lambda *_: print(
        f"dashboard on http://{args.host}:{args.port}/ (Redis {s.redis_url}, prefix {s.redis_prefix!r})", flush=True))
    return 0
