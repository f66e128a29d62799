"""Image fetching for the worker and the image-list data source: one aiohttp session, addresses checked after DNS
resolution (and so after every redirect), timeouts, a byte cap enforced while streaming, decoding in a bounded
thread pool of its own.

Memory: an image holds one of EMOSTREAM_IMAGE_CONCURRENCY permits from the first downloaded byte until its decode
ended, so downloaded bytes (at most EMOSTREAM_IMAGE_MAX_BYTES each) never wait for a decode thread outside that
bound; each of the EMOSTREAM_IMAGE_DECODE_WORKERS decodes stays within EMOSTREAM_IMAGE_DECODE_MB (core/imaging.py).

Every failure of an image URL is an ImageFetchError with a reason: the post is classified without its image and the
output's `degraded` list says why. Nothing here raises anything else for any URL or any server answer."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import aiohttp
import numpy as np
from mode import Service
from yarl import URL

from .addresses import BlockedAddress, GuardedResolver, address_allowed
from .imaging import ImageDecodeError, ImageTooLarge, decode_image

__all__ = ["FetchLimits", "ImageFetchError", "ImageFetcher"]

log = logging.getLogger(__name__)
REDIRECTS = (301, 302, 303, 307, 308)


class ImageFetchError(Exception):
    """The image could not be used; `reason` goes into the output's `degraded` list."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class FetchLimits:
    """What an image fetch may cost. The defaults are the worker's (its EMOSTREAM_IMAGE_* settings start from them)."""

    max_bytes: int = 5_000_000
    decode_mb: int = 128
    connect_timeout_s: float = 3.0
    timeout_s: float = 8.0
    concurrency: int = 32
    decode_workers: int = 2
    max_redirects: int = 3
    allow_loopback: bool = False


class ImageFetcher(Service):
    """Fetch, check and preprocess images with bounded concurrency; one aiohttp session from start to stop (a
    `mode.Service`: the classifier starts and stops it with itself; `async with` elsewhere). `on_decode(seconds)`:
    told how long each decode took (the worker's stage metrics)."""

    def __init__(
        self, limits: FetchLimits, image_size: int, on_decode: Callable[[float], None] | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        self.limits, self.size, self._on_decode = limits, image_size, on_decode
        self._sem = asyncio.Semaphore(limits.concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._decoders = ThreadPoolExecutor(max_workers=limits.decode_workers, thread_name_prefix="image-decode")

    async def on_start(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.limits.allow_loopback),
            limit=self.limits.concurrency,
            ttl_dns_cache=0,
            use_dns_cache=False,
        )
        timeout = aiohttp.ClientTimeout(
            total=self.limits.timeout_s,
            sock_connect=self.limits.connect_timeout_s,
            connect=self.limits.connect_timeout_s,
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers={"User-Agent": "emostream/0.1"}, trust_env=False
        )

    async def on_stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._decoders.shutdown(wait=False, cancel_futures=True)

    async def fetch(self, url: str) -> np.ndarray:
        """uint8 (size, size, 3), or ImageFetchError with reason: bad_url, blocked_address, timeout, http_<status>,
        too_large (bytes), too_many_pixels (over the decode budget), too_many_redirects, connection_error,
        not_an_image, fetch_error (anything unforeseen, logged)."""
        if self._session is None:
            await self.maybe_start()
        try:
            async with self._sem:  # held until decoded: bytes waiting for a decode thread count against the permits
                data = await self._download(url)
                return await asyncio.get_running_loop().run_in_executor(self._decoders, self._decode, data)
        except ImageFetchError:
            raise
        except ImageTooLarge as e:
            raise ImageFetchError("too_many_pixels", str(e)) from e
        except ImageDecodeError as e:
            raise ImageFetchError("not_an_image", str(e)) from e
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the boundary with aiohttp/yarl: no URL may escape as anything else
            log.exception("image fetch of %.200s failed unexpectedly", url)
            raise ImageFetchError("fetch_error", f"{type(e).__name__}: {str(e)[:200]}") from e

    def _decode(self, data: bytes) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return decode_image(data, self.size, self.limits.decode_mb * 2**20)
        finally:
            if self._on_decode is not None:
                self._on_decode(time.perf_counter() - t0)

    def _check_url(self, url: URL) -> None:
        """Scheme, host, no credentials, a valid port and, for IP literals (aiohttp connects to those without asking
        the resolver), the address."""
        if url.scheme not in ("http", "https") or not url.host:
            raise ImageFetchError("bad_url", f"only http(s) URLs with a host: {str(url)[:100]}")
        if url.user is not None or url.password is not None:
            raise ImageFetchError("bad_url", "credentials in an image URL")
        if url.port is None or not 0 < url.port < 65536:
            raise ImageFetchError("bad_url", f"port {url.port}")
        host = url.host.strip("[]")
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return  # a name: GuardedResolver checks what it resolves to
        if not address_allowed(host, self.limits.allow_loopback):
            raise ImageFetchError("blocked_address", f"{host} is not a public address")

    async def _download(self, url: str) -> bytes:
        try:
            target = URL(url)
        except (ValueError, TypeError, UnicodeError) as e:
            raise ImageFetchError("bad_url", str(e)[:200]) from e
        try:
            for _ in range(self.limits.max_redirects + 1):  # redirects followed by hand: each hop is checked
                self._check_url(target)
                async with self._session.get(target, allow_redirects=False) as resp:
                    if resp.status in REDIRECTS and "Location" in resp.headers:
                        try:
                            target = target.join(URL(resp.headers["Location"]))
                        except (ValueError, TypeError, UnicodeError) as e:
                            raise ImageFetchError(
                                "bad_url", f"redirect to {resp.headers['Location'][:100]!r}: {e}"
                            ) from e
                        continue
                    if resp.status != 200:
                        raise ImageFetchError(f"http_{resp.status}", url[:200])
                    if resp.content_length is not None and resp.content_length > self.limits.max_bytes:
                        raise ImageFetchError(
                            "too_large", f"Content-Length {resp.content_length} > {self.limits.max_bytes}"
                        )
                    buf = bytearray()
                    async for chunk in resp.content.iter_chunked(65536):
                        buf += chunk
                        if len(buf) > self.limits.max_bytes:
                            raise ImageFetchError("too_large", f"more than {self.limits.max_bytes} bytes")
                    return bytes(buf)
            raise ImageFetchError("too_many_redirects", url[:200])
        except ImageFetchError:
            raise
        except TimeoutError as e:
            raise ImageFetchError("timeout", url[:200]) from e
        except BlockedAddress as e:
            raise ImageFetchError("blocked_address", str(e)) from e
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, BlockedAddress) or "non-public address" in str(e):
                raise ImageFetchError("blocked_address", str(e.os_error)[:200]) from e
            raise ImageFetchError("connection_error", str(e)[:200]) from e
        except (aiohttp.InvalidURL, ValueError, UnicodeError) as e:
            raise ImageFetchError("bad_url", str(e)[:200]) from e
        except (aiohttp.ClientError, OSError) as e:
            if "non-public address" in str(e):
                raise ImageFetchError("blocked_address", str(e)[:200]) from e
            raise ImageFetchError("connection_error", str(e)[:200]) from e
