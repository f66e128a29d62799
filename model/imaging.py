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
    "BYTES_PER_PIXEL",
    "DECODE_BUDGET",
    "ImageDecodeError",
    "max_pixels",
    "to_square_uint8",
    "decode_image",
]

FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")
# Peak memory of one decode per pixel of the image, as `python -m bench.decode_memory` measured it here (16 MP
# images, README "Results"), rounded up. JPEGs decode in draft mode at 1/2 .. 1/8 scale, hence their small cost.
BYTES_PER_PIXEL = {"JPEG": 0.5, "PNG": 8.5, "WEBP": 17.0, "BMP": 5.0, "GIF": 1.5}
DECODE_BUDGET = 128 * 2**20  # bytes one decode may use: an image whose format's cost exceeds it is refused
Image.MAX_IMAGE_PIXELS = None  # the per-format limit of decode_image replaces Pillow's single one


class ImageDecodeError(ValueError):
    """The bytes are not an image of an accepted format, are damaged, or the image is too large."""


def to_square_uint8(img: Image.Image, size: int) -> np.ndarray:
    """Resize the shorter side to `size` and centre-crop to size x size; RGB uint8 (size, size, 3). Resized before
    any mode conversion or EXIF rotation, so no second full-size copy is made."""
    if img.mode not in ("RGB", "RGBA", "L"):
        img = img.convert("RGBA" if img.mode in ("P", "PA", "LA") or "transparency" in img.info else "RGB")
    small = ImageOps.fit(img, (size, size), method=Image.Resampling.BILINEAR).convert("RGB")
    # a centred square crop commutes with the EXIF rotations and flips, so they are applied to the small image
    return np.array(ImageOps.exif_transpose(small), dtype=np.uint8)


def max_pixels(fmt: str, budget_bytes: int = DECODE_BUDGET) -> int:
    """Largest image (width x height) of a format decoded within the budget."""
    return int(budget_bytes / BYTES_PER_PIXEL[fmt])


def decode_image(data: bytes, size: int, budget_bytes: int = DECODE_BUDGET) -> np.ndarray:
    """Decode image bytes (content checked by decoding, not by header or Content-Type) into uint8 (size, size, 3).
    The size is checked from the header against the format's memory cost before any pixel is decoded."""
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as img:
            limit = max_pixels(img.format, budget_bytes)
            if img.width * img.height > limit:
                raise ImageDecodeError(f"{img.format} of {img.width}x{img.height} pixels exceeds {limit}")
            if img.format == "JPEG":
                img.draft("RGB", (size, size))  # DCT scaling: decode at the smallest scale still >= size
            return to_square_uint8(img, size)
    except ImageDecodeError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow's parsers raise many types (OSError, SyntaxError, struct.error, ...) on hostile input
        raise ImageDecodeError(f"not a decodable image: {type(e).__name__}: {str(e)[:200]}") from e
