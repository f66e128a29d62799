"""`emostream imagenet-check`: is a bundle's image encoder really the pretrained ImageNet CNN, in PyTorch and once
exported to Triton?

The bundle's image backbone (what its `image_encoder` serves) is put back under its ImageNet classifier (from the
same weights the trainer started from, model/backbones.py) and shown the two photos scikit-learn ships (a Chinese
temple, a flower), preprocessed as the worker does (core/imaging.py). A random or broken backbone gives classes
unrelated to the photos. The same probe is exported with the exporter's own code to a running Triton
(`<prefix>imagenet_probe`, cpu target) and its probabilities compared with PyTorch's.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import uuid
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from contracts import triton as tc
from core.imaging import decode_image
from model.backbones import imagenet_categories, imagenet_classifier
from model.bundle import Bundle, load_bundle

PROBS = tc.Tensor("imagenet_probs", "FP32", "float32")
TOP = 5


class ImageNetProbe(nn.Module):
    """uint8 (B, S, S, 3) -> ImageNet class probabilities (B, 1000) through the bundle's image backbone."""

    def __init__(self, bundle: Bundle, weights: str = "imagenet"):
        super().__init__()
        self.image = bundle.model.image
        self.classifier = imagenet_classifier(bundle.config.image_backbone, weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.classifier(self.image.pooled(images)), dim=1)


def sample_photos(size: int) -> dict[str, np.ndarray]:
    """scikit-learn's two sample photos (shipped with it; no download), as the worker decodes an image post."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    out = {}
    for path, pixels in zip(photos.filenames, photos.images, strict=True):
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="JPEG", quality=95)
        out[Path(path).name] = decode_image(buf.getvalue(), size)
    return out


def top(probs: np.ndarray, k: int = TOP) -> list[tuple[str, float]]:
    names = imagenet_categories()
    return [(names[i], float(probs[i])) for i in np.argsort(-probs)[:k]]


@torch.no_grad()
def pytorch_probs(probe: ImageNetProbe, images: np.ndarray) -> np.ndarray:
    return probe.eval()(torch.from_numpy(images)).numpy()


def triton_probs(probe: ImageNetProbe, images: np.ndarray, repo_dir: Path, http_url: str) -> np.ndarray:
    """Export the probe into the folder a running Triton serves (explicit model control), infer, unload, delete."""
    import tritonclient.http as httpclient

    from model.export import ExportOptions, write_model

    name = f"p{uuid.uuid4().hex[:8]}_imagenet_probe"
    size = images.shape[1]
    ins, outs = [(tc.INPUTS["image"], [size, size, 3])], [(PROBS, [1000])]
    repo_dir = Path(repo_dir)
    staging = repo_dir / f".onnx-{name}"
    write_model(
        {"cpu": repo_dir},
        name,
        1,
        probe.eval(),
        (torch.zeros(1, size, size, 3, dtype=torch.uint8),),
        ins,
        outs,
        8,
        {},
        ExportOptions(targets=("cpu",)),
        staging,
    )
    shutil.rmtree(staging, ignore_errors=True)
    client = httpclient.InferenceServerClient(http_url, network_timeout=600)
    try:
        client.load_model(name)
        inp = httpclient.InferInput(tc.INPUTS["image"].name, list(images.shape), "UINT8")
        inp.set_data_from_numpy(images)
        return client.infer(name, [inp], outputs=[httpclient.InferRequestedOutput(PROBS.name)]).as_numpy(PROBS.name)
    finally:
        try:
            client.unload_model(name)
        finally:
            client.close()
            shutil.rmtree(repo_dir / name, ignore_errors=True)


def check(
    bundle_path: Path, repo_dir: Path | None = None, http_url: str | None = None, weights: str = "imagenet"
) -> dict:
    """Top-5 ImageNet classes of each sample photo from PyTorch (and Triton, given its repository and URL), with the
    largest probability difference between the two. `weights`: where the ImageNet head comes from (model/backbones)."""
    bundle = load_bundle(bundle_path)
    probe = ImageNetProbe(bundle, weights)
    photos = sample_photos(bundle.image_size)
    images = np.stack(list(photos.values()))
    ours = pytorch_probs(probe, images)
    report = {
        "bundle": str(bundle.path),
        "backbone": bundle.config.image_backbone,
        "image_size": bundle.image_size,
        "pytorch": {name: top(p) for name, p in zip(photos, ours, strict=True)},
    }
    if http_url:
        served = triton_probs(probe, images, repo_dir, http_url)
        report["triton"] = {name: top(p) for name, p in zip(photos, served, strict=True)}
        report["max_abs_diff"] = float(np.abs(served - ours).max())
    return report


def markdown(report: dict) -> str:
    rows = [f"| photo | {' | '.join(s.capitalize() if s != 'pytorch' else 'PyTorch' for s in _sides(report))} |"]
    rows.append("|---" * (1 + len(_sides(report))) + "|")
    for photo in report["pytorch"]:
        cells = [", ".join(f"{n} {p:.2f}" for n, p in report[side][photo]) for side in _sides(report)]
        rows.append(f"| {photo} | {' | '.join(cells)} |")
    return "\n".join(rows)


def _sides(report: dict) -> list[str]:
    return [s for s in ("pytorch", "triton") if s in report]


def main(argv: list[str] | None = None) -> int:
    from devstack import StackConfig

    stack = StackConfig()
    ap = argparse.ArgumentParser(prog="emostream imagenet-check", description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=Path("artifacts/bundles/latest"))
    ap.add_argument("--no-triton", action="store_true", help="PyTorch only")
    ap.add_argument("--repo", type=Path, default=stack.triton_model_repo, help="the running Triton's model folder")
    ap.add_argument("--triton-http-url", default=stack.triton_http_url)
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    url = None if args.no_triton else args.triton_http_url
    report = check(args.bundle, args.repo, url)
    print(f"bundle {report['bundle']}: backbone {report['backbone']}, {report['image_size']} px")
    print(markdown(report))
    if "max_abs_diff" in report:
        print(f"largest |Triton - PyTorch| over the 1000 probabilities: {report['max_abs_diff']:.2e}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return 0
