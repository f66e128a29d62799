"""Hostile inputs for the worker: image bytes that lie or explode, and an HTTP server that misbehaves on purpose.
Every path it was asked for is recorded, so a test can prove a URL was never fetched."""

from __future__ import annotations

import functools
import gzip
import io
import math
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

from core.imaging import DECODE_COST, max_pixels


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height, with a tiny IDAT: a decompression bomb's header."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) claims width x height."""
    data = bytearray(encode(Image.new("RGB", (16, 16), (200, 0, 0)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("P", (16, 16)), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def progressive_jpeg_claiming(width: int, height: int) -> bytes:
    """A small real progressive JPEG whose frame header (SOF2) claims width x height: its coefficient buffers alone
    would be 2 bytes per sample of the claimed size."""
    data = bytearray(encode(Image.new("RGB", (16, 16), (0, 90, 200)), "JPEG", progressive=True))
    sof = data.index(b"\xff\xc2")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def colour_gif_claiming(width: int, height: int) -> bytes:
    """A GIF with a colour palette (decoded to RGBA, ~9 bytes per pixel) whose screen claims width x height."""
    img = Image.new("P", (16, 16), 3)
    img.putpalette([(i * 37) % 256 for i in range(768)])
    data = bytearray(encode(img, "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("RGB", (16, 16)), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def jpeg_with_bad_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 9  # orientation out of range
    exif[0x010F] = "x" * 50
    data = encode(Image.new("RGB", (64, 64), (10, 10, 200)), "JPEG", exif=exif.tobytes())
    at = data.index(b"Exif\x00\x00") + 6
    return data[: at + 4] + b"\xff\xff\xff\x7f" + data[at + 8 :]  # IFD offset far beyond the segment


def png_with_bad_exif() -> bytes:
    """A valid PNG (every CRC right) whose eXIf chunk is not a TIFF structure (Pillow raises reading the EXIF)."""
    data = encode(Image.new("RGB", (48, 32), (30, 160, 60)), "PNG")
    at = data.index(b"IDAT") - 4
    chunk = b"eXIf" + b"not a TIFF header"
    return data[:at] + struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[at:]


GZIP_BOMB = gzip.compress(b"\0" * 50_000_000, compresslevel=9)  # ~50 KB that inflate to 50 MB
JPEG = encode(Image.new("RGB", (96, 64), (220, 180, 40)), "JPEG")
PNG = encode(Image.new("RGB", (64, 64), (40, 180, 220)), "PNG")
FILES = {  # path -> (body, content type)
    "/ok.jpg": (JPEG, "image/jpeg"),
    "/ok.png": (PNG, "image/png"),
    "/ok.gif": (encode(Image.new("P", (40, 40)), "GIF"), "image/gif"),
    "/ok.webp": (encode(Image.new("RGB", (40, 40), (1, 2, 3)), "WEBP"), "image/webp"),
    "/ok.bmp": (encode(Image.new("RGB", (40, 40)), "BMP"), "image/bmp"),
    "/jpeg-as-html": (JPEG, "text/html"),
    "/png-as-jpeg.jpg": (PNG, "image/jpeg"),
    "/html.jpg": (b"<html><body>not an image</body></html>", "image/jpeg"),
    "/empty.jpg": (b"", "image/jpeg"),
    "/truncated.jpg": (JPEG[: len(JPEG) // 2], "image/jpeg"),
    "/tiff": (encode(Image.new("RGB", (32, 32)), "TIFF"), "image/tiff"),
    "/ico": (encode(Image.new("RGB", (32, 32)), "ICO"), "image/x-icon"),
    "/svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="9999" height="9999"/>', "image/svg+xml"),
    "/bad-exif.jpg": (jpeg_with_bad_exif(), "image/jpeg"),
    "/bad-exif.png": (png_with_bad_exif(), "image/png"),
    "/bomb.png": (png_header_only(7999, 7999), "image/png"),
    "/bomb.jpg": (jpeg_claiming(65500, 65500), "image/jpeg"),
    "/bomb.gif": (gif_claiming(65535, 65535), "image/gif"),
    "/bomb.bmp": (bmp_claiming(30000, 30000), "image/bmp"),
    "/bomb-progressive.jpg": (progressive_jpeg_claiming(8000, 8000), "image/jpeg"),  # 64 MP: ~190 MB of coefficients
    "/bomb-colour.gif": (colour_gif_claiming(9400, 9400), "image/gif"),  # 88 MP: ~800 MB as RGBA
    "/big.webp": (encode(Image.new("RGB", (3000, 3000), (9, 9, 9)), "WEBP"), "image/webp"),  # 9 MP: over WebP's cap
    "/big.png": (encode(Image.new("RGB", (4200, 4200), (9, 9, 9)), "PNG"), "image/png"),  # 17.6 MP: over PNG's cap
    "/large-ok.png": (encode(Image.new("RGBA", (3500, 3500), (9, 9, 9, 9)), "PNG"), "image/png"),  # 12.3 MP: decoded
}


class HostileImages(BaseHTTPRequestHandler):
    """Routes: FILES, plus /status/<code>, /redirect?to=<url>, /loop, /hops/<n>, /cl-huge, /cl-short, /cl-long,
    /endless, /gzip-bomb, /trickle, /slow-headers, /no-location, /bad-chunked. `seen` records every path asked for."""

    seen: list[str]
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: C901 - one route per branch reads best here
        self.seen.append(self.path)
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        try:
            if path in FILES:
                self._send(200, *FILES[path])
            elif path.startswith("/cap/"):
                self._send(200, *at_cap()[path[5:]])
            elif path.startswith("/status/"):
                self._send(int(path.rsplit("/", 1)[1]), b"", "text/plain")
            elif path == "/redirect":
                self._redirect(query["to"][0])
            elif path == "/loop":
                self._redirect("/loop")
            elif path.startswith("/hops/"):
                n = int(path.rsplit("/", 1)[1])
                self._redirect(f"/hops/{n - 1}" if n > 0 else "/ok.jpg")
            elif path == "/no-location":
                self._headers(301, {"Content-Length": "0"})
            elif path == "/cl-huge":
                self._headers(200, {"Content-Type": "image/jpeg", "Content-Length": str(10**10)})
                self.wfile.write(JPEG)
            elif path == "/cl-short":
                self._headers(200, {"Content-Type": "image/jpeg", "Content-Length": "100000"})
                self.wfile.write(JPEG[:100])
                self.close_connection = True
            elif path == "/cl-long":
                self._headers(200, {"Content-Type": "image/jpeg", "Content-Length": "10"})
                self.wfile.write(JPEG)
                self.close_connection = True
            elif path == "/endless":
                self._headers(200, {"Content-Type": "image/jpeg", "Connection": "close"})
                self.close_connection = True
                for _ in range(10_000):
                    self.wfile.write(b"\xff" * 65536)
            elif path == "/gzip-bomb":
                h = {"Content-Type": "image/jpeg", "Content-Encoding": "gzip", "Content-Length": str(len(GZIP_BOMB))}
                self._headers(200, h)
                self.wfile.write(GZIP_BOMB)
            elif path == "/trickle":
                self._headers(200, {"Content-Type": "image/jpeg", "Content-Length": str(len(JPEG))})
                for b in JPEG[:24]:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(0.5)  # 12 s in all
            elif path == "/slow-headers":
                time.sleep(12)
                self._send(200, JPEG, "image/jpeg")
            elif path == "/bad-chunked":
                self._headers(
                    200, {"Content-Type": "image/jpeg", "Transfer-Encoding": "chunked", "Connection": "close"}
                )
                self.wfile.write(b"zz\r\nnot hex\r\n")
                self.close_connection = True
            else:
                self._send(404, b"nope", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _headers(self, code: int, headers: dict) -> None:
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self._headers(code, {"Content-Type": ctype, "Content-Length": str(len(body))})
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._headers(302, {"Location": location, "Content-Length": "0"})


@functools.cache
def at_cap() -> dict[str, tuple[bytes, str]]:
    """For each costly kind of image, one just inside its decode cap (core/imaging.py): the most memory a single
    accepted image of that kind can take. Plain colours: a decoder allocates the same rasters and coefficient buffers
    whatever the pixels, and the files stay small. Plus a 4.9 MB baseline JPEG of noise, for the bytes in flight."""

    def side(cost: float) -> int:
        return math.isqrt(max_pixels(cost)) - 8

    palette = Image.new("P", (side(DECODE_COST["PNG"]),) * 2, 7)
    palette.putpalette([(i * 37) % 256 for i in range(768)])  # a colour palette: decoded to RGBA
    files = {
        "png-palette": (encode(palette, "PNG", compress_level=1), "image/png"),
        "gif-colour": (encode(palette.resize((side(DECODE_COST["GIF"]),) * 2), "GIF"), "image/gif"),
        # an uncompressed 8-bit BMP stores a byte per pixel: the download cap (5 MB) is its limit before the decode's
        "bmp-palette": (encode(palette.resize((2200, 2200)), "BMP"), "image/bmp"),
        "webp-lossless": (
            encode(Image.new("RGBA", (side(DECODE_COST["WEBP"]),) * 2, (9, 99, 9, 200)), "WEBP", lossless=True),
            "image/webp",
        ),
        "jpeg-progressive-444": (
            encode(Image.new("RGB", (side(6.5),) * 2, (200, 20, 20)), "JPEG", progressive=True, subsampling=0),
            "image/jpeg",
        ),
        "jpeg-progressive-cmyk": (
            encode(Image.new("CMYK", (side(8.5),) * 2, (0, 200, 20, 0)), "JPEG", progressive=True),
            "image/jpeg",
        ),
    }
    rng = np.random.default_rng(0)
    noise = encode(Image.fromarray(rng.integers(0, 255, (1500, 1900, 3), dtype=np.uint8)), "JPEG", quality=98)
    assert 3_000_000 < len(noise) < 5_000_000, len(noise)
    files["jpeg-5mb"] = (noise, "image/jpeg")
    return files


def serve_hostile() -> tuple[ThreadingHTTPServer, list[str]]:
    seen: list[str] = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (HostileImages,), {"seen": seen}))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, seen
