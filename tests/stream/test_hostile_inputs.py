"""No input can stop the pipeline: 150+ hostile messages through real workers, each with its expected outcome.

Every message is accounted for exactly once (an output record, or a dead letter pointing at its offset), the worker
never stalls (posts after every poison are labelled, no dependency retry is ever caused by an input), its peak memory
stays under the documented bound, /health tells the truth and Redis counts the distinct labelled posts."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from contracts.redis_keys import RedisKeys
from stream.kafka_admin import ensure_topics
from stream.settings import Settings
from tests.helpers.hostile import at_cap, serve_hostile
from tests.helpers.services import wait_for
from tests.helpers.stream import WorkerEnv, worker_health, worker_metric

pytestmark = pytest.mark.stack
RSS_BOUND_MIB = 600  # the suite's worker (micro-batch 64); the default settings' bound: rss_bound_mib below
OUT_TOPIC_MAX_BYTES = 200_000  # the output topic's own limit, below the worker's EMOSTREAM_MAX_RECORD_BYTES
MAX_RECORD_BYTES = 300_000
MAX_POST_BYTES = 500_000  # above MAX_RECORD_BYTES, so that an accepted post can make an output too large to send
DEGRADES = {"blocked_address", "bad_url", "connection_error"}  # an SSRF attempt: any of these, never a fetch


@dataclass
class Case:
    name: str
    value: bytes | None
    expect: tuple  # ("out", head, degraded reasons of the image or None) | ("dead", reason, stage or None)
    key: bytes | None = b"k"
    headers: list = field(default_factory=list)
    offset: int = -1
    id: str | None = None


def post(cid: str, **fields) -> bytes:
    return json.dumps({"id": cid, **fields}).encode()


def out(head: str, image: str | set | None = None) -> tuple:
    return ("out", head, image)


def dead(reason: str, stage: str | None = None) -> tuple:
    return ("dead", reason, stage)


def cases(uid: str, base: str) -> list[Case]:
    """The hostile inputs for the worker that may fetch from loopback (the hostile image server lives there)."""
    c: list[Case] = []

    def add(name, value, expect, **kw):
        cid = f"{name}-{uid}"
        c.append(Case(name, value(cid) if callable(value) else value, expect, id=cid, **kw))

    # malformed JSON
    for i, raw in enumerate(
        [
            b"",
            b"{not json",
            b"\xff\xfe\x00",
            b'{"id": "a", "text": "x"',
            b"\xef\xbb\xbf{}",
            b"\x00",
            '{"id":"u","text":"x"}'.encode("utf-16"),
            '{"id":"u","text":"x"}'.encode("utf-32"),
            b'{"id": "d", "id": "e", "text": "x"}',
            b'{"id": "n", "text": "x", "v": NaN}',
            b'{"id": "n", "text": "x", "v": -Infinity}',
            b'{"id": "n", "text": "x", "v": 1e999}',
            b'{"id": "n", "text": "x", "v": ' + b"9" * 5000 + b"}",
            b'{"id": "n", "text": "x", "deep": ' + b"[" * 100 + b"]" * 100 + b"}",
            b'{"id": "n", "text": "x", "deep": ' + b"[" * 990 + b"]" * 990 + b"}",
            b'{"id": "n", "text": "x", "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            b'{"id": "n", "text": "x", "deep": ' + b'{"a":' * 300 + b"1" + b"}" * 300 + b"}",
            b"{}garbage",
            b"1 2",
            b"\x80\x81\x82binary\x00\xff" * 100,
        ]
    ):
        add(f"json{i}", raw, dead("bad_json" if len(raw) <= MAX_POST_BYTES else "too_large", "parse"))
    add("tombstone", None, dead("bad_json", "parse"))
    for i, raw in enumerate([b"[1, 2]", b'"str"', b"42", b"null", b"true", b"[]", b'[{"id": "x", "text": "hi"}]']):
        add(f"notobj{i}", raw, dead("not_an_object", "parse"))
    # schema violations
    for i, fields in enumerate(
        [
            {},
            {"text": 42},
            {"tags": "notalist"},
            {"tags": [1, 2]},
            {"image_url": "file:///etc/passwd"},
            {"image_url": "ftp://h/x.jpg"},
            {"image_url": "javascript:alert(1)"},
            {"text": "   "},
            {"tags": []},
            {"text": None, "tags": None, "image_url": None},
            {"text": "x", "created_at": 5},
            {"text": "ok", "created_at": "\u202e2026"},  # not ISO 8601: the event time is part of the contract
            {"text": "x", "created_at": "2026-13-45T10:00:00Z"},
            {"text": "x", "created_at": "1969-12-31T23:59:59Z"},
            {"text": "x", "created_at": "yesterday"},
            {"text": ["a"]},
            {"tags": [None]},
            {"text": {"a": 1}},
            {"image_url": 7, "text": "x"},
        ]
    ):
        add(f"schema{i}", lambda cid, f=fields: post(cid, **f), dead("invalid", "validate"))
    for i, raw in enumerate(
        [
            b'{"text": "no id"}',
            b'{"id": 5, "text": "x"}',
            b'{"id": "", "text": "x"}',
            b'{"id": null, "text": "x"}',
            b'{"id": "a\\u0000b", "text": "x"}',
            b'{"id": "a\\u200bb", "text": "x"}',
            b'{"id": "   ", "text": "x"}',
            b'{"id": "a\\u0007", "text": "x"}',
        ]
    ):
        add(f"badid{i}", raw, dead("invalid", "validate"))
    # lone surrogates anywhere: invalid (they cannot be encoded as UTF-8, so no record could carry them)
    for i, tmpl in enumerate(
        [
            '{"id": "%s", "text": "hi", "x": "\\ud800"}',
            '{"id": "%s\\udfff", "text": "hi"}',
            '{"id": "%s", "tags": ["\\ud83d"]}',
            '{"id": "%s", "text": "\\udc00 lone"}',
            '{"id": "%s", "text": "hi", "\\ud800": 1}',
            '{"id": "%s", "text": "hi", "a": [{"b": ["\\udbff"]}]}',
            '{"id": "%s", "image_url": "http://x/\\ud800.jpg", "text": "hi"}',
        ]
    ):
        add(f"surrogate{i}", lambda cid, t=tmpl: (t % cid).encode(), dead("invalid", "validate"))
    # unicode that is fine: labelled, escaped consistently in the output
    for i, fields in enumerate(
        [
            {"text": "nul \u0000 bell \u0007 esc \u001b del \u007f"},
            {"text": "rtl \u202e evil \u202c"},
            {"text": "zero\u200bwidth\ufeffbom"},
            {"text": "emoji 😀🙂 and 東京 and ￿"},
            {"tags": ["\u0000", "\u202etag", "😀"]},
            {"text": "ok", "meta": "\u0000\u0001\u001f"},
            {"text": "ok", "created_at": "2026-12-01T10:00:00+14:00"},
            {"text": "\\ud83d\\ude00 escaped pair text"},
            {"text": "a" * 10_000},
            {"tags": [f"t{j}" for j in range(100)]},
            {"tags": ["x" * 100]},
        ]
    ):
        head = "tags" if "text" not in fields else "text_tags" if "tags" in fields else "text"
        if i == 4:
            head = "tags"
        add(f"unicode{i}", lambda cid, f=fields: post(cid, **f), out(head))
    # sizes at and over every limit
    add("text-over", lambda cid: post(cid, text="a" * 10_001), dead("too_large", "validate"))
    add("tags-over", lambda cid: post(cid, tags=["t"] * 101), dead("too_large", "validate"))
    add("tag-over", lambda cid: post(cid, tags=["x" * 101]), dead("too_large", "validate"))
    add(
        "url-at",
        lambda cid: post(cid, text="hi", image_url=f"{base}/ok.jpg?" + "p" * (2048 - len(base) - 8)),
        out("image_text"),
    )
    add(
        "url-over",
        lambda cid: post(cid, text="hi", image_url=f"{base}/ok.jpg?" + "p" * 2048),
        dead("too_large", "validate"),
    )
    add("id-at", lambda _: post("i" * 256, text="hi"), out("text"))
    c[-1].id = "i" * 256
    add("id-over", lambda _: post("i" * 257, text="hi"), dead("invalid", "validate"))
    add("bytes-at", lambda cid: post(cid, text="hi", pad="p" * (OUT_TOPIC_MAX_BYTES - 2000)), out("text"))
    add("bytes-over", lambda cid: post(cid, text="hi", pad="p" * MAX_POST_BYTES), dead("too_large", "parse"))
    add("near-kafka-limit", lambda cid: post(cid, text="hi", pad="p" * 990_000), dead("too_large", "parse"))
    add("huge-key-valid", lambda cid: post(cid, text="hi"), out("text"), key=b"k" * 900_000)
    add("huge-key-invalid", b"{oops", dead("bad_json", "parse"), key=b"\xff" * 900_000)
    add("no-key", lambda cid: post(cid, text="hi"), out("text"), key=None)
    add("binary-headers", lambda cid: post(cid, text="hi"), out("text"), headers=[("h", b"\xff\x00"), ("", b"")])
    add("output-over-limit", lambda cid: post(cid, text="hi", pad="\u0001" * 60_000), dead("too_large", "output"))
    add("kafka-refuses-output", lambda cid: post(cid, text="hi", pad="\u0001" * 40_000), dead("too_large", "publish"))
    many = "happy " + " ".join(f"#{i:x}" for i in range(2050))  # 9,983 characters: 2,050 hashtags
    add("hashtags-many", lambda cid: post(cid, text=many), out("text_tags"))
    add(
        "hashtag-huge", lambda cid: post(cid, text="happy #" + "x" * 9_990), out("text")
    )  # over the tag limit: left out
    add("json-depth-at", lambda cid: post(cid, text="hi", deep=json.loads("[" * 19 + "]" * 19)), out("text"))
    add("big-int-at", lambda cid: post(cid, text="hi", n=int("9" * 40)), out("text"))
    # image servers that lie, stall, loop or explode: the post is labelled without its image, saying why
    images = {
        "/ok.jpg": None,
        "/ok.png": None,
        "/ok.gif": None,
        "/ok.webp": None,
        "/ok.bmp": None,
        "/jpeg-as-html": None,
        "/png-as-jpeg.jpg": None,
        "/bad-exif.jpg": None,
        "/bad-exif.png": None,
        "/hops/2": None,
        "/redirect?to=/ok.jpg": None,
        "/html.jpg": "not_an_image",
        "/empty.jpg": "not_an_image",
        "/truncated.jpg": "not_an_image",
        "/tiff": "not_an_image",
        "/ico": "not_an_image",
        "/svg": "not_an_image",
        "/bomb.png": "too_many_pixels",
        "/bomb.jpg": "too_many_pixels",
        "/bomb.gif": "too_many_pixels",
        "/bomb.bmp": "too_many_pixels",
        "/bomb-progressive.jpg": "too_many_pixels",
        "/bomb-colour.gif": "too_many_pixels",
        "/big.webp": "too_many_pixels",
        "/big.png": "too_many_pixels",
        "/cl-long": {"not_an_image", "connection_error"},
        "/cl-huge": "too_large",
        "/endless": "too_large",
        "/gzip-bomb": "too_large",
        "/cl-short": {"connection_error", "timeout"},
        "/bad-chunked": {"connection_error", "not_an_image", "timeout"},
        "/trickle": "timeout",
        "/slow-headers": "timeout",
        "/loop": "too_many_redirects",
        "/hops/3": "too_many_redirects",
        "/no-location": "http_301",
        "/status/500": "http_500",
        "/status/403": "http_403",
        "/status/204": "http_204",
        "/status/418": "http_418",
        "/missing": "http_404",
        "/redirect?to=http://10.0.0.1/x.jpg": "blocked_address",
        "/redirect?to=http://169.254.169.254/latest/meta-data/": "blocked_address",
        "/redirect?to=http://[::ffff:169.254.169.254]/": "blocked_address",
        "/redirect?to=http://100.64.0.1/": "blocked_address",
        "/redirect?to=file:///etc/passwd": "bad_url",
        "/redirect?to=ftp://h/x": "bad_url",
        "/redirect?to=gopher://h/": "bad_url",
        "/redirect?to=http://[::1": "bad_url",
        "/redirect?to=http://h:99999/": "bad_url",
        "/redirect?to=http://xn--/": {"bad_url", "connection_error"},
        "/redirect?to=data:image/png;base64,AAAA": "bad_url",
        "/redirect?to=http://u:p@127.0.0.1/": "bad_url",
    }
    for i, (path, reason) in enumerate(images.items()):
        add(
            f"img{i}",
            lambda cid, p=path: post(cid, text="hello", image_url=base + p),
            out("image_text" if reason is None else "text", reason),
        )
    add(
        "image-only-broken",
        lambda cid: post(cid, image_url=f"{base}/bomb.png"),
        dead("no_usable_modality", "preprocess"),
    )
    for i, url in enumerate(
        [
            "http://[::1",
            "http://h:99999/x.jpg",
            "http://xn--/x.jpg",
            "http://u:p@127.0.0.1/x.jpg",
            "http:///x.jpg",
            "https://",
            "http://%00/x.jpg",
        ]
    ):
        add(
            f"badurl{i}",
            lambda cid, u=url: post(cid, text="hi", image_url=u),
            out("text", {"bad_url", "connection_error"}),
        )
    # a burst of big-but-allowed images and of bombs: decoded two at a time, memory bounded
    for i in range(16):
        add(f"burst{i}", lambda cid: post(cid, text="hi", image_url=f"{base}/large-ok.png"), out("image_text"))
    for i in range(8):
        add(
            f"bombs{i}",
            lambda cid, i=i: post(cid, text="hi", image_url=f"{base}/bomb.{['png', 'gif'][i % 2]}"),
            out("text", "too_many_pixels"),
        )
    return c


def ssrf_cases(uid: str, port: int) -> list[Case]:
    """Addresses of the loopback image server in every disguise, for a worker that may NOT fetch from loopback."""
    hosts = [
        "127.0.0.1",
        "localhost",
        "localhost.",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "0.0.0.0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::127.0.0.1]",
        "[64:ff9b::7f00:1]",
        "[2002:7f00:1::]",
        "[::]",
        "ⓛⓞⓒⓐⓛⓗⓞⓢⓣ",
        "LOCALHOST",
        "127.000.000.001",
        "[0:0:0:0:0:ffff:127.0.0.1]",
    ]
    out_cases = [
        Case(
            f"ssrf{i}",
            post(f"ssrf{i}-{uid}", text="hi", image_url=f"http://{h}:{port}/ssrf/{i}"),
            out("text", DEGRADES),
            id=f"ssrf{i}-{uid}",
        )
        for i, h in enumerate(hosts)
    ]
    out_cases += [
        Case(
            "ssrf-userinfo",
            post(f"ssrf-u-{uid}", text="hi", image_url=f"http://user@127.0.0.1:{port}/ssrf/u"),
            out("text", "bad_url"),
            id=f"ssrf-u-{uid}",
        ),
        Case(
            "ssrf-metadata",
            post(f"ssrf-m-{uid}", text="hi", image_url="http://169.254.169.254/latest/meta-data/"),
            out("text", "blocked_address"),
            id=f"ssrf-m-{uid}",
        ),
        Case(
            "ssrf-cgnat",
            post(f"ssrf-c-{uid}", text="hi", image_url="http://100.100.100.200/"),
            out("text", "blocked_address"),
            id=f"ssrf-c-{uid}",
        ),
        Case(
            "ssrf-linklocal6",
            post(f"ssrf-l-{uid}", text="hi", image_url=f"http://[fe80::1%25lo]:{port}/ssrf/l"),
            out("text", DEGRADES),
            id=f"ssrf-l-{uid}",
        ),
    ]
    return out_cases


def produce(env: WorkerEnv, items: list[Case]) -> None:
    p = KafkaProducer(bootstrap_servers=env.stack.kafka_bootstrap, acks="all", max_request_size=1_048_000)
    for case in items:
        case.offset = p.send(env.topics["posts"], key=case.key, value=case.value, headers=case.headers).get(30).offset
    p.flush()
    p.close()


def outcomes(env: WorkerEnv, items: list[Case], timeout_s: float) -> tuple[dict, dict]:
    """(id -> output records, input offset -> dead letters) once every case has one outcome, or at the timeout."""
    ids, offsets = {c.id for c in items}, {c.offset for c in items}
    deadline = time.monotonic() + timeout_s
    while True:
        outs, deads = Counter(), Counter()
        out_recs, dead_recs = {}, {}
        for r in env.collect("out", 10**6, timeout_s=2):
            outs[r["id"]] += 1
            out_recs.setdefault(r["id"], []).append(r)
        for d in env.collect("dlq", 10**6, timeout_s=2):
            deads[d["source"]["offset"]] += 1
            dead_recs.setdefault(d["source"]["offset"], []).append(d)
        done = {c.offset for c in items if c.id in outs or c.offset in deads}
        if done >= offsets or time.monotonic() > deadline:
            return (
                {k: v for k, v in out_recs.items() if k in ids},
                {k: v for k, v in dead_recs.items() if k in offsets},
            )


def check(items: list[Case], outs: dict, deads: dict) -> list[str]:
    problems = []
    for c in items:
        got_out, got_dead = outs.get(c.id, []), deads.get(c.offset, [])
        if len(got_out) + len(got_dead) != 1:
            problems.append(f"{c.name}: {len(got_out)} outputs and {len(got_dead)} dead letters (want exactly one)")
            continue
        kind, a, b = c.expect
        if kind == "out":
            if not got_out:
                problems.append(
                    f"{c.name}: dead letter {got_dead[0]['reason']} ({got_dead[0]['error'][:120]}), want an output"
                )
                continue
            rec = got_out[0]
            image = [d["reason"] for d in rec["degraded"] if d["modality"] == "image"]
            want = set() if b is None else ({b} if isinstance(b, str) else b)
            if rec["head"] != a or (bool(image) != bool(want)) or (image and image[0] not in want):
                problems.append(f"{c.name}: head {rec['head']} image {image}, want head {a} image in {want or 'none'}")
        else:
            if not got_dead:
                problems.append(f"{c.name}: labelled ({got_out[0]['head']}), want dead letter {a}")
                continue
            d = got_dead[0]
            if d["reason"] != a or (b and d["stage"] != b):
                problems.append(f"{c.name}: dead letter {d['reason']}/{d['stage']} ({d['error'][:100]}), want {a}/{b}")
    return problems


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


@pytest.fixture(scope="module")
def hostile():
    srv, seen = serve_hostile()
    yield f"http://127.0.0.1:{srv.server_address[1]}", srv.server_address[1], seen
    srv.shutdown()


def _env(stack, served, tmp_path_factory, name, **extra):
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    admin.create_topics(
        [
            NewTopic(env.topics["posts"], 1, 1),
            NewTopic(env.topics["dlq"], 1, 1),
            NewTopic(env.topics["out"], 1, 1, topic_configs={"max.message.bytes": str(OUT_TOPIC_MAX_BYTES)}),
        ]
    )
    admin.close()
    env.log_dir = tmp_path_factory.mktemp(name)
    env.start_worker(
        env.log_dir,
        EMOSTREAM_IMAGE_TIMEOUT_S="6",  # the slow routes take 12 s; the rest must not time out on a loaded 2-core box
        EMOSTREAM_MAX_RECORD_BYTES=str(MAX_RECORD_BYTES),
        EMOSTREAM_MAX_POST_BYTES=str(MAX_POST_BYTES),
        EMOSTREAM_MAX_BATCH="64",
        **extra,
    )
    return env


def test_hostile_inputs_each_end_once_and_the_worker_keeps_going(stack, served, hostile, tmp_path_factory):
    base, _, _ = hostile
    env = _env(stack, served, tmp_path_factory, "hostile")
    try:
        items = cases(env.uid, base)
        sentinels = [
            Case(f"after{i}", post(f"after{i}-{env.uid}", text="still here"), out("text"), id=f"after{i}-{env.uid}")
            for i in range(3)
        ]
        items += sentinels  # one partition: these come after every poison
        assert len(items) >= 150
        produce(env, items)
        outs, deads = outcomes(env, items, timeout_s=180)
        problems = check(items, outs, deads)
        assert not problems, f"{len(problems)} of {len(items)} cases wrong:\n" + "\n".join(problems)
        by_name = {c.name: outs.get(c.id, [{}])[0] for c in items}
        assert len(by_name["hashtags-many"]["tags"]) == 10 and by_name["hashtag-huge"]["tags"] == []
        port, pid = env.ports[0], env.procs[0].pid
        assert env.procs[0].poll() is None
        deps = ("triton", "kafka_produce", "redis")
        retries = {d: worker_metric(port, "emostream_dependency_retries_total", dependency=d) for d in deps}
        assert not any(retries.values()), f"an input made the worker retry a dependency: {retries}"
        health = worker_health(port)
        assert health["ok"] and health["problems"] == [] and health["stats"]["posts_in"] == len(items)
        rss = peak_rss_mib(pid)
        print(f"hostile suite: {len(items)} inputs, worker peak RSS {rss:.0f} MiB")
        assert rss < RSS_BOUND_MIB
        labelled = {i for i in outs}
        r = __import__("redis").Redis.from_url(stack.redis_url, decode_responses=True)
        totals = RedisKeys(env.redis_prefix).totals
        wait_for(
            lambda: int(r.hget(totals, "posts") or 0) == len(labelled), 60, "Redis totals == distinct labelled ids"
        )
        dead_total = sum(int(v) for k, v in r.hgetall(totals).items() if k.startswith("dead:"))
        wait_for(
            lambda: sum(int(v) for k, v in r.hgetall(totals).items() if k.startswith("dead:")) == len(deads),
            30,
            f"Redis dead letters == {len(deads)} (now {dead_total})",
        )
    finally:
        env.stop()


def test_ssrf_address_forms_are_never_fetched(stack, served, hostile, tmp_path_factory):
    _, port, seen = hostile
    env = _env(stack, served, tmp_path_factory, "ssrf", EMOSTREAM_IMAGE_ALLOW_LOOPBACK="false")
    try:
        items = ssrf_cases(env.uid, port) + [
            Case("after", post(f"after-{env.uid}", text="ok"), out("text"), id=f"after-{env.uid}")
        ]
        produce(env, items)
        outs, deads = outcomes(env, items, timeout_s=120)
        problems = check(items, outs, deads)
        assert not problems, "\n".join(problems)
        assert not [p for p in seen if p.startswith("/ssrf/")], "a disguised loopback address was fetched"
    finally:
        env.stop()


def test_a_poison_post_does_not_hold_the_next_one(pipeline_env):
    """The issue's wedge: a lone surrogate in an unknown field used to sit in the produce retry loop forever. Now
    it is a dead letter and the next post of the same partition comes out right after it."""
    env = pipeline_env
    poison = b'{"id": "p", "text": "hi", "x": "\\ud800"}'
    env.produce([poison], partition=0)
    t0 = time.monotonic()
    env.produce([{"id": f"next-{env.uid}", "text": "happy"}], partition=0)
    got = env.collect("out", 10**6, timeout_s=30, ids={f"next-{env.uid}"})
    elapsed = time.monotonic() - t0
    assert any(r["id"] == f"next-{env.uid}" for r in got)
    dead = env.collect("dlq", 1, timeout_s=10)
    assert [d["original"] for d in dead] == [poison.decode()] and dead[0]["reason"] == "invalid"
    print(f"next post of the partition labelled {elapsed:.2f} s after the poison")
    assert elapsed < 10


def rss_bound_mib(s: Settings, base_mib: float = 200, post_bytes: int = 1024) -> float:
    """README "Robustness": the worker's peak RSS with settings `s`: a base, each decode thread's budget, the image
    bytes that hold a permit (downloading or waiting for a decode), the decoded 224 px images of the batches in
    progress, and the raw posts taken and not yet committable (at `post_bytes` each)."""
    return (
        base_mib
        + s.image_decode_workers * s.image_decode_mb
        + s.image_concurrency * s.image_max_bytes / 2**20
        + s.agent_concurrency * s.max_batch * 224 * 224 * 3 / 2**20
        + s.max_uncommitted * post_bytes / 2**20
    )


def test_bursts_of_each_bomb_kind_stay_under_the_rss_bound(stack, served, hostile, tmp_path_factory):
    """The default settings; a burst of every image kind at its decode cap, and 160 posts of 4.4 MB images (five
    times what the download permits hold): every post labelled with its image, the peak RSS under the README bound."""
    base, _, _ = hostile
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    env.log_dir = tmp_path_factory.mktemp("bombs")
    defaults = {"EMOSTREAM_IMAGE_TIMEOUT_S": "8.0", "EMOSTREAM_IMAGE_MAX_BYTES": "5000000"}  # the harness lowers them
    try:
        proc, port = env.start_worker(env.log_dir, **defaults)
        kinds = [k for k in at_cap() if k != "jpeg-5mb"]
        posts = [
            {"id": f"{k}-{i}-{env.uid}", "text": "hi", "image_url": f"{base}/cap/{k}"} for k in kinds for i in range(8)
        ]
        posts += [{"id": f"big-{i}-{env.uid}", "text": "hi", "image_url": f"{base}/cap/jpeg-5mb"} for i in range(160)]
        env.produce(posts)
        ids = {p["id"] for p in posts}
        out = {r["id"]: r for r in env.collect("out", 10**6, timeout_s=300, ids=ids)}
        assert ids <= set(out), f"{len(ids - set(out))} posts not labelled"
        degraded = {r["id"]: r["degraded"] for r in out.values() if r["id"] in ids and r["degraded"]}
        assert not degraded, f"{len(degraded)} images not used, e.g. {list(degraded.items())[:3]}"
        rss, bound = peak_rss_mib(proc.pid), rss_bound_mib(Settings())
        print(f"bombs at their caps + 160 x 4.4 MB images, default settings: peak RSS {rss:.0f} MiB, bound {bound:.0f}")
        assert rss < bound
    finally:
        env.stop()


def test_a_forged_output_record_is_skipped_and_the_aggregates_go_on(pipeline_env, stack):
    """Anyone who can write the output topic can write anything there: a record with `"head": null` used to make the
    aggregator retry a Redis error forever. Now it is skipped and counted, and the next labelled post is counted."""
    env = pipeline_env
    port = env.ports[0]
    r = __import__("redis").Redis.from_url(stack.redis_url, decode_responses=True)
    totals = RedisKeys(env.redis_prefix).totals
    skipped = worker_metric(port, "emostream_aggregate_skipped_total")
    before = int(r.hget(totals, "posts") or 0)
    env.produce(
        [{"id": f"forged-{env.uid}", "emotion": "awe", "sentiment": "positive", "head": None}], topic=env.topics["out"]
    )
    env.produce([{"id": f"after-forged-{env.uid}", "text": "happy day"}])
    wait_for(lambda: int(r.hget(totals, "posts") or 0) == before + 1, 60, "the next post counted")
    assert worker_metric(port, "emostream_aggregate_skipped_total", reason="invalid_record") > skipped
    health = worker_health(port)
    assert health["aggregator"]["waiting_on"] is None and health["aggregator"]["skipped"] >= 1, health["aggregator"]
