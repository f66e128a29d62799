"""Which addresses an image URL may reach: global unicast only (loopback too when allowed).

Checked after DNS resolution, for every hop of every redirect, and for IP literals; an IPv6 address that embeds an
IPv4 one (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64) is judged by the embedded address. Otherwise an IPv6
address must lie in the global unicast block 2000::/3, and an address of either family must be `is_global`, not
multicast and outside the special ranges below (which this Python's registry may count as global).
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver

__all__ = ["BlockedAddress", "address_allowed", "GuardedResolver"]

_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_SPECIAL = (
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments (dummy .8, PCP/TURN anycast .9/.10, ...)
    ipaddress.IPv4Network("255.255.255.255/32"),  # limited broadcast
    ipaddress.IPv6Network("2001::/23"),  # IETF protocol assignments (Teredo, 2001::/32, is judged by its IPv4 first)
    ipaddress.IPv6Network("2001:db8::/32"),  # documentation
    ipaddress.IPv6Network("3fff::/20"),  # documentation (RFC 9637)
)


class BlockedAddress(OSError):
    """A host resolved to an address the fetcher may not connect to."""


def _embedded_v4(addr: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (and would reach through a translator or tunnel)."""
    if addr.ipv4_mapped is not None:
        return [addr.ipv4_mapped]
    if addr.sixtofour is not None:
        return [addr.sixtofour]
    if addr.teredo is not None:
        return list(addr.teredo)
    if (addr in _V4_COMPATIBLE and int(addr) > 1) or any(addr in net for net in _NAT64):  # ::/96 but not :: or ::1
        return [ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)]
    return []


def address_allowed(ip: str, allow_loopback: bool) -> bool:
    """True for a global unicast address (and loopback when allowed); False for private, shared (CGNAT), link-local,
    site-local, reserved, documentation, protocol-assignment, multicast, unspecified, and for what does not parse."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_v4(addr)
        if embedded:
            return all(address_allowed(str(a), allow_loopback) for a in embedded)
    if addr.is_loopback:
        return allow_loopback
    if isinstance(addr, ipaddress.IPv6Address) and addr not in _GLOBAL_UNICAST_V6:
        return False  # site-local fec0::/10, IPv4-translated ::ffff:0:0:0/96, discard 100::/64, multicast, ...
    return addr.is_global and not addr.is_multicast and not any(addr in net for net in _SPECIAL)


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default, then refuses the host when any address it resolves to is not allowed.
    aiohttp resolves every connection through it, redirects included, and connects to exactly the addresses it
    returned, so a name cannot be re-pointed between the check and the connection."""

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
