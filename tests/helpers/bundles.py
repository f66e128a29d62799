"""Bundles made for tests from a trained one."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import torch


def perturbed_copy(src: Path, dst: Path) -> Path:
    """Another bundle: same vocabularies, different weights and version (as a retrained model would be)."""
    shutil.copytree(src, dst)
    state = torch.load(dst / "weights.pt", weights_only=True)
    g = torch.Generator().manual_seed(7)
    state = {k: v + 0.05 * torch.randn(v.shape, generator=g) if v.is_floating_point() else v for k, v in state.items()}
    torch.save(state, dst / "weights.pt")
    meta = json.loads((dst / "bundle.json").read_text())
    meta["version"] = "reloaded-" + uuid.uuid4().hex[:6]
    (dst / "bundle.json").write_text(json.dumps(meta))
    return dst
