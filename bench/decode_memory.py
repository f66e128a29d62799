"""Peak memory of decoding one image, for every format and mode the worker accepts (the numbers behind
core/imaging.py's DECODE_COST and the worker's RSS bound). Each decode runs in a fresh process and its peak RSS growth
is measured at two sizes; the linear fit (bytes per pixel + fixed) predicts the peak of the largest image the decode
budget lets through, which must stay within the budget. Noise images (incompressible: no decoder shortcut).

Each peak is the median of --repeat fresh processes (3).

python -m bench.decode_memory [--megapixels 4 16] [--repeat 3]
(exit status 1 when a mode's peak at its cap exceeds the budget)
"""

from __future__ import annotations

import argparse
import io
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from core.imaging import DECODE_BUDGET, decode_cost, max_pixels

from .common import add_repeat, repeated, write_result

PROBE = """
import sys
from core.imaging import decode_image


def peak_kib():  # VmHWM: this process's peak RSS (ru_maxrss would include the parent's, kept across exec)
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))


data = open(sys.argv[1], "rb").read()
before = peak_kib()
decode_image(data, 224, budget_bytes=10**12)
print(peak_kib() - before)
"""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(rgb: np.ndarray, bit_depth: int = 8, interlace: bool = False) -> bytes:
    """An RGB PNG Pillow cannot write: 16 bits per sample and/or Adam7-interlaced (filter 0, fast compression)."""
    h, w, _ = rgb.shape
    px = rgb.astype(">u2") * 257 if bit_depth == 16 else rgb.astype(np.uint8)
    passes = (
        [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]
        if interlace
        else [(0, 0, 1, 1)]
    )
    raw = bytearray()
    for y0, x0, dy, dx in passes:
        sub = px[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        rows = sub.reshape(sub.shape[0], -1).view(np.uint8)
        raw += np.hstack([np.zeros((rows.shape[0], 1), np.uint8), rows]).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, 2, 0, 0, 1 if interlace else 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), 1))
        + _chunk(b"IEND", b"")
    )


def _save(img: Image.Image, fmt: str, **opts) -> bytes:
    ImageFile.MAXBLOCK = max(ImageFile.MAXBLOCK, img.width * img.height * 4)  # progressive JPEG of noise: one block
    with tempfile.TemporaryFile() as f:
        img.save(f, fmt, **opts)
        f.seek(0)
        return f.read()


