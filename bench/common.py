"""Shared pieces of the benchmarks: a random-weight bundle (speed does not depend on the weights), serving it
under a prefix on the running local Triton, and percentile helpers."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from core.tokenizer import Tokenizer, Vocab
from devstack import StackConfig, up
from model.architecture import EmotionNet
from model.bundle import save_bundle
from model.config import ModelConfig, TrainConfig
from model.export import deploy, undeploy

ROOT = Path(__file__).resolve().parents[1]


def random_bundle(
    image_size: int = 224,
    n_words: int = 5000,
    n_tags: int = 2000,
    backbone: str = "densenet121",
    image_weights: str = "none",
) -> Path:
    """A bundle with random weights (the image backbone's: `image_weights`) and synthetic vocabularies w0..wN /
    t0..tN. The backbone defaults to the paper's DenseNet-121, which the README's benchmark figures were measured
    with (bench/backbones.py compares)."""
    import torch

    torch.manual_seed(0)
    tok = Tokenizer(
        Vocab(["<PAD>", "<UNK>", *[f"w{i}" for i in range(n_words - 2)]]),
        Vocab(["<PAD>", "<UNK>", *[f"t{i}" for i in range(n_tags - 2)]]),
    )
    cfg = ModelConfig(  # with a neutral gate, as trained bundles have
        n_words=n_words, n_tags=n_tags, image_size=image_size, neutral_gate=True, image_backbone=backbone
    )
    prep = SimpleNamespace(
        tokenizer=tok,
        model_cfg=cfg,
        manifest_sha256="0" * 64,
        coverage=None,
        languages=None,  # synthetic words: no language, so no text is judged foreign
        trained_on=lambda: {"source": "nothing: random weights for the benchmarks (bench/common.py)"},
    )
    root = Path(tempfile.mkdtemp(prefix="emostream-bench-"))
    trained = TrainConfig(image_backbone=backbone, image_weights=image_weights)
    return save_bundle(root, EmotionNet(cfg, image_weights).eval(), prep, trained, [], {})


def serve(bundle_path: Path, prefix: str, combos: list[str], **opts) -> StackConfig:
    """Export (cpu target) under `prefix` into the stack's repository and load the given ensembles."""
    cfg = StackConfig()
    up(cfg, log=lambda *_: None)
    deploy(bundle_path, cfg.triton_model_repo, cfg.triton_http_url, prefix, combos, **opts)
    return cfg


def unserve(prefix: str) -> None:
    cfg = StackConfig()
    undeploy(cfg.triton_model_repo, cfg.triton_http_url, prefix)


def perf_analyzer(
    model: str, url: str, concurrency: int, requests: int, batch: int = 1, shapes: dict[str, int] | None = None
) -> tuple[float, float]:
    """(inferences/s, p50 latency ms) from perf_analyzer 2.51 with zero-valued inputs (`shapes`: the length of each
    variable-length input, e.g. text_ids); RuntimeError with its output when it fails (a 2-core box shared by server
    and clients is noisy)."""
    out = Path(tempfile.mkdtemp()) / "pa.csv"
    cmd = [
        str(ROOT / ".venv" / "bin" / "perf_analyzer"),
        "-m",
        model,
        "-u",
        url,
        "-i",
        "grpc",
        "-b",
        str(batch),
        "--concurrency-range",
        f"{concurrency}:{concurrency}",
        "--input-data",
        "zero",
        "--measurement-mode",
        "count_windows",
        "--measurement-request-count",
        str(requests),
        "--stability-percentage",
        "50",
        "--max-trials",
        "6",
        "-f",
        str(out),
        *(f"--shape={name}:{n}" for name, n in (shapes or {}).items()),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=perf_analyzer_env(), timeout=900)
    if res.returncode != 0 or not out.exists():
        last = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else res.stderr[-300:]
        raise RuntimeError(f"perf_analyzer {model} c={concurrency} b={batch}: {last}")
    row = next(csv.DictReader(out.open()))
    return float(row["Inferences/Second"]), float(row["p50 latency"]) / 1000


def write_result(name: str, data: dict, out: Path | None = None) -> Path:
    """A benchmark's numbers as artifacts/bench/<name>.json (or `out`), so runs can be compared."""
    out = out or ROOT / "artifacts" / "bench" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"benchmark": name, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **data}, indent=1)
    )
    print(f"results: {out}")
    return out


