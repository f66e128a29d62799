"""Image fetching for the worker: aiohttp with one shared session, address filtering after DNS resolution (and so
after every redirect), timeouts, a byte cap enforced while streaming, decoding by Pillow in a thread."""
from __future__ import annotations

import asyncio
import ipaddress
import socket

import aiohttp
import numpy as np
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver

from model.imaging import ImageDecodeError, decode_image

from .settings import Settings


class ImageFetchError(Exception):
    """The image could not be used; `reason` goes into the output's `degraded` list."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class BlockedAddress(OSError):
    pass


def address_allowed(ip: str, allow_loopback: bool) -> bool:
    """Public unicast only; loopback too when allowed. Private, link-local, multicast, reserved are refused."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr.is_loopback:
        return allow_loopback
    return not (addr.is_private or addr.is_link_local or addr.is_multicast or addr.is_reserved or addr.is_unspecified)


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default, then refuses the host when any address it resolves to is not allowed.
    aiohttp resolves every connection through it, redirects included, so the check covers them all."""

    def __init__(self, allow_loopback: bool):
        self._inner = ThreadedResolver()
        self.allow_loopback = allow_loopback

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        infos = await self._inner.resolve(host, port, family)
        for info in infos:
            if not address_allowed(info["host"], self.allow_loopback):
                raise BlockedAddress(f"{host} resolves to {info['host']}, a non-public address")
        return infos

    async def close(self) -> None:
        await self._inner.close()


class ImageFetcher:
    """Fetch, check and preprocess images with bounded concurrency; one aiohttp session for the worker's life."""

    def __init__(self, s: Settings, image_size: int):
        self.s, self.size = s, image_size
        self._sem = asyncio.Semaphore(s.image_concurrency)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.s.image_allow_loopback), limit=self.s.image_concurrency,
                                         ttl_dns_cache=0, use_dns_cache=False)
        timeout = aiohttp.ClientTimeout(total=self.s.image_timeout_s, sock_connect=self.s.image_connect_timeout_s,
                                        connect=self.s.image_connect_timeout_s)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout, headers={"User-Agent": "emostream/0.1"})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def fetch(self, url: str) -> np.ndarray:
        """uint8 (size, size, 3), or ImageFetchError with reason: bad_url, blocked_address, timeout, http_<status>,
        too_large, too_many_redirects, connection_error, not_an_image."""
        if self._session is None:
            await self.start()
        async with self._sem:
            data = await self._download(url)
        try:
            return await asyncio.to_thread(decode_image, data, self.size)
        except ImageDecodeError as e:
            raise ImageFetchError("not_an_image", str(e)) from e

    def _check_url(self, url: aiohttp.client.URL) -> None:
        """Scheme and, for IP literals (which aiohttp connects to without asking the resolver), the address."""
        if url.scheme not in ("http", "https") or not url.host:
            raise ImageFetchError("bad_url", f"only http(s) URLs with a host: {str(url)[:100]}")
        try:
            ipaddress.ip_address(url.host.strip("[]"))
        except ValueError:
            return  # a name: GuardedResolver checks what it resolves to
        if not address_allowed(url.host.strip("[]"), self.s.image_allow_loopback):
            raise ImageFetchError("blocked_address", f"{url.host} is not a public address")

    async def _download(self, url: str) -> bytes:
        try:
            target = aiohttp.client.URL(url)
        except ValueError as e:
            raise ImageFetchError("bad_url", str(e)) from e
        try:
            for _ in range(self.s.image_max_redirects + 1):  # redirects followed by hand: each hop is checked
                self._check_url(target)
                async with self._session.get(target, allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        target = target.join(aiohttp.client.URL(resp.headers["Location"]))
                        continue
                    if resp.status != 200:
                        raise ImageFetchError(f"http_{resp.status}", url[:200])
                    if resp.content_length is not None and resp.content_length > self.s.image_max_bytes:
                        raise ImageFetchError("too_large", f"Content-Length {resp.content_length} > {self.s.image_max_bytes}")
                    buf = bytearray()
                    async for chunk in resp.content.iter_chunked(65536):
                        buf += chunk
                        if len(buf) > self.s.image_max_bytes:
                            raise ImageFetchError("too_large", f"more than {self.s.image_max_bytes} bytes")
                    return bytes(buf)
            raise ImageFetchError("too_many_redirects", url[:200])
        except ImageFetchError:
            raise
        except asyncio.TimeoutError as e:
            raise ImageFetchError("timeout", url[:200]) from e
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, BlockedAddress) or "non-public address" in str(e):
                raise ImageFetchError("blocked_address", str(e.os_error)) from e
            raise ImageFetchError("connection_error", str(e)) from e
        except BlockedAddress as e:
            raise ImageFetchError("blocked_address", str(e)) from e
        except (aiohttp.ClientError, OSError) as e:
            if "non-public address" in str(e):
                raise ImageFetchError("blocked_address", str(e)) from e
            raise ImageFetchError("connection_error", str(e)) from e
