"""The worker's one settings object: every field has a default, an environment variable (EMOSTREAM_<NAME>) and a
description.

The README's configuration table is generated from this class (`emostream settings`) and a test checks, cell by cell,
that the two agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.redis_keys import DEFAULT_PREFIX
from core.bundle_info import SERVING
from core.images import FetchLimits

_FETCH = FetchLimits()  # the image fetch defaults

# The worker's producer refuses a request larger than this (Faust `producer_max_request_size`); a record needs some
# bytes of framing besides its key and value.
PRODUCER_MAX_REQUEST_BYTES = 1_048_576
RECORD_FRAMING_BYTES = 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMOSTREAM_", extra="ignore")

    # services
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers (host:port[,host:port])")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism when the protocol is SASL_*"
    )
    kafka_sasl_username: str = Field("", description="SASL user name")
    kafka_sasl_password: SecretStr = Field(SecretStr(""), description="SASL password (never logged)")
    kafka_ssl_cafile: Path | None = Field(
        None, description="CA bundle that signed the brokers' certificates (SSL, SASL_SSL)"
    )
    kafka_ssl_certfile: Path | None = Field(None, description="client certificate for mutual TLS (optional)")
    kafka_ssl_keyfile: Path | None = Field(None, description="client key for mutual TLS (optional)")
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"),
        description="Redis URL; `redis://:PASSWORD@host:6379/0`, `rediss://` for TLS (never logged)",
    )
    redis_ca_file: Path | None = Field(None, description="CA bundle for a `rediss://` Redis (default: the system's)")
    triton_grpc_url: str = Field("127.0.0.1:8001", description="Triton gRPC address")
    triton_http_url: str = Field("127.0.0.1:8000", description="Triton HTTP address (model control, used by the demo)")
    triton_ssl: bool = Field(False, description="gRPC over TLS to Triton")
    triton_ssl_root_cert: Path | None = Field(
        None, description="CA certificate of Triton's gRPC TLS (default: the system's)"
    )
    triton_model_prefix: str = Field(
        "", description="prefix of the served model names (see `emostream export --prefix`)"
    )
    triton_timeout_s: float = Field(
        30.0,
        description="timeout of one Triton call (a request of 32 images takes 5-15 s on one loaded CPU core, "
        "bench/end_to_end.py)",
    )
    triton_timeout_strikes: int = Field(
        3,
        description="a post whose request times out alone this many times, while Triton answers a probe, is a dead "
        "letter (`inference_timeout`); larger requests that time out are split first",
    )
    bundle: Path = Field(
        SERVING,
        description="model bundle (vocabularies, labels, version); default: the one `emostream export` last put in "
        "Triton's repository",
    )
    # topics
    topic_posts: str = Field("posts", description="input topic")
    topic_output: str = Field("post-emotions", description="output topic")
    topic_dlq: str = Field("posts-dlq", description="dead-letter topic")
    partitions: int = Field(4, description="partitions of the topics the worker creates when missing")
    app_id: str = Field("emostream", description="Faust app id = Kafka consumer group of the classifier")
    # batching
    max_batch: int = Field(
        256, description="posts taken from Kafka per micro-batch (bench: 256 gave 1.8x the posts/s of 64)"
    )
    max_wait_s: float = Field(0.05, description="longest wait to fill a micro-batch")
    max_inflight: int = Field(4, description="Triton requests in flight per worker (back-pressure)")
    max_image_inflight: int = Field(
        2,
        ge=1,
        description="of those, requests with images (each up to the image ensembles' max batch): more only queue in "
        "Triton and run past the timeout on a CPU server (bench/end_to_end.py)",
    )
    agent_concurrency: int = Field(
        2,
        description="micro-batches processed at once per worker (taken in offset order by one actor, committed in "
        "offset order; bench: 2 beat 1 on every stream)",
    )
    max_uncommitted: int = Field(
        2048,
        description="posts taken from Kafka and not yet committable (in progress, or finished behind an earlier post "
        "of their partition still in progress); taking waits above it",
    )
    detect_language: bool = Field(
        True,
        description="detect each text's language (`language` in the record); text in a language the bundle was not"
        " trained on is degraded (`unsupported_language`)",
    )
    record_text_chars: int = Field(
        280,
        ge=0,
        description="characters of the post's text kept in its output record (`text`, for subscribers and the"
        " dashboard's feed; longer is cut with …); 0 = the record never carries the text (privacy)",
    )
    # input limits (a post over a limit is a dead letter)
    max_post_bytes: int = Field(100_000, description="largest accepted input message (bytes)")
    max_json_depth: int = Field(20, description="deepest accepted nesting of JSON arrays/objects in a post")
    max_json_int_digits: int = Field(40, description="longest accepted JSON integer (digits)")
    max_text_chars: int = Field(10_000, description="longest accepted text")
    max_tags: int = Field(100, description="most tags accepted on a post")
    max_tag_chars: int = Field(100, description="longest accepted tag")
    max_url_chars: int = Field(2048, description="longest accepted image URL")
    max_id_chars: int = Field(256, description="longest accepted post id")
    max_record_bytes: int = Field(
        900_000, description="largest output record (key + value) the worker produces; larger is a dead letter"
    )
    dlq_max_original_bytes: int = Field(
        100_000, description="original bytes kept in a dead letter (more is cut, with a marker)"
    )
    # image fetching
    image_max_bytes: int = Field(
        _FETCH.max_bytes, description="byte cap of an image download, enforced while streaming"
    )
    image_decode_mb: int = Field(
        _FETCH.decode_mb, description="memory one image decode may use; larger images are refused by their header"
    )
    image_connect_timeout_s: float = Field(_FETCH.connect_timeout_s, description="image fetch connect timeout")
    image_timeout_s: float = Field(_FETCH.timeout_s, description="image fetch total timeout")
    image_concurrency: int = Field(_FETCH.concurrency, description="image downloads in flight per worker")
    image_decode_workers: int = Field(
        _FETCH.decode_workers, description="threads decoding images (bounds decode memory)"
    )
    image_max_redirects: int = Field(_FETCH.max_redirects, description="redirects followed per image")
    image_allow_loopback: bool = Field(
        _FETCH.allow_loopback, description="allow image URLs on loopback addresses (tests, demo)"
    )
    # aggregates (the aggregator: output + dead-letter topics -> Redis)
    aggregator: bool = Field(
        True, description="run the Redis aggregator inside the worker (else: `emostream aggregator`)"
    )
    aggregator_group: str = Field("", description="consumer group of the aggregator (default: <app_id>-aggregates)")
    redis_prefix: str = Field(
        DEFAULT_PREFIX, description="prefix of every Redis key (a {hash tag} keeps Redis Cluster slots together)"
    )
    bucket_s: int = Field(10, description="width of the time buckets of the aggregates (seconds)")
    bucket_ttl_s: int = Field(
        2 * 86400,
        description="how long a time bucket lives after it ends; a post whose event-time bucket is older is counted"
        " in the totals only (late:expired)",
    )
    late_after_s: int = Field(
        60, description="a post arriving over this long after its event-time bucket ended is counted late in it"
    )
    seen_ttl_s: int = Field(
        6 * 3600, description="how long a post id is remembered, so a redelivered post is not counted twice"
    )
    top_tags_max: int = Field(1000, description="tags kept per emotion in the top-tags sets")
    track_meta: str = Field(
        "",
        description="comma-separated `meta` fields (e.g. brand,source) whose values get a drill-down series of their"
        " own, as every tag does",
    )
    tracked_max: int = Field(
        100,
        ge=0,
        description="drill-down keys (tags, tracked meta values) with a series: the top ones by posts (0: no"
        " drill-down)",
    )
    key_bucket_s: int = Field(60, ge=1, description="width of the drill-down series' buckets (seconds)")
    key_bucket_ttl_s: int = Field(
        6 * 3600, ge=1, description="how long a drill-down bucket lives after it ends (the drill-down's history)"
    )
    recent_max: int = Field(500, description="length cap of the recent-results stream")
    # operations
    web_host: str = Field("127.0.0.1", description="bind address of /health and /metrics")
    web_port: int = Field(6066, description="port of /health and /metrics")
    stall_after_s: float = Field(60.0, description="/health turns 503 when a batch has made no progress for this long")
    log_level: str = Field("info", description="crit, error, warn, info or debug")
    log_json: bool = Field(False, description="one JSON object per log line (structured logs)")
    datadir: Path = Field(Path(".stack/faust"), description="Faust's local state folder")
    retry_max_backoff_s: float = Field(10.0, description="cap of the backoff while a dependency is down")
    dashboard_host: str = Field("127.0.0.1", description="bind address of `emostream dashboard`")
    dashboard_port: int = Field(8080, description="port of `emostream dashboard`")
    dashboard_password: SecretStr = Field(
        SecretStr(""), description="when set, the dashboard asks for it (HTTP basic auth, any user name)"
    )
    dashboard_max_streams: int = Field(50, description="live-update connections the dashboard serves at once")

    @model_validator(mode="after")
    def _record_fits_the_producer(self):
        limit = PRODUCER_MAX_REQUEST_BYTES - RECORD_FRAMING_BYTES
        if self.max_record_bytes > limit:
            raise ValueError(
                f"EMOSTREAM_MAX_RECORD_BYTES={self.max_record_bytes} is above what the producer sends ({limit}): "
                "every record over it would fail in the producer instead of becoming a dead letter"
            )
        return self

    @property
    def tracked_meta_fields(self) -> tuple[str, ...]:
        return tuple(f.strip() for f in self.track_meta.split(",") if f.strip())

    def fetch_limits(self) -> FetchLimits:
        """The image fetcher's limits from the EMOSTREAM_IMAGE_* settings."""
        return FetchLimits(
            max_bytes=self.image_max_bytes,
            decode_mb=self.image_decode_mb,
            connect_timeout_s=self.image_connect_timeout_s,
            timeout_s=self.image_timeout_s,
            concurrency=self.image_concurrency,
            decode_workers=self.image_decode_workers,
            max_redirects=self.image_max_redirects,
            allow_loopback=self.image_allow_loopback,
        )

    @property
    def aggregator_group_id(self) -> str:
        return self.aggregator_group or f"{self.app_id}-aggregates"


def _cell(value) -> str:
    return str(value).replace("|", "\\|")


def markdown_table() -> str:
    """The README's configuration table."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, f in Settings.model_fields.items():
        default = f.default.get_secret_value() if isinstance(f.default, SecretStr) else f.default
        rows.append(f"| `EMOSTREAM_{name.upper()}` | `{_cell(default)}` | {_cell(f.description)} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """`emostream settings`: print the configuration table."""
    print(markdown_table())
    return 0
