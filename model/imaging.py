"""Image preprocessing shared by training and serving (Pillow + numpy, no torch): decode, resize, centre-crop to uint8 HxWx3."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

# Pillow's own decompression-bomb guard: refuse images above this many pixels (about 8k x 8k).
MAX_PIXELS = 64_000_000


class ImageDecodeError(ValueError):
    """The bytes are not an image Pillow can decode, or the image is too large."""


def to_square_uint8(img: Image.Image, size: int) -> np.ndarray:
    """Resize the shorter side to `size` and centre-crop to size x size; RGB uint8 (size, size, 3)."""
    img = ImageOps.exif_transpose(img).convert("RGB")
    return np.array(ImageOps.fit(img, (size, size), method=Image.Resampling.BILINEAR), dtype=np.uint8)


def decode_image(data: bytes, size: int) -> np.ndarray:
    """Decode image bytes (content checked by decoding, not by header) into a uint8 (size, size, 3) array."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise ImageDecodeError(f"image of {img.width}x{img.height} pixels exceeds {MAX_PIXELS}")
            img.draft("RGB", (size * 2, size * 2))  # JPEG: decode at reduced scale when much larger
            return to_square_uint8(img, size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageDecodeError(f"decompression bomb: {e}") from e
    except (OSError, SyntaxError, ValueError) as e:
        if isinstance(e, ImageDecodeError):
            raise
        raise ImageDecodeError(f"not a decodable image: {e}") from e
