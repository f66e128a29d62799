"""`emostream worker`: check the topics, the bundle and the served models, then run the Faust worker."""
from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import sys

from model.bundle_info import BundleInfo

from .kafka_admin import ensure_topics
from .logs import logging_config
from .settings import Settings
from .triton_client import EmotionClient, TritonError


async def startup_check(s: Settings, bundle: BundleInfo, timeout_s: float = 120.0, load: bool = False) -> dict[str, int]:
    """Wait for every ensemble of the bundle to be ready (asking Triton to load them when load=True), then
    check that they match the bundle. Returns each combination's max batch size. Raises ModelUnavailable / ModelMismatch."""
    client = EmotionClient(s.triton_grpc_url, s.triton_model_prefix, s.triton_timeout_s)
    try:
        await client.wait_ready(bundle.combos, timeout_s=timeout_s, load=load)
        await client.check(bundle)
        return client.max_batch
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="emostream worker", description="Run a stream worker (settings: `emostream settings`).")
    ap.add_argument("--load-models", action="store_true", help="ask Triton to load the ensembles if they are not loaded")
    args = ap.parse_args(argv)
    s = Settings()
    level = {"crit": "CRITICAL", "warn": "WARNING"}.get(s.log_level, s.log_level.upper())
    config = logging_config(level, s.log_json)
    logging.config.dictConfig(config)
    try:
        bundle = BundleInfo.load(s.bundle)
        created = ensure_topics(s.kafka_bootstrap, [s.topic_posts, s.topic_output, s.topic_dlq], s.partitions)
        if created:
            logging.getLogger("emostream.worker").info("created topics: %s", ", ".join(created))
        max_batch = asyncio.run(startup_check(s, bundle, load=args.load_models))
    except (FileNotFoundError, TritonError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    from faust.worker import Worker

    from .app import create_app

    app = create_app(s, bundle, max_batch)
    worker = Worker(app, loglevel=s.log_level, quiet=True, redirect_stdouts=False, logging_config=config)
    worker.execute_from_commandline()
    return 0
