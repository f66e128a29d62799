"""The pretrained image encoder through export and Triton (`emostream imagenet-check`): the bundle's backbone with
its ImageNet head, exported by the exporter's own code, scores scikit-learn's photos as PyTorch does (1e-4), for each
backbone; with EfficientNet-Lite0's installed weights, the classes fit the photos."""

import pytest

from bench.common import random_bundle
from emostream.imagenet_check import check

from ..model.test_backbones import TEMPLE

pytestmark = pytest.mark.stack


@pytest.mark.parametrize(
    "backbone,weights", [("efficientnet-lite0", "imagenet"), ("densenet121", "none")], ids=["lite0", "densenet"]
)
def test_triton_scores_the_photos_as_pytorch(stack, backbone, weights):
    bundle = random_bundle(224, 50, 20, backbone, weights)
    report = check(bundle, stack.triton_model_repo, stack.triton_http_url, weights=weights)
    assert report["backbone"] == backbone and report["max_abs_diff"] < 1e-4, report
    assert report["triton"].keys() == report["pytorch"].keys() == {"china.jpg", "flower.jpg"}
    for photo in report["pytorch"]:
        assert [c for c, _ in report["triton"][photo]] == [c for c, _ in report["pytorch"][photo]]
    if weights == "imagenet":
        assert report["pytorch"]["china.jpg"][0][0] in TEMPLE, report
    assert not list(stack.triton_model_repo.glob("*imagenet_probe*"))  # unloaded and removed
