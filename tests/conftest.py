"""Session fixtures: the real Kafka, Redis and Triton, given by address or started by the local stack."""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from stream.localstack import StackConfig, down, status, up

ENV_KEYS = ("EMOSTREAM_KAFKA_BOOTSTRAP", "EMOSTREAM_REDIS_URL", "EMOSTREAM_TRITON_GRPC_URL", "EMOSTREAM_TRITON_HTTP_URL")


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    redis_url: str
    triton_grpc_url: str
    triton_http_url: str

    @property
    def triton_model_repo(self) -> Path:
        """The folder the Triton server serves (EMOSTREAM_TRITON_MODEL_REPO, else the local stack's)."""
        return Path(os.environ.get("EMOSTREAM_TRITON_MODEL_REPO") or StackConfig().triton_model_repo)


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
    manifest: "object"
    bundle_path: "object"
    test_metrics: dict
    checkpoints: "object"
    epochs: int


@pytest.fixture(scope="session")
def demo_bundle(tmp_path_factory) -> TrainedDemo:
    """A model bundle trained for real on a small synthetic demo set (64 px images so it fits a CPU test run)."""
    from model.config import ModelConfig, TrainConfig
    from model.demo_data import generate
    from model.train import build_model, fit, prepare
    from model.bundle import save_bundle
    from model.metrics import evaluate_heads

    root = tmp_path_factory.mktemp("demo")
    manifest = generate(root / "data", n=960, seed=1)
    cfg = TrainConfig(lr=0.001, max_epochs=15, patience=4, seed=1, checkpoint_dir=root / "checkpoints")
    prep = prepare(manifest, cfg, ModelConfig(image_size=64), log=lambda *_: None)
    model = build_model(prep, cfg, root / "cache", log=lambda *_: None)
    history = fit(model, prep.splits["train"], prep.splits["val"], cfg, log=lambda *_: None, progress=False)
    test = evaluate_heads(model, prep.splits["test"])
    path = save_bundle(root / "bundles", model, prep, cfg, history, test)
    return TrainedDemo(manifest, path, test, root / "checkpoints", len(history))


@dataclass(frozen=True)
class Served:
    prefix: str
    bundle_path: Path
    version: int


def serve_bundle(stack: Endpoints, bundle_path: Path, prefix: str, **opts) -> int:
    """Export a bundle under a model-name prefix into the server's repository and load its ensembles."""
    from model.export import deploy

    return deploy(bundle_path, stack.triton_model_repo, stack.triton_http_url, prefix, **opts)


def unserve(stack: Endpoints, prefix: str) -> None:
    from model.export import undeploy

    undeploy(stack.triton_model_repo, stack.triton_http_url, prefix)


@pytest.fixture(scope="session")
def served(stack, demo_bundle) -> Served:
    """The demo bundle exported (cpu target) and loaded into the real Triton under a unique prefix."""
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    version = serve_bundle(stack, demo_bundle.bundle_path, prefix)
    yield Served(prefix, demo_bundle.bundle_path, version)
    unserve(stack, prefix)
