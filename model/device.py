"""Where the trainer runs: the device named by `--device` (auto = cuda when PyTorch sees a GPU), and the mixed
precision used there. On the CPU nothing changes: float32, no autocast, no scaler (the losses are the same to the
bit as before the device code; tests/model/test_trainer.py)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

__all__ = ["Placement", "placement"]


@dataclass(frozen=True)
class Placement:
    device: torch.device
    amp_dtype: torch.dtype | None  # autocast dtype on a GPU: bfloat16 where supported, else float16 (with a scaler)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        """Mixed precision on a GPU; nothing on the CPU."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """Loss scaling for float16 (bfloat16 has float32's range and needs none); disabled otherwise."""
        return torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)


def placement(name: str = "auto") -> Placement:
    """'auto' | 'cpu' | 'cuda' -> the device and its mixed precision. 'cuda' without a GPU is an error, said plainly."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return Placement(torch.device("cpu"), None)
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda: PyTorch sees no GPU here (torch.cuda.is_available() is False)")
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick its fastest kernels
        return Placement(torch.device("cuda"), torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    raise ValueError(f"unknown device {name!r} (auto, cpu or cuda)")
