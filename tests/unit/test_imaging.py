"""Image decoding of untrusted bytes: allowed formats only, size checked from the header, damage is an error."""

import io
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from core.imaging import (
    DECODE_COST,
    ImageDecodeError,
    ImageTooLarge,
    decode_cost,
    decode_image,
    decode_kind,
    max_pixels,
)
from tests.helpers.hostile import encode, png_header_only, png_with_bad_exif


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP"])
def test_allowed_formats_decode_to_the_model_size(fmt):
    img = Image.new("RGB", (300, 200), (200, 30, 30))
    out = decode_image(encode(img, fmt), 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8 and out[..., 0].mean() > 150


@pytest.mark.parametrize("fmt", ["TIFF", "ICO", "PPM", "TGA", "PCX"])
def test_other_formats_are_refused(fmt):
    with pytest.raises(ImageDecodeError):
        decode_image(encode(Image.new("RGB", (32, 32)), fmt), 64)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image",
        b"\xff\xd8\xff" + b"\0" * 100,
        b"\x89PNG\r\n\x1a\n" + b"\0" * 50,
        b"GIF89a" + b"\xff" * 20,
        b"RIFF\x00\x00\x00\x00WEBPVP8 ",
        b"BM" + b"\xff" * 60,
    ],
)
def test_damaged_bytes_are_decode_errors(data):
    with pytest.raises(ImageDecodeError):
        decode_image(data, 64)


def test_truncated_jpeg_is_an_error_not_a_crash():
    data = encode(Image.new("RGB", (400, 400), (1, 2, 3)), "JPEG")
    with pytest.raises(ImageDecodeError):
        decode_image(data[: len(data) // 3], 64)


def test_caps_follow_each_formats_measured_cost():
    assert max_pixels("WEBP") < max_pixels("PNG") == max_pixels("BMP") == max_pixels("GIF") < max_pixels("JPEG")
    assert 12_000_000 < max_pixels("PNG") < 20_000_000  # a 4K screenshot (8.3 MP) passes, a 7999 x 7999 bomb does not


@pytest.mark.parametrize(
    "mode,subsampling,cost",
    [("RGB", 2, 3.5), ("RGB", 0, 6.5), ("L", 0, 2.5), ("CMYK", 0, 8.5)],  # 4:2:0, 4:4:4, grey, CMYK
)
def test_a_progressive_jpeg_costs_its_coefficients(mode, subsampling, cost):
    """2 bytes per DCT sample of each component at its sampling factor (the header says which), plus the output."""
    img = Image.new(mode, (64, 64))
    data = encode(img, "JPEG", progressive=True, **({"subsampling": subsampling} if mode == "RGB" else {}))
    with Image.open(io.BytesIO(data)) as opened:
        assert decode_kind(opened) == "JPEG progressive" and decode_cost(opened) == cost
    with Image.open(io.BytesIO(encode(img, "JPEG"))) as baseline:
        assert decode_kind(baseline) == "JPEG" and decode_cost(baseline) == DECODE_COST["JPEG"]


def test_bomb_header_is_refused_before_any_pixel_is_decoded():
    with pytest.raises(ImageTooLarge, match="PNG of 7999x7999 pixels: more than"):
        decode_image(png_header_only(7999, 7999), 224)
    side = int((max_pixels(3.5) * 1.1) ** 0.5)  # a progressive 4:2:0 JPEG 10 % over its cap, claimed by its header
    data = bytearray(encode(Image.new("RGB", (16, 16)), "JPEG", progressive=True))
    sof = data.index(b"\xff\xc2")
    data[sof + 5 : sof + 9] = struct.pack(">HH", side, side)
    with pytest.raises(ImageTooLarge, match="JPEG progressive"):
        decode_image(bytes(data), 224)


PEAK_RSS = """
import sys
from core.imaging import decode_image


def peak_kib():  # VmHWM: this process's peak RSS (ru_maxrss would include the parent's, kept across exec)
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))


data = open(sys.argv[1], "rb").read()
before = peak_kib()
out = decode_image(data, 224)
print(peak_kib() - before, out.shape)
"""


def test_jpegs_may_be_larger_and_decode_at_reduced_scale(tmp_path):
    side = int((max_pixels("PNG") * 2) ** 0.5)  # twice what a PNG may have: a JPEG decodes in draft mode, within budget
    path = tmp_path / "big.jpg"
    Image.new("RGB", (side, side), (10, 200, 10)).save(path, "JPEG", quality=50)
    res = subprocess.run([sys.executable, "-c", PEAK_RSS, str(path)], capture_output=True, text=True, check=True)
    grew_kib, shape = res.stdout.split(" ", 1)
    assert shape.strip() == "(224, 224, 3)"
    assert int(grew_kib) < 40_000, (
        f"decoding grew the process by {grew_kib} KiB; a full decode is {3 * side * side // 1024} KiB"
    )
    with pytest.raises(ImageTooLarge, match="more than"):
        decode_image(png_header_only(side, side), 224)


def test_malformed_exif_does_not_escape():
    img = Image.new("RGB", (64, 64))
    exif = Image.Exif()
    exif[0x0112] = 9  # orientation out of range
    data = encode(img, "JPEG", exif=exif.tobytes())
    assert decode_image(data, 32).shape == (32, 32, 3)
    broken = data.replace(b"Exif\x00\x00", b"Exif\x00\x00\xff\xff\xff\xff", 1)
    assert decode_image(broken, 32).shape == (32, 32, 3)  # used as stored, without its EXIF
    assert decode_image(png_with_bad_exif(), 32).shape == (32, 32, 3)
