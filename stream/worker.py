"""`emostream worker`: check the topics, the bundle and the served models, then run the Faust worker.

A stop (SIGTERM, SIGINT) abandons the batch in progress (its offsets stay uncommitted) and the process exits within
EXIT_DEADLINE_S, whatever a client library is still waiting for."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import os
import sys
import threading

from faust.worker import Worker
from kafka.errors import KafkaError
from pydantic import ValidationError

from core.bundle_info import BundleInfo, find_bundle

from .app import WorkerApp
from .connections import kafka_python_config, redact_url, triton_client
from .kafka_admin import ensure_topics
from .logs import logging_config
from .settings import Settings
from .triton_client import TritonError

__all__ = ["EXIT_DEADLINE_S", "EXIT_FATAL", "startup_check", "main"]

EXIT_DEADLINE_S = 12.0
EXIT_FATAL = 70  # EX_SOFTWARE: a batch failed in a way the worker could not wait out
log = logging.getLogger("emostream.worker")


async def startup_check(s: Settings, bundle: BundleInfo, timeout_s: float = 120.0, load: bool = False) -> dict:
    """Wait for every ensemble of the bundle to be ready (asking Triton to load them when load=True), then
    check that they match the bundle. Returns each combination's max batch size.
    Raises ModelUnavailable / ModelMismatch."""
    client = triton_client(s)
    try:
        await client.wait_ready(bundle.combos, timeout_s=timeout_s, load=load)
        await client.check(bundle)
        return client.max_batch
    finally:
        await client.stop()


class _Worker(Worker):
    """Faust's worker, plus a deadline: once asked to stop, the process exits within EXIT_DEADLINE_S even if a client
    library keeps waiting (e.g. a producer flush to a Kafka that is down). Nothing is lost by that: offsets of
    unfinished batches were never committed. Exits non-zero when a batch failed (`WorkerApp.fail`)."""

    def __init__(self, worker: WorkerApp, **kwargs):
        self.worker = worker
        super().__init__(worker.app, **kwargs)

    def _arm_deadline(self) -> None:
        def _exit():
            log.warning(
                "still stopping after %.0fs: exiting now (uncommitted batches are redelivered)", EXIT_DEADLINE_S
            )
            logging.shutdown()
            os._exit(exit_status(self.worker))

        timer = threading.Timer(EXIT_DEADLINE_S, _exit)
        timer.daemon = True
        timer.start()

    def _on_sigterm(self) -> None:
        self._arm_deadline()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._arm_deadline()
        super()._on_sigint()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="emostream worker", description="Run a stream worker (settings: `emostream settings`)."
    )
    ap.add_argument(
        "--load-models", action="store_true", help="ask Triton to load the ensembles if they are not loaded"
    )
    args = ap.parse_args(argv)
    try:
        s = Settings()
    except ValidationError as e:
        print(f"error: {'; '.join(err['msg'] for err in e.errors())}", file=sys.stderr)
        return 2
    level = {"crit": "CRITICAL", "warn": "WARNING"}.get(s.log_level, s.log_level.upper())
    config = logging_config(level, s.log_json)
    logging.config.dictConfig(config)
    bundle = None
    try:
        bundle = BundleInfo.load(s.bundle)
        created = ensure_topics(kafka_python_config(s), [s.topic_posts, s.topic_output, s.topic_dlq], s.partitions)
        if created:
            log.info("created topics: %s", ", ".join(created))
        max_batch = asyncio.run(startup_check(s, bundle, load=args.load_models))
    except (FileNotFoundError, TritonError) as e:
        print(f"error: {e}", file=sys.stderr)
        served = getattr(e, "served_version", None)
        if served and served != getattr(bundle, "version", None):
            where = find_bundle(served)
            fix = (
                f"start the worker with EMOSTREAM_BUNDLE={where}"
                if where
                else "its folder is not under artifacts/bundles"
            )
            print(
                f"Triton serves bundle {served}: {fix}; or serve {bundle.path}: `emostream export --bundle "
                f"{bundle.path}`, then `emostream worker --load-models`",
                file=sys.stderr,
            )
        return 1
    except KafkaError as e:
        print(
            f"error: Kafka at {s.kafka_bootstrap} ({s.kafka_security_protocol}): {type(e).__name__}: {e}",
            file=sys.stderr,
        )
        return 1
    log.info(
        "bundle %s; Kafka %s (%s); Redis %s; Triton %s",
        bundle.version,
        s.kafka_bootstrap,
        s.kafka_security_protocol,
        redact_url(s.redis_url.get_secret_value()),
        s.triton_grpc_url,
    )
    s.datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last folder of the path

    worker = WorkerApp(s, bundle, max_batch)
    try:
        _Worker(
            worker, loglevel=s.log_level, quiet=True, redirect_stdouts=False, logging_config=config
        ).execute_from_commandline()
    except SystemExit as e:
        if e.code not in (0, None):
            return e.code if isinstance(e.code, int) else 1
    return exit_status(worker)


def exit_status(worker: WorkerApp) -> int:
    """0 after a stop, EXIT_FATAL after a batch failed (its posts are redelivered to whoever takes the partitions)."""
    if worker.fatal:
        print(f"error: the worker stopped after a batch failed: {worker.fatal}", file=sys.stderr)
        return EXIT_FATAL
    return 0