def samples(side: int) -> dict[str, bytes]:
    """One file per (format, mode) the worker accepts, `side` x `side` pixels."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (side, side, 4), dtype=np.uint8)
    rgb, rgba, grey = (
        Image.fromarray(noise[..., :3], "RGB"),
        Image.fromarray(noise, "RGBA"),
        Image.fromarray(noise[..., 0]),
    )
    colour = rgb.quantize(256, method=Image.Quantize.FASTOCTREE)
    frames = [Image.fromarray(np.roll(noise[..., :3], k, axis=0), "RGB") for k in (1, 2)]
    return {
        "JPEG baseline": _save(rgb, "JPEG", quality=80),
        "JPEG baseline 4:4:4": _save(rgb, "JPEG", quality=80, subsampling=0),
        "JPEG progressive": _save(rgb, "JPEG", quality=80, progressive=True),
        "JPEG progressive 4:4:4": _save(rgb, "JPEG", quality=80, progressive=True, subsampling=0),
        "JPEG grey progressive": _save(grey, "JPEG", quality=80, progressive=True),
        "JPEG CMYK": _save(rgb.convert("CMYK"), "JPEG", quality=80),
        "JPEG CMYK progressive": _save(rgb.convert("CMYK"), "JPEG", quality=80, progressive=True),
        "PNG RGB": _save(rgb, "PNG", compress_level=1),
        "PNG RGBA": _save(rgba, "PNG", compress_level=1),
        "PNG grey": _save(grey, "PNG", compress_level=1),
        "PNG palette": _save(colour, "PNG", compress_level=1),
        "PNG grey 16-bit": _save(Image.fromarray(noise[..., 0].astype(np.uint16) * 257), "PNG", compress_level=1),
        "PNG RGB 16-bit": png_bytes(noise[..., :3], 16),
        "PNG RGB interlaced": png_bytes(noise[..., :3], 8, interlace=True),
        "PNG RGB 16-bit interlaced": png_bytes(noise[..., :3], 16, interlace=True),
        "GIF grey": _save(grey.convert("P"), "GIF"),
        "GIF colour": _save(colour, "GIF"),
        "GIF colour transparent": _save(colour, "GIF", transparency=0),
        "GIF animated": _save(colour, "GIF", save_all=True, append_images=[f.quantize(256) for f in frames]),
        "WEBP lossy": _save(rgb, "WEBP", quality=50),
        "WEBP lossless RGBA": _save(rgba, "WEBP", lossless=True, quality=0, method=0),
        "WEBP animated": _save(rgb, "WEBP", quality=50, save_all=True, append_images=frames),
        "BMP RGB": _save(rgb, "BMP"),
        "BMP RGBA": _save(rgba, "BMP"),
        "BMP palette": _save(colour, "BMP"),
        "BMP 1-bit": _save(grey.convert("1"), "BMP"),
    }


def _peak_kib(path: Path) -> int:
    run = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
    return int(run.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, nargs=2, default=(4, 16), help="the two sizes measured")
    add_repeat(ap)
    args = ap.parse_args(argv)
    sides = [int((mp * 1e6) ** 0.5) for mp in args.megapixels]
    folder = Path(tempfile.mkdtemp())
    peaks: dict[str, list] = {}
    spreads: list[float] = []
    for side in sides:
        for name, data in samples(side).items():
            path = folder / "x.img"
            path.write_bytes(data)
            with Image.open(io.BytesIO(data)) as img:
                cost = decode_cost(img)
            runs = repeated([_peak_kib(path) * 1024 for _ in range(args.repeat)])  # a fresh process each
            spreads.append(runs["spread"])
            peaks.setdefault(name, []).append((side * side, runs["median"], cost))
    budget = DECODE_BUDGET
    print(
        f"peak RSS growth of one decode to 224x224 (median of {args.repeat}), at "
        f"{' and '.join(f'{mp:g}' for mp in args.megapixels)} MP; linear fit; the cap {budget / 2**20:.0f} MiB gives "
        f"and the predicted peak there; widest spread of a peak: {max(spreads):.1%}"
    )
    print(
        f"  {'format and mode':28s} {'bytes/px':>8s} {'fixed MiB':>9s} {'budgeted':>8s} {'cap MP':>7s} {'at cap':>7s}"
    )
    result = {}
    for name, ((p1, b1, cost), (p2, b2, _)) in peaks.items():
        slope = (b2 - b1) / (p2 - p1)
        fixed = max(0.0, b1 - slope * p1)
        cap = max_pixels(cost, budget)
        at_cap = fixed + slope * cap
        result[name] = {
            "peak_mib": {f"{p1 / 1e6:.1f}": b1 / 2**20, f"{p2 / 1e6:.1f}": b2 / 2**20},
            "bytes_per_pixel": slope,
            "fixed_mib": fixed / 2**20,
            "budgeted_bytes_per_pixel": cost,
            "cap_megapixels": cap / 1e6,
            "peak_at_cap_mib": at_cap / 2**20,
            "within_budget": at_cap <= budget,
        }
        flag = "" if at_cap <= budget else "  OVER"
        print(
            f"  {name:28s} {slope:8.2f} {fixed / 2**20:9.1f} {cost:8.2f} {cap / 1e6:7.1f} {at_cap / 2**20:7.1f}{flag}",
            flush=True,
        )
    write_result("decode_memory", {"repeat": args.repeat, "widest_peak_spread": max(spreads), "modes": result})
    return 0 if all(r["within_budget"] for r in result.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
