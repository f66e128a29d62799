"""Connections to Kafka, Redis and Triton from the settings: security (SASL, TLS, passwords) in one place, and
addresses as they may be logged (passwords masked)."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis

from .settings import Settings

if TYPE_CHECKING:
    from core.bundle_info import BundleInfo

    from .triton_client import EmotionClient

__all__ = [
    "redact_url",
    "ssl_context",
    "kafka_python_config",
    "aiokafka_config",
    "faust_credentials",
    "redis_client",
    "triton_client",
]


# query parameters that carry a secret (redis-py reads `?password=`; other clients use the others)
_SECRET_PARAMS = {"password", "pass", "passwd", "pwd", "secret", "token", "access_token", "auth", "api_key", "apikey"}


def redact_url(url: str) -> str:
    """The URL for logs and start-up lines: the user info's password and every secret query parameter replaced by
    ***; a URL that does not parse is not shown at all."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "<URL not shown: it does not parse>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, hostport = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    query = urlencode(
        [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)],
        safe="*",
    )
    out = urlunsplit(parts._replace(netloc=netloc, query=query))
    if not netloc and url.startswith(f"{parts.scheme}://"):  # unix:///path: urlunsplit drops the empty authority
        out = f"{parts.scheme}://" + out[len(parts.scheme) + 1 :]
    return out


def ssl_context(s: Settings) -> ssl.SSLContext | None:
    """A TLS context for Kafka when the protocol uses TLS (CA bundle and optional client certificate)."""
    if s.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    ctx = ssl.create_default_context(cafile=str(s.kafka_ssl_cafile) if s.kafka_ssl_cafile else None)
    if s.kafka_ssl_certfile:
        ctx.load_cert_chain(str(s.kafka_ssl_certfile), str(s.kafka_ssl_keyfile) if s.kafka_ssl_keyfile else None)
    return ctx


def _sasl(s: Settings) -> dict[str, Any]:
    if not s.kafka_security_protocol.startswith("SASL"):
        return {}
    return {
        "sasl_mechanism": s.kafka_sasl_mechanism,
        "sasl_plain_username": s.kafka_sasl_username,
        "sasl_plain_password": s.kafka_sasl_password.get_secret_value(),
    }


def kafka_python_config(s: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's clients (admin, producer, consumer)."""
    cfg: dict[str, Any] = {
        "bootstrap_servers": s.kafka_bootstrap,
        "security_protocol": s.kafka_security_protocol,
        **_sasl(s),
    }
    ctx = ssl_context(s)
    if ctx is not None:
        cfg["ssl_context"] = ctx
    return cfg


def aiokafka_config(s: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's consumer/producer (the aggregator)."""
    return kafka_python_config(s)  # aiokafka takes the same names


def faust_credentials(s: Settings):
    """Faust's broker_credentials for the protocol, or None for PLAINTEXT."""
    import faust

    ctx = ssl_context(s)
    if s.kafka_security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=s.kafka_sasl_username,
            password=s.kafka_sasl_password.get_secret_value(),
            mechanism=s.kafka_sasl_mechanism,
            ssl_context=ctx,
        )
    if ctx is not None:
        return faust.SSLCredentials(ctx)
    return None


def redis_client(s: Settings, **opts) -> aioredis.Redis:
    """An asyncio Redis client for the URL (password and TLS come from it)."""
    if s.redis_ca_file:
        opts["ssl_ca_certs"] = str(s.redis_ca_file)
    return aioredis.Redis.from_url(s.redis_url.get_secret_value(), **opts)


def triton_client(s: Settings, bundle: BundleInfo | None = None) -> EmotionClient:
    """The worker's Triton client (gRPC, TLS when asked, the model prefix and the per-call timeout); with `bundle`, it
    checks a newly served model version against that bundle (stream/triton_client.py)."""
    from .triton_client import EmotionClient  # here: the aggregator and the dashboard never load tritonclient's gRPC

    return EmotionClient(
        s.triton_grpc_url,
        s.triton_model_prefix,
        s.triton_timeout_s,
        bundle=bundle,
        ssl=s.triton_ssl,
        root_certificates=str(s.triton_ssl_root_cert) if s.triton_ssl_root_cert else None,
    )
