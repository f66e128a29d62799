"""The dashboard against the real stack: JSON API equals Redis, and headless Chromium shows the right counts,
updates the feed without a reload, and shows a stale indicator while its Redis is down, recovering after."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from contracts.labels import EMOTIONS
from contracts.redis_keys import RedisKeys
from devstack.proc import free_port
from stream.kafka_admin import ensure_topics
from tests.helpers.services import OwnRedis, wait_for
from tests.helpers.stream import ROOT, WorkerEnv, get_json

pytestmark = pytest.mark.stack
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = ROOT / "artifacts" / "screenshots" / "dashboard.png"


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    """A Redis of this module's own (so it can be stopped and restarted without touching the shared one)."""
    r = OwnRedis(tmp_path_factory.mktemp("redis"))
    r.start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def live(stack, served, own_redis, image_server, tmp_path_factory):
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    logs = tmp_path_factory.mktemp("dash-logs")
    env.start_worker(logs, EMOSTREAM_REDIS_URL=own_redis.url)
    port = free_port()
    dash = subprocess.Popen(
        [sys.executable, "-m", "emostream.cli", "dashboard", "--port", str(port), "--interval-s", "1"],
        env=env.env(0, EMOSTREAM_REDIS_URL=own_redis.url),
        cwd=ROOT,
        start_new_session=True,
        stdout=open(logs / "dashboard.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    wait_for(lambda: get_json(f"http://127.0.0.1:{port}/health")["ok"], 30, "dashboard health")
    yield env, f"http://127.0.0.1:{port}", own_redis.client()
    os.killpg(dash.pid, signal.SIGTERM)
    env.stop()


def _posts(env, n, start, image_server=None):
    texts = ["A happy party with music", "Fear and danger, a warning of fire", "calm home family", "angry protest"]
    out = []
    for i in range(start, start + n):
        p = {
            "id": f"dash{i}-{env.uid}",
            "text": texts[i % 4],
            "tags": [["fun", "party"], ["fire", "news"], ["home"], ["news"]][i % 4],
        }
        if image_server and i % 5 == 0:
            p["image_url"] = f"{image_server}/missing.jpg"  # degraded, shown in the feed
        out.append(p)
    return out


def test_json_api_matches_redis(live, image_server):
    env, base, r = live
    posts = _posts(env, 24, 0, image_server)
    env.produce(posts + [b"{broken"])
    k = RedisKeys(env.redis_prefix)
    wait_for(
        lambda: int(r.hget(k.totals, "posts") or 0) == 24 and int(r.hget(k.totals, "dead:bad_json") or 0) == 1,
        60,
        "aggregates",
    )
    s = get_json(base + "/api/summary")
    totals = r.hgetall(k.totals)
    assert s["totals"]["posts"] == 24
    assert s["totals"]["emotions"] == {e: int(totals.get(f"emotion:{e}", 0)) for e in (*EMOTIONS, "neutral")}
    assert s["totals"]["dead_by_reason"] == {"bad_json": 1}
    assert s["totals"]["degraded_by_reason"] == {"image:http_404": 5}
    assert abs(sum(s["emotion_share"]["last_hour"].values()) - 1) < 1e-9
    ts = get_json(base + "/api/timeseries?minutes=10")
    assert sum(b["posts"] for b in ts["buckets"]) == 24
    tags = get_json(base + "/api/top-tags?n=3")
    for e in EMOTIONS:
        assert tags[e] == [{"tag": t, "count": int(c)} for t, c in r.zrevrange(k.top(e), 0, 2, withscores=True)]
    recent = get_json(base + "/api/recent?n=5")
    sid = [tuple(map(int, x["stream_id"].split("-"))) for x in recent]
    assert len(recent) == 5 and sid == sorted(sid, reverse=True)
    with pytest.raises(urllib.error.HTTPError) as e:
        get_json(base + "/api/recent?n=abc")
    assert e.value.code == 400
    wait_for(lambda: len(get_json(base + "/api/summary")["workers"]) == 1, 15, "worker heartbeat")


def test_browser_shows_counts_live_feed_and_stale_state(live, own_redis):
    from playwright.sync_api import sync_playwright

    env, base, r = live
    k = RedisKeys(env.redis_prefix)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-gpu",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(base + "/")
        page.wait_for_selector("#status[data-state=live]", timeout=20000)
        # the page's total equals Redis, and the emotion totals in its footer too
        want = int(r.hget(k.totals, "posts"))
        page.wait_for_function(f"document.querySelector('#kpi-posts').dataset.value == '{want}'", timeout=20000)
        footer = page.inner_text("#footer")
        for e in EMOTIONS:
            assert f"{e} {int(r.hget(k.totals, 'emotion:' + e) or 0)}" in footer
        # new posts appear in the feed without a reload
        loads = []
        page.on("load", lambda: loads.append(1))
        new = _posts(env, 6, 100)
        env.produce(new)
        page.wait_for_selector(f"#feed tr[data-id='{new[-1]['id']}']", timeout=30000)
        wait_for(lambda: int(r.hget(k.totals, "posts")) == want + 6, 30, "new aggregates")
        page.wait_for_function(f"document.querySelector('#kpi-posts').dataset.value == '{want + 6}'", timeout=20000)
        assert loads == []
        top = r.zrevrange(k.top(EMOTIONS[0]), 0, 0)
        if top:
            assert f"#{top[0]}" in page.inner_text("#tags")
        # a record written to the output topic by someone else, markup in every string: shown as text, never run
        evil = '<img src=x onerror="window.__xss=1">'
        forged = {
            "id": f"evil-{env.uid}",
            "emotion": evil,
            "emotion_scores": {evil: 1.0},
            "sentiment": evil,
            "sentiment_score": 1.0,
            "modalities": [evil],
            "head": evil,
            "degraded": [{"modality": evil, "reason": evil}],
            "model_version": evil,
            "processed_at": "2026-12-01T00:00:00+00:00",
            "latency_ms": 1.0,
            "tags": [evil],
        }
        env.produce([forged], topic=env.topics["out"])
        page.wait_for_selector(f"#feed tr[data-id='evil-{env.uid}']", timeout=30000)
        assert page.evaluate("window.__xss") is None and page.query_selector("#feed img") is None
        assert evil in page.inner_text(f"#feed tr[data-id='evil-{env.uid}']")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        # Redis goes away: the page says so; Redis comes back (empty): the page is live again
        own_redis.stop()
        page.wait_for_selector("#status[data-state=stale]", timeout=20000)
        assert "stale" in page.inner_text("#status")
        own_redis.start()
        page.wait_for_selector("#status[data-state=live]", timeout=30000)
        browser.close()
    assert SCREENSHOT.stat().st_size > 10_000


def _browser(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])


def test_feed_shows_the_post_behind_the_label(live):
    """The feed shows each post's text (as text), tags, each modality's opinion and its image as a link the page never
    loads; a click shows the whole record."""
    from playwright.sync_api import sync_playwright

    env, base, _ = live
    image_url = f"http://127.0.0.1:{free_port()}/photo-{env.uid}.jpg"  # nothing listens: the worker degrades it
    post = {
        "id": f"behind-{env.uid}",
        "text": 'Fear and danger <script>window.__xss=1</script> "quoted"',
        "tags": ["fire", "news"],
        "image_url": image_url,
    }
    with sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        requested = []
        page.on("request", lambda req: requested.append(req.url))
        page.goto(base + "/")
        page.wait_for_selector("#status[data-state=live]", timeout=20000)
        env.produce([post])
        row = f"#feed tr[data-id='{post['id']}']:not(.record)"
        page.wait_for_selector(row, timeout=30000)
        assert page.inner_text(f"{row} td.post .text") == post["text"]  # markup shown as text, never run
        assert "#fire #news" in page.inner_text(f"{row} td.post")
        assert page.get_attribute(f"{row} a.img-link", "href") == image_url
        assert page.get_attribute(f"{row} a.img-link", "rel") == "noopener noreferrer nofollow"
        assert page.query_selector("#feed img") is None and page.evaluate("window.__xss") is None
        page.click(f"{row} td.post")
        record = json.loads(page.inner_text(f"#feed tr.record[data-id='{post['id']}'] pre"))
        assert record["id"] == post["id"] and record["text"] == post["text"] and record["image_url"] == image_url
        assert record["degraded"][0]["modality"] == "image" and "meta" not in record
        ops = page.inner_text(f"{row} td.ops")  # each modality's own head, as the record says
        abbr = {"image": "I", "text": "T", "tags": "#"}
        assert record["opinions"] and all(f"{abbr[m]} {o['emotion']}" in ops for m, o in record["opinions"].items())
        page.click(f"{row} td.post")
        assert page.query_selector(f"#feed tr.record[data-id='{post['id']}']") is None
        browser.close()
    assert not [u for u in requested if "photo-" in u], requested  # the page never fetched the poster's image


PASSWORD = "dash-secret-7"


@pytest.fixture(scope="module")
def guarded(live, own_redis, tmp_path_factory):
    """A second dashboard on the same Redis, with a password and room for 3 live streams."""
    env, _, _ = live
    port, logs = free_port(), tmp_path_factory.mktemp("guarded-logs")
    extra = {
        "EMOSTREAM_REDIS_URL": own_redis.url,
        "EMOSTREAM_DASHBOARD_PASSWORD": PASSWORD,
        "EMOSTREAM_DASHBOARD_MAX_STREAMS": "3",
    }
    dash = subprocess.Popen(
        [sys.executable, "-m", "emostream.cli", "dashboard", "--port", str(port), "--interval-s", "1"],
        env=env.env(0, **extra),
        cwd=ROOT,
        start_new_session=True,
        stdout=open(logs / "dashboard.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    wait_for(lambda: get_json(f"http://127.0.0.1:{port}/health")["ok"], 30, "dashboard health")
    yield f"http://127.0.0.1:{port}", logs / "dashboard.log"
    os.killpg(dash.pid, signal.SIGTERM)


def _get(url: str, auth: bool = True):
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode())
    return urllib.request.urlopen(req, timeout=5)


def test_password_security_headers_and_no_meta(live, guarded, own_redis):
    env, _, _ = live
    base, log = guarded
    for path in ("/", "/api/summary", "/api/events", "/static/app.js"):
        with pytest.raises(urllib.error.HTTPError) as e:
            _get(base + path, auth=False)
        assert e.value.code == 401 and e.value.headers["WWW-Authenticate"].startswith("Basic")
    with _get(base + "/health", auth=False) as r:
        assert r.status == 200
    with _get(base + "/") as r:
        assert r.status == 200 and "default-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"
    env.produce([{"id": f"meta-{env.uid}", "text": "happy party", "secret_field": "not for dashboards"}])
    wait_for(
        lambda: any(x["id"] == f"meta-{env.uid}" for x in json.loads(_get(base + "/api/recent?n=50").read())),
        60,
        "the post in the recent feed",
    )
    recent = json.loads(_get(base + "/api/recent?n=50").read())
    assert all("meta" not in x and "secret_field" not in json.dumps(x) for x in recent)
    text = log.read_text()
    assert PASSWORD not in text and "password required" in text


def _commands(r) -> int:
    return int(r.info("stats")["total_commands_processed"])


def test_one_snapshot_per_tick_for_all_clients_and_a_stream_cap(guarded, own_redis):
    base, _ = guarded
    r = own_redis.client()

    def closed() -> bool:  # the server notices a closed stream at its next write
        return get_json(base + "/health")["streams"] == 0

    def commands_with(clients: int, seconds: float = 4.0) -> int:
        wait_for(closed, 10, "no stream open")
        streams = [_get(base + "/api/events") for _ in range(clients)]
        before = _commands(r)
        deadline = time.monotonic() + seconds
        for s in streams:
            s.fp.raw._sock.settimeout(seconds)
        while time.monotonic() < deadline:
            for s in streams:
                s.readline()  # keep reading so the server keeps writing
        used = _commands(r) - before
        for s in streams:
            s.close()
        return used

    one, three = commands_with(1), commands_with(3)
    assert three < 1.6 * one, f"3 clients cost {three} Redis commands, 1 client {one}: not shared"
    wait_for(closed, 10, "no stream open")
    open_streams = [_get(base + "/api/events") for _ in range(3)]
    wait_for(lambda: get_json(base + "/health")["streams"] == 3, 10, "three streams open")
    with pytest.raises(urllib.error.HTTPError) as e:
        _get(base + "/api/events")
    assert e.value.code == 503
    for s in open_streams:
        s.close()
