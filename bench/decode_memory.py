"""Peak memory of decoding one image, per format (the numbers behind model/imaging.py's BYTES_PER_PIXEL and the
worker's RSS bound). Each decode runs in a fresh process; the growth of its peak RSS is divided by the pixels.

python -m bench.decode_memory [--megapixels 16]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from .common import write_result

PROBE = """
import sys
from model.imaging import decode_image


def peak_kib():  # VmHWM: this process's peak RSS (ru_maxrss would include the parent's, kept across exec)
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))


data = open(sys.argv[1], "rb").read()
before = peak_kib()
decode_image(data, 224, budget_bytes=10**12)
print(peak_kib() - before)
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=16)
    args = ap.parse_args(argv)
    side = int((args.megapixels * 1e6) ** 0.5)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (side, side, 4), dtype=np.uint8)
    folder = Path(tempfile.mkdtemp())
    files = {
        "JPEG": (Image.fromarray(noise[..., :3], "RGB"), {"quality": 80}),
        "PNG": (Image.fromarray(noise, "RGBA"), {"compress_level": 1}),
        "WEBP": (Image.fromarray(noise[..., :3], "RGB"), {"quality": 50}),
        "BMP": (Image.fromarray(noise[..., :3], "RGB"), {}),
        "GIF": (Image.fromarray(noise[..., 0], "L").convert("P"), {}),
    }
    result = {}
    print(f"decode of a {side}x{side} image ({side * side / 1e6:.1f} MP) to 224x224: peak RSS growth")
    for fmt, (img, opts) in files.items():
        path = folder / f"x.{fmt.lower()}"
        img.save(path, fmt, **opts)
        kib = int(
            subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True).stdout
        )
        result[fmt] = {
            "megapixels": side * side / 1e6,
            "peak_mib": kib / 1024,
            "bytes_per_pixel": kib * 1024 / (side * side),
        }
        print(f"  {fmt:5s} {kib / 1024:8.1f} MiB  {result[fmt]['bytes_per_pixel']:6.2f} bytes/pixel", flush=True)
    write_result("decode_memory", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
