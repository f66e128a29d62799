"""The worker's one settings object: every field has a default, an environment variable (EMOSTREAM_<NAME>) and a description.

The README's configuration table is generated from this class (`emostream settings --markdown`) and a test
checks that the two agree.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMOSTREAM_", extra="ignore")

    # services
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers (host:port[,host:port])")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL for the dashboard aggregates")
    triton_grpc_url: str = Field("127.0.0.1:8001", description="Triton gRPC address")
    triton_http_url: str = Field("127.0.0.1:8000", description="Triton HTTP address (model control, used by the demo)")
    triton_model_prefix: str = Field("", description="prefix of the served model names (see `emostream export --prefix`)")
    triton_timeout_s: float = Field(10.0, description="timeout of one Triton call")
    triton_retries: int = Field(3, description="retries of one Triton call before the batch backs off and tries again")
    bundle: Path = Field(Path("artifacts/bundles/latest"), description="model bundle (vocabularies, labels, version)")
    # topics
    topic_posts: str = Field("posts", description="input topic")
    topic_output: str = Field("post-emotions", description="output topic")
    topic_dlq: str = Field("posts-dlq", description="dead-letter topic")
    partitions: int = Field(4, description="partitions of the topics the worker creates when missing")
    app_id: str = Field("emostream", description="Faust app id = Kafka consumer group")
    # batching
    max_batch: int = Field(256, description="posts taken from Kafka per micro-batch (bench: 256 gave 1.8x the posts/s of 64)")
    max_wait_s: float = Field(0.05, description="longest wait to fill a micro-batch")
    max_inflight: int = Field(4, description="Triton requests in flight per micro-batch (back-pressure)")
    agent_concurrency: int = Field(1, description="micro-batches processed at once per worker (Faust agent concurrency)")
    # input limits
    max_text_chars: int = Field(10_000, description="longest accepted text")
    max_tags: int = Field(100, description="most tags accepted on a post")
    max_tag_chars: int = Field(100, description="longest accepted tag")
    max_url_chars: int = Field(2048, description="longest accepted image URL")
    max_id_chars: int = Field(256, description="longest accepted post id")
    # image fetching
    image_max_bytes: int = Field(5_000_000, description="byte cap of an image download, enforced while streaming")
    image_connect_timeout_s: float = Field(3.0, description="image fetch connect timeout")
    image_timeout_s: float = Field(8.0, description="image fetch total timeout")
    image_concurrency: int = Field(32, description="image downloads in flight per worker")
    image_max_redirects: int = Field(3, description="redirects followed per image")
    image_allow_loopback: bool = Field(False, description="allow image URLs on loopback addresses (tests, demo)")
    # aggregates
    redis_prefix: str = Field("emo:", description="prefix of every Redis key the worker writes")
    bucket_s: int = Field(10, description="width of the time buckets of the aggregates (seconds)")
    bucket_ttl_s: int = Field(7 * 86400, description="TTL of time buckets and per-tag counts")
    seen_ttl_s: int = Field(7 * 86400, description="how long a post id is remembered for at-most-once aggregation")
    recent_max: int = Field(500, description="length cap of the recent-results stream")
    # operations
    web_host: str = Field("127.0.0.1", description="bind address of /health and /metrics")
    web_port: int = Field(6066, description="port of /health and /metrics")
    log_level: str = Field("info", description="crit | error | warn | info | debug")
    log_json: bool = Field(False, description="one JSON object per log line (structured logs)")
    datadir: Path = Field(Path(".stack/faust"), description="Faust's local state folder")
    retry_max_backoff_s: float = Field(10.0, description="cap of the backoff while a dependency is down")
    dashboard_host: str = Field("127.0.0.1", description="bind address of `emostream dashboard`")
    dashboard_port: int = Field(8080, description="port of `emostream dashboard`")


def markdown_table() -> str:
    """The README's configuration table."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, f in Settings.model_fields.items():
        rows.append(f"| `EMOSTREAM_{name.upper()}` | `{f.default}` | {f.description} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """`emostream settings`: print the configuration table."""
    print(markdown_table())
    return 0
