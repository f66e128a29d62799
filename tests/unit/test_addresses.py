"""Which addresses an image URL may reach: globally routable only; loopback when allowed; embedded IPv4 judged too."""

import pytest

from core.addresses import address_allowed

ALWAYS_BLOCKED = [
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.100.100.200",
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.1",
    "198.18.0.1",
    "192.0.2.1",
    "192.0.0.1",
    "240.0.0.1",
    "fd00::1",
    "fe80::1",
    "fe80::1%eth0",
    "ff02::1",
    "::",
    "2001:db8::1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:a00:1::",
    "64:ff9b::a00:1",
    "64:ff9b::a9fe:a9fe",
    "fec0::1",  # site-local (deprecated; Python counts it global)
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT) loopback
    "::ffff:0:808:808",  # IPv4-translated: not global unicast either
    "3fff::1",  # documentation (RFC 9637)
    "192.0.0.8",  # IPv4 dummy address
    "192.0.0.9",  # PCP anycast
    "192.0.0.10",  # TURN anycast
    "2001:2::1",  # benchmarking
    "100::1",  # discard-only
    "ff0e::1",  # global-scope multicast
    "not-an-ip",
    "",
]
LOOPBACK = [
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "::ffff:127.0.0.1",
    "::127.0.0.1",
    "2002:7f00:1::",
    "64:ff9b::7f00:1",
    "64:ff9b:1::7f00:1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",
]  # the last: Teredo with client 127.0.0.1
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "2002:808:808::", "64:ff9b::808:808", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("ip", ALWAYS_BLOCKED)
def test_non_global_addresses_are_refused(ip):
    assert not address_allowed(ip, allow_loopback=False)
    assert not address_allowed(ip, allow_loopback=True)


@pytest.mark.parametrize("ip", LOOPBACK)
def test_loopback_in_any_form_only_when_allowed(ip):
    assert not address_allowed(ip, allow_loopback=False)
    assert address_allowed(ip, allow_loopback=True)


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_addresses_pass(ip):
    assert address_allowed(ip, allow_loopback=False)
