"""Session fixtures: the real Kafka, Redis and Triton (given by address or started by the local stack), a bundle
trained for real on the synthetic demo data, and that bundle served by the real Triton."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import StackConfig, down, status, up
from tests.helpers.services import ENV_KEYS, Endpoints, Served, serve_bundle, unserve


@pytest.fixture(scope="session")
def stack() -> Endpoints:
    """Addresses of the services. All four EMOSTREAM_* address variables set: use those services as they are.
    Otherwise start the local stack (tests/../.stack) and stop, at the end, the services this session started."""
    if all(os.environ.get(k) for k in ENV_KEYS):
        yield Endpoints(*(os.environ[k] for k in ENV_KEYS))
        return
    cfg = StackConfig()
    already = {s.name for s in status(cfg) if s.state in ("running", "external")}
    up(cfg)
    env = cfg.client_env()
    os.environ.update(env)  # subprocesses (worker, CLI) started by tests find the same services
    yield Endpoints(*(env[k] for k in ENV_KEYS))
    started = [name for name in ("kafka", "redis", "triton") if name not in already]
    if started and os.environ.get("EMOSTREAM_KEEP_STACK") != "1":
        down(cfg, only=started)


@pytest.fixture
def unique() -> str:
    """A short unique suffix so tests never collide on topic, key or model names."""
    return uuid.uuid4().hex[:10]


@dataclass(frozen=True)
class TrainedDemo:
    manifest: Path
    bundle_path: Path
    test_metrics: dict
    checkpoints: Path
    epochs: int


@pytest.fixture(scope="session")
def demo_bundle(tmp_path_factory) -> TrainedDemo:
    """A model bundle trained for real on a small synthetic demo set (64 px images so it fits a CPU test run)."""
    from model.bundle import save_bundle
    from model.config import ModelConfig, TrainConfig
    from model.data import head_examples
    from model.demo_data import generate
    from model.metrics import evaluate_heads
    from model.train import build_model, calibrate_heads, fit, prepare

    root = tmp_path_factory.mktemp("demo")
    manifest = generate(root / "data", n=960, seed=1)
    cfg = TrainConfig(lr=0.001, max_epochs=15, patience=4, seed=1, checkpoint_dir=root / "checkpoints")
    prep = prepare(manifest, cfg, ModelConfig(image_size=64), log=lambda *_: None)
    model = build_model(prep, cfg, root / "cache", log=lambda *_: None)
    history = fit(model, prep.splits["train"], prep.splits["val"], cfg, log=lambda *_: None, progress=False)
    taus = calibrate_heads(model, prep.splits["train"], prep.splits["val"], cfg, log=lambda *_: None)
    test = evaluate_heads(model, prep.splits["test"])
    path = save_bundle(root / "bundles", model, prep, cfg, history, test, head_examples(prep.splits["train"]), taus)
    return TrainedDemo(manifest, path, test, root / "checkpoints", len(history))


@pytest.fixture(scope="session")
def served(stack, demo_bundle) -> Served:
    """The demo bundle exported (cpu target) and loaded into the real Triton under a unique prefix."""
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    version = serve_bundle(stack, demo_bundle.bundle_path, prefix)
    yield Served(prefix, demo_bundle.bundle_path, version)
    unserve(stack, prefix)
