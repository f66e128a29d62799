"""Prometheus metrics of the worker (served at /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

POSTS_IN = Counter("emostream_posts_in_total", "posts consumed")
POSTS_OUT = Counter("emostream_posts_out_total", "output records produced", ["head"])
DEAD_LETTERS = Counter("emostream_dead_letters_total", "posts sent to the dead-letter topic", ["reason", "stage"])
DEGRADED = Counter("emostream_degraded_total", "posts classified without a modality they had", ["modality", "reason"])
BATCH_SIZE = Histogram(
    "emostream_triton_batch_size", "posts per Triton request", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256)
)
TRITON_LATENCY = Histogram(
    "emostream_triton_seconds",
    "latency of one Triton request",
    ["head"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
E2E_LATENCY = Histogram(
    "emostream_end_to_end_seconds",
    "Kafka timestamp of the post to its output produced",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TRITON_TIMEOUTS = Counter(
    "emostream_triton_timeouts_total", "Triton requests that ran past EMOSTREAM_TRITON_TIMEOUT_S", ["head"]
)
RETRIES = Counter("emostream_dependency_retries_total", "retries of a failed dependency call", ["dependency"])
CONSUMER_LAG = Gauge(
    "emostream_consumer_lag", "messages of the posts topic not yet committed by the group", ["partition"]
)
OLDEST_BATCH = Gauge(
    "emostream_oldest_batch_seconds", "age of the micro-batch in progress (0 when idle): its offsets are held"
)
STAGE_SECONDS = Counter(
    "emostream_stage_seconds_total",
    "time spent per stage, summed over posts (fetch, decode, tokenize), requests (infer) and batches (parse, publish)",
    ["stage"],
)
AGG_APPLIED = Counter("emostream_aggregated_total", "records applied to the Redis aggregates", ["topic"])
AGG_DUPLICATES = Counter("emostream_aggregate_duplicates_total", "records not re-counted in Redis (seen before)")
FATAL = Counter("emostream_fatal_total", "batches that failed in a way the worker cannot wait out (it then ends)")
UNCOMMITTED = Gauge(
    "emostream_uncommitted_posts", "posts taken from Kafka whose offsets cannot be committed yet (in progress, behind)"
)
AGG_SKIPPED = Counter(
    "emostream_aggregate_skipped_total",
    "records the aggregator could not count (skipped, never retried)",
    ["topic", "reason"],
)