def triton_stats(url: str, prefix: str) -> dict[str, dict[str, int]]:
    """Triton's own cumulative counters for each model served under `prefix` (name without it -> requests,
    executions, inferences, and the nanoseconds requests spent queued and computing)."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url)
    try:
        stats = client.get_inference_statistics("", as_json=True).get("model_stats", [])
    finally:
        client.close()
    out = {}
    for m in stats:
        if not m["name"].startswith(prefix):
            continue
        inf = m.get("inference_stats", {})
        total = out.setdefault(m["name"][len(prefix) :], dict.fromkeys(TRITON_COUNTERS, 0))
        total["requests"] += int(inf.get("success", {}).get("count", 0))
        total["executions"] += int(m.get("execution_count", 0))
        total["inferences"] += int(m.get("inference_count", 0))
        for key in ("queue", "compute_input", "compute_infer", "compute_output"):
            total[f"{key}_ns"] += int(inf.get(key, {}).get("ns", 0))
    return out


TRITON_COUNTERS = (
    "requests",
    "executions",
    "inferences",
    "queue_ns",
    "compute_input_ns",
    "compute_infer_ns",
    "compute_output_ns",
)


def triton_breakdown(before: dict, after: dict) -> dict[str, dict[str, float]]:
    """Per model between two `triton_stats` snapshots: requests, executions, mean batch (inferences per
    execution), and per request the mean ms it queued and computed (input + infer + output of the execution it was
    part of: Triton sums those per request)."""
    out = {}
    for name, a in after.items():
        d = {k: a[k] - before.get(name, {}).get(k, 0) for k in TRITON_COUNTERS}
        if not d["requests"]:
            continue
        compute = d["compute_input_ns"] + d["compute_infer_ns"] + d["compute_output_ns"]
        out[name] = {
            "requests": d["requests"],
            "executions": d["executions"],
            "mean_batch": d["inferences"] / max(1, d["executions"]),
            "queue_ms_per_request": d["queue_ns"] / 1e6 / d["requests"],
            "compute_ms_per_request": compute / 1e6 / d["requests"],
            "compute_s": compute / 1e9,
        }
    return out


REPEATS = 3  # every benchmark the README quotes runs this many times in one invocation (--repeat)
WIDE = 0.20  # a figure whose spread, (max - min) / median, is wider than this says so


def repeated(runs: list):
    """Runs of one measurement, each the same nested structure, folded into one: every number becomes
    {"median", "min", "max", "spread", "runs"} (spread = (max - min) / |median|); dicts are folded key by key
    (keys every run has); anything else is the first run's."""
    first = runs[0]
    if isinstance(first, dict):
        return {k: repeated([r[k] for r in runs]) for k in first if all(isinstance(r, dict) and k in r for r in runs)}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        vals = [float(r) for r in runs]
        med = float(np.median(vals))
        spread = (max(vals) - min(vals)) / abs(med) if med else float("nan")
        return {"median": med, "min": min(vals), "max": max(vals), "spread": spread, "runs": vals}
    return first


def add_repeat(ap) -> None:
    """The `--repeat` option every benchmark the README quotes takes."""
    ap.add_argument(
        "--repeat", type=int, default=REPEATS, help="rounds side by side in this run, folded into median and min-max"
    )


def side_by_side_args(doc: str, argv: list[str] | None):
    """The options of a side-by-side benchmark: --quick (fewer posts: a smoke run, not a measurement) and --repeat."""
    import argparse

    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer posts (a smoke run, not a measurement)")
    add_repeat(ap)
    return ap.parse_args(argv)


def stat(s: dict, digits: int = 1) -> str:
    """`median (min-max)` of a `repeated` number, with a `!` after it when its spread is wider than WIDE."""
    text = f"{s['median']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"
    return text + ("!" if s["spread"] > WIDE else "")


def pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def perf_analyzer_env() -> dict:
    """perf_analyzer from the tritonclient 2.51 wheel needs libb64 (Debian libb64-0d) and a libcudart.so.12,
    which the nvidia-pytriton wheel of the stack ships under a mangled name."""
    libs = ROOT / ".stack" / "perf-libs"
    libs.mkdir(parents=True, exist_ok=True)
    link = libs / "libcudart.so.12"
    if not link.exists():
        found = sorted((ROOT / ".stack" / "triton" / "venv").rglob("nvidia_pytriton.libs/libcudart-*.so.12*"))
        if not found:
            raise RuntimeError("libcudart from the nvidia-pytriton wheel not found: run `emostream stack up` first")
        link.symlink_to(found[0])
    if subprocess.run(["sh", "-c", "ldconfig -p | grep -q libb64.so.0d"]).returncode != 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "libb64-0d"], check=True, capture_output=True)
    return {**os.environ, "LD_LIBRARY_PATH": f"{libs}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
