"""Input bytes -> a validated Post, or InvalidPost naming why. Strict JSON (UTF-8, no duplicate keys, no NaN or
Infinity, bounded nesting and integers) so that everything later stages derive from a post (tokens, records, keys)
can be serialised and sized: no post can fail in a retry loop."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

from pydantic import ValidationError

from .schemas import InvalidPost, Post
from .settings import Settings

__all__ = ["strict_json", "parse_post"]

_SURROGATE = re.compile("[\ud800-\udfff]")


class _BadJson(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise _BadJson(f"duplicate key {k[:50]!r}")
        out[k] = v
    return out


def _no_constant(name: str):
    raise _BadJson(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadJson(f"number {text[:30]} out of range")
    return value


def strict_json(raw: bytes, max_depth: int, max_int_digits: int) -> Any:
    """Decode UTF-8 JSON; _BadJson/ValueError for anything else, including nesting deeper than max_depth."""
    text = raw.decode("utf-8")  # strict: UTF-16/32 and invalid bytes are not posts

    def _int(digits: str) -> int:
        if len(digits.lstrip("-")) > max_int_digits:
            raise _BadJson(f"integer of {len(digits)} digits (limit {max_int_digits})")
        return int(digits)

    value = json.loads(
        text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_finite, parse_int=_int
    )
    stack = [(value, 1)]
    while stack:  # iterative: a deep document cannot exhaust the interpreter's stack here
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > max_depth:
                raise _BadJson(f"nested deeper than {max_depth} levels")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((c, depth + 1) for c in children)
    return value


def _surrogate_path(value: Any, path: str = "") -> str | None:
    """Where a lone UTF-16 surrogate sits (a key or a string), or None. JSON allows `\\ud800`; UTF-8 cannot
    encode it."""
    stack = [(value, path)]
    while stack:
        node, p = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return p or "post"
        elif isinstance(node, dict):
            for k, v in node.items():
                if _SURROGATE.search(k):
                    return f"{p}.<key>" if p else "<key>"
                stack.append((v, f"{p}.{k}" if p else k))
        elif isinstance(node, list):
            stack.extend((v, f"{p}[{i}]") for i, v in enumerate(node))
    return None


def parse_post(raw: bytes | None, s: Settings) -> Post:
    """Bytes -> Post, or InvalidPost with a reason: bad_json, too_large, not_an_object, invalid."""
    if not raw:
        raise InvalidPost("bad_json", "empty message" if raw is not None else "no value (tombstone)", "parse")
    if len(raw) > s.max_post_bytes:
        raise InvalidPost("too_large", f"message of {len(raw)} bytes (limit {s.max_post_bytes})", "parse")
    try:
        data = strict_json(raw, s.max_json_depth, s.max_json_int_digits)
    except RecursionError as e:
        raise InvalidPost("bad_json", f"nested deeper than {s.max_json_depth} levels", "parse") from e
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError and _BadJson are ValueErrors
        raise InvalidPost("bad_json", str(e)[:300], "parse") from e
    if not isinstance(data, dict):
        raise InvalidPost("not_an_object", f"expected a JSON object, got {type(data).__name__}", "parse")
    if (where := _surrogate_path(data)) is not None:
        raise InvalidPost("invalid", f"lone UTF-16 surrogate in {where[:100]}")
    try:
        post = Post.model_validate(data)
    except ValidationError as e:
        detail = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'post'}: {err['msg']}" for err in e.errors(include_url=False)
        )
        raise InvalidPost("invalid", detail[:1000]) from e
    if not 1 <= len(post.id) <= s.max_id_chars:
        raise InvalidPost("invalid", f"id length {len(post.id)} not in 1..{s.max_id_chars}")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in post.id) or not post.id.strip():
        raise InvalidPost("invalid", "id has control or format characters, or is blank")
    too_large = [
        (
            post.text is not None and len(post.text) > s.max_text_chars,
            f"text longer than {s.max_text_chars} characters",
        ),
        (post.tags is not None and len(post.tags) > s.max_tags, f"more than {s.max_tags} tags"),
        (any(len(t) > s.max_tag_chars for t in post.tags or ()), f"a tag longer than {s.max_tag_chars} characters"),
        (
            post.image_url is not None and len(post.image_url) > s.max_url_chars,
            f"image_url longer than {s.max_url_chars}",
        ),
    ]
    for failed, why in too_large:
        if failed:
            raise InvalidPost("too_large", why)
    return post
