"""Image preprocessing shared by training and serving (Pillow + numpy, no torch): decode, resize, centre-crop to
uint8 HxWx3.

Untrusted bytes: only JPEG, PNG, GIF, WebP and BMP are opened; the size is checked from the header before any pixel
is decoded (a 7,999 x 7,999 PNG is 182 KiB on the wire and ~0.75 GB decoded); JPEGs decode at reduced scale
(draft mode) to about the model's size, so they may be larger than other formats.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "FORMATS",
    "DECODE_COST",
    "DECODE_BUDGET",
    "ImageDecodeError",
    "ImageTooLarge",
    "decode_kind",
    "decode_cost",
    "max_pixels",
    "to_square_uint8",
    "decode_image",
]

FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")
# Peak memory of one decode per pixel of the image, by format, as `python -m bench.decode_memory` measured it for
# every mode of every format at 4 and 16 megapixels (README "Results"): the worst mode, fixed costs included at the
# cap, rounded up. Baseline JPEGs decode in draft mode at 1/2 .. 1/8 scale; palette images (PNG, GIF, BMP) become RGBA
# at full size before resizing; WebP decodes to RGBA plus its own buffers. Progressive JPEGs: `decode_cost`.
DECODE_COST = {"JPEG": 0.5, "PNG": 10.5, "GIF": 10.5, "WEBP": 26.0, "BMP": 10.5}
# A progressive JPEG keeps every DCT coefficient until the last scan: 2 bytes per sample of each component at its
# sampling factor (4:2:0 colour: 1.5 samples per pixel; 4:4:4: 3; CMYK: 4; grey: 1), plus the output.
PROGRESSIVE_BYTES_PER_SAMPLE = 2.0
PROGRESSIVE_OVERHEAD = 0.5
DECODE_BUDGET = 128 * 2**20  # bytes one decode may use: an image whose kind's cost exceeds it is refused
Image.MAX_IMAGE_PIXELS = None  # the per-kind limit of decode_image replaces Pillow's single one


class ImageDecodeError(ValueError):
    """The bytes are not an image of an accepted format, or are damaged."""


class ImageTooLarge(ImageDecodeError):
    """An image whose decode would exceed the memory budget (refused from its header, nothing decoded)."""


def decode_kind(img: Image.Image) -> str:
    """The format, or "JPEG progressive" (10-30x the cost of a baseline JPEG). Other formats' modes differ by
    less than 2x in cost and are budgeted at their format's worst mode. Reads the header only."""
    if img.format == "JPEG" and (img.info.get("progressive") or img.info.get("progression")):
        return "JPEG progressive"
    return img.format


def decode_cost(img: Image.Image) -> float:
    """Bytes of memory one pixel of this image costs to decode, from its header (an opened, not loaded, image)."""
    if decode_kind(img) == "JPEG progressive":
        layers = getattr(img, "layer", None) or [(0, 1, 1, 0)] * 4  # unknown components: budget CMYK
        hmax, vmax = max(h for _, h, _, _ in layers), max(v for _, _, v, _ in layers)
        samples = sum(h * v for _, h, v, _ in layers) / (hmax * vmax)
        return PROGRESSIVE_BYTES_PER_SAMPLE * samples + PROGRESSIVE_OVERHEAD
    return DECODE_COST[img.format]


def to_square_uint8(img: Image.Image, size: int) -> np.ndarray:
    """Resize the shorter side to `size` and centre-crop to size x size; RGB uint8 (size, size, 3). Resized before
    any mode conversion or EXIF rotation, so no second full-size copy is made. A damaged EXIF block is ignored (the
    image is used as stored), not a reason to refuse the image."""
    if img.mode not in ("RGB", "RGBA", "L"):
        img = img.convert("RGBA" if img.mode in ("P", "PA", "LA") or "transparency" in img.info else "RGB")
    small = ImageOps.fit(img, (size, size), method=Image.Resampling.BILINEAR).convert("RGB")
    # a centred square crop commutes with the EXIF rotations and flips, so they are applied to the small image
    try:
        small = ImageOps.exif_transpose(small)
    except Exception:  # noqa: BLE001 - Pillow's EXIF parser raises many types on a malformed block
        pass
    return np.array(small, dtype=np.uint8)


def max_pixels(cost: float | str, budget_bytes: int = DECODE_BUDGET) -> int:
    """Largest image (width x height) decoded within the budget, at `cost` bytes per pixel (or a format's)."""
    return int(budget_bytes / (DECODE_COST[cost] if isinstance(cost, str) else cost))


def decode_image(data: bytes, size: int, budget_bytes: int = DECODE_BUDGET) -> np.ndarray:
    """Decode image bytes (content checked by decoding, not by header or Content-Type) into uint8 (size, size, 3).
    The size is checked from the header against its kind's memory cost before any pixel is decoded (ImageTooLarge)."""
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as img:
            limit = max_pixels(decode_cost(img), budget_bytes)
            if img.width * img.height > limit:
                raise ImageTooLarge(
                    f"{decode_kind(img)} of {img.width}x{img.height} pixels: more than the {limit} of its budget"
                )
            if img.format == "JPEG":
                img.draft("RGB", (size, size))  # DCT scaling: decode at the smallest scale still >= size
            return to_square_uint8(img, size)
    except ImageDecodeError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow's parsers raise many types (OSError, SyntaxError, struct.error, ...) on hostile input
        raise ImageDecodeError(f"not a decodable image: {type(e).__name__}: {str(e)[:200]}") from e
