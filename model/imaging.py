"""Image preprocessing shared by training and serving (Pillow + numpy, no torch): decode, resize, centre-crop to
uint8 HxWx3.

Untrusted bytes: only JPEG, PNG, GIF, WebP and BMP are opened; the size is checked from the header before any pixel
is decoded (a 7,999 x 7,999 PNG is 182 KiB on the wire and ~0.75 GB decoded); JPEGs decode at reduced scale
(draft mode) to about the model's size, so they may be larger than other formats.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

__all__ = ["FORMATS", "MAX_PIXELS", "ImageDecodeError", "to_square_uint8", "decode_image"]

FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")
# Largest image decoded in full (width x height). bench/decode_memory.py measured peak memory ~7 bytes per pixel for
# RGBA PNGs (decoded RGBA + its RGB copy), so 16 MP costs ~110 MB per decoding thread. JPEGs may have 4x as many:
# draft mode decodes them at 1/2 .. 1/8 scale.
MAX_PIXELS = 16_000_000
JPEG_FACTOR = 4


class ImageDecodeError(ValueError):
    """The bytes are not an image of an accepted format, are damaged, or the image is too large."""


def to_square_uint8(img: Image.Image, size: int) -> np.ndarray:
    """Resize the shorter side to `size` and centre-crop to size x size; RGB uint8 (size, size, 3)."""
    img = ImageOps.exif_transpose(img).convert("RGB")
    return np.array(ImageOps.fit(img, (size, size), method=Image.Resampling.BILINEAR), dtype=np.uint8)


def decode_image(data: bytes, size: int, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode image bytes (content checked by decoding, not by header or Content-Type) into uint8 (size, size, 3)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as img:
                limit = max_pixels * (JPEG_FACTOR if img.format == "JPEG" else 1)
                if img.width * img.height > limit:
                    raise ImageDecodeError(f"{img.format} of {img.width}x{img.height} pixels exceeds {limit}")
                if img.format == "JPEG":
                    img.draft("RGB", (size, size))  # DCT scaling: decode at the smallest scale still >= size
                return to_square_uint8(img, size)
    except ImageDecodeError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow's parsers raise many types (OSError, SyntaxError, struct.error, ...) on hostile input
        raise ImageDecodeError(f"not a decodable image: {type(e).__name__}: {str(e)[:200]}") from e
