"""A small SYNTHETIC dataset in which every modality carries a learnable, noisy signal (for demos and tests).

Not the paper's data. Images are real photos shipped by scikit-image, randomly cropped and tinted with a
colour per emotion; texts mix common English words (the vocabulary of gensim's bundled test vectors) with
emotion keywords; tags mix generic tags with emotion tags. Each modality shows the true emotion only with
probability `signal` (else another emotion's cue), so combining modalities helps, as in the paper.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from PIL import Image

from contracts.combos import Combo
from contracts.labels import EMOTIONS
from core.manifest import write_manifest
from core.synthetic import make_tags, make_text

# Real photos that scikit-image ships inside its wheel (no download).
PHOTOS = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "camera.png",
    "coins.png",
    "moon.png",
    "page.png",
    "text.png",
    "grass.png",
    "gravel.png",
    "brick.png",
)
TINT = {  # RGB tint per emotion
    "amusement": (255, 210, 0),
    "anger": (220, 0, 0),
    "awe": (90, 0, 200),
    "contentment": (0, 190, 80),
    "excitement": (255, 110, 0),
    "disgust": (110, 130, 0),
    "fear": (0, 0, 0),
    "sadness": (40, 90, 230),
}
# Share of each modality combination in the training data (val/test are trimodal, as in the paper's test set).
TRAIN_MIX = {"image_text_tags": 0.6, "image_tags": 0.15, "image_text": 0.05, "image": 0.1, "text": 0.05, "tags": 0.05}


def photos() -> list[Image.Image]:
    """The scikit-image photos the demo images are cut from."""
    import skimage.data

    base = Path(skimage.data.__file__).parent
    return [Image.open(base / name).convert("RGB") for name in PHOTOS if (base / name).exists()]


def _cue(rng: random.Random, emotion: str, signal: float) -> str:
    return emotion if rng.random() < signal else rng.choice([e for e in EMOTIONS if e != emotion])


def make_image(rng: random.Random, photos: list[Image.Image], emotion: str | None, size: int = 160) -> Image.Image:
    """A photo crop tinted with the emotion's colour (None, a neutral post: untinted)."""
    photo = rng.choice(photos)
    w, h = photo.size
    side = int(min(w, h) * rng.uniform(0.5, 1.0))
    x, y = rng.randint(0, w - side), rng.randint(0, h - side)
    crop = np.asarray(photo.crop((x, y, x + side, y + side)).resize((size, size)), dtype=np.float32)
    if emotion is None:
        return Image.fromarray(crop.astype(np.uint8))
    tint = np.array(TINT[emotion], dtype=np.float32)
    alpha = rng.uniform(0.35, 0.55)
    return Image.fromarray((crop * (1 - alpha) + tint * alpha).clip(0, 255).astype(np.uint8))


def generate(
    out: Path,
    n: int = 1000,
    seed: int = 0,
    signal: float = 0.7,
    test_share: float = 0.15,
    val_share: float = 0.1,
    neutral_share: float = 0.2,
) -> Path:
    """Write out/manifest.jsonl and out/images/*.jpg; return the manifest path. `n` posts with an emotion, then
    `neutral_share` * n neutral ones (no cue in any modality: untinted crop, filler words, generic tags)."""
    rng = random.Random(seed)
    pics = photos()
    (out / "images").mkdir(parents=True, exist_ok=True)
    combos, weights = zip(*TRAIN_MIX.items(), strict=True)
    rows = []
    for i in range(n + round(n * neutral_share)):
        emotion = EMOTIONS[i % len(EMOTIONS)] if i < n else None
        r = rng.random()
        split = "test" if r < test_share else "val" if r < test_share + val_share else "train"
        combo = Combo.parse("image_text_tags" if split != "train" else rng.choices(combos, weights)[0])
        row = {"id": f"demo-{seed}-{i:05d}", "emotion": emotion, "neutral": emotion is None, "split": split}
        if "image" in combo:
            path = f"images/{row['id']}.jpg"
            make_image(rng, pics, emotion and _cue(rng, emotion, signal)).save(out / path, quality=90)
            row["image"] = path
        if "text" in combo:
            row["text"] = make_text(rng, emotion and _cue(rng, emotion, signal))
        if "tags" in combo:
            row["tags"] = make_tags(rng, emotion and _cue(rng, emotion, signal))
        rows.append(row)
    manifest = out / "manifest.jsonl"
    write_manifest(manifest, rows)
    summary = {"source": "synthetic demo posts (model/demo_data.py: generated sentences, tags and photo crops)"}
    (out / "summary.json").write_text(
        json.dumps({**summary, "rows": len(rows), "neutral": len(rows) - n, "seed": seed, "signal": signal}, indent=1)
    )
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="emostream demo-data", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("artifacts/demo-data"))
    ap.add_argument("--n", type=int, default=1000, help="number of examples with an emotion")
    ap.add_argument("--neutral-share", type=float, default=0.2, help="neutral examples, per example with an emotion")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--signal", type=float, default=0.7, help="probability that a modality shows the true emotion")
    args = ap.parse_args(argv)
    path = generate(args.out, args.n, args.seed, args.signal, neutral_share=args.neutral_share)
    print(f"wrote {path} ({args.n} synthetic examples with an emotion + neutral ones, seed {args.seed})")
    return 0
