"""Training examples/s with a frozen (cached features) vs a fine-tuned DenseNet, and PyTorch inference posts/s per head,
measured in one run on this machine with random weights (speed does not depend on them); median (min-max) of --repeat
rounds (3).

python -m bench.model_speed [--repeat 3]      (results: artifacts/bench/model_speed.json)"""

from __future__ import annotations

import argparse
import time

import torch

from contracts.combos import COMBO_NAMES, MODALITIES, Combo
from core.tokenizer import Tokenizer
from model.architecture import EmotionNet
from model.backbones import BACKBONES
from model.config import ModelConfig
from model.device import Placement, placement
from model.loss import multitask_loss

from .common import add_repeat, repeated, stat, write_result


def _batch(n: int, cfg: ModelConfig, pooled: bool, combo: str = "image_text_tags"):
    g = torch.Generator().manual_seed(0)
    b = {
        "mask": torch.tensor([[m in Combo.parse(combo) for m in MODALITIES]] * n),
        "text": torch.randint(1, cfg.n_words, (n, Tokenizer.max_words), generator=g),
        "tags": torch.randint(1, cfg.n_tags, (n, Tokenizer.max_tags), generator=g),
    }
    if pooled:
        b["image_pooled"] = torch.randn(n, BACKBONES[cfg.image_backbone].features, generator=g)
    else:
        b["image"] = torch.randint(0, 256, (n, cfg.image_size, cfg.image_size, 3), dtype=torch.uint8, generator=g)
    return b


def train_rate(
    net: EmotionNet, cfg: ModelConfig, frozen: bool, steps: int, n: int = 64, where: Placement | None = None
) -> float:
    """Trimodal training examples/s over `steps` batches of `n`, as model/train.py `fit` steps: on `where` (the CPU by
    default), with its mixed precision and loss scaling, after one untimed warm-up step."""
    where = where or placement("cpu")
    net.to(where.device)
    net.image.backbone.requires_grad_(not frozen)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    scaler = where.scaler()
    batch = {k: v.to(where.device) for k, v in _batch(n, cfg, pooled=frozen).items()}
    emo, sent = torch.randint(0, 8, (n,), device=where.device), torch.randint(0, 2, (n,), device=where.device)
    net.train()

    def step():
        with where.autocast():
            loss, _ = multitask_loss(net(batch), emo, sent, n)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    step()
    if where.cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if where.cuda:
        torch.cuda.synchronize()
    rate = steps * n / (time.perf_counter() - t0)
    net.to("cpu")
    return rate


@torch.no_grad()
def infer_rate(net: EmotionNet, cfg: ModelConfig, combo: str, n: int = 32, reps: int = 3) -> float:
    net.eval()
    batch = _batch(n, cfg, pooled=False, combo=combo)
    net(batch, heads=(combo,))
    t0 = time.perf_counter()
    for _ in range(reps):
        net(batch, heads=(combo,))
    return reps * n / (time.perf_counter() - t0)


def measure(net: EmotionNet, cfg: ModelConfig) -> dict:
    """One round: training rates (frozen, fine-tuned) and inference posts/s of every head."""
    frozen = train_rate(net, cfg, frozen=True, steps=10)
    tuned = train_rate(net, cfg, frozen=False, steps=1, n=16)
    heads = {c: infer_rate(net, cfg, c, reps=2 if "image" in c else 20) for c in COMBO_NAMES}
    print(
        f"  round: frozen {frozen:.1f}, fine-tuned {tuned:.2f}, " + ", ".join(f"{c} {v:.1f}" for c, v in heads.items())
    )
    return {
        "train_frozen_examples_per_s": frozen,
        "train_finetune_examples_per_s": tuned,
        "frozen_over_finetune": frozen / tuned,
        "inference_posts_per_s": heads,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_repeat(ap)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    cfg = ModelConfig(n_words=5000, n_tags=2000, image_size=224)
    net = EmotionNet(cfg)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, image 224x224, "
        f"batch 64 (train) / 32 (inference), {args.repeat} rounds"
    )
    r = repeated([measure(net, cfg) for _ in range(args.repeat)])
    print(
        f"training, trimodal examples/s, median (min-max): frozen backbone (cached features) "
        f"{stat(r['train_frozen_examples_per_s'])} | fine-tuned DenseNet {stat(r['train_finetune_examples_per_s'], 2)} "
        f"| ratio {stat(r['frozen_over_finetune'], 0)}x"
    )
    print("inference posts/s per head (PyTorch, CPU), median (min-max):")
    for combo, v in r["inference_posts_per_s"].items():
        print(f"  {combo:16s} {stat(v)}")
    write_result("model_speed", {"threads": torch.get_num_threads(), "repeat": args.repeat, **r})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
