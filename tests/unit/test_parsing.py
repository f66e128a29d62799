"""parse_post: every malformed or oversized input maps to its dead-letter reason; nothing else escapes."""

import json

import pytest

from stream.parsing import parse_post
from stream.schemas import InvalidPost
from stream.settings import Settings

S = Settings()


def reason(raw: bytes | None) -> str:
    with pytest.raises(InvalidPost) as e:
        parse_post(raw, S)
    return e.value.reason


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"{not json",
        b"\xff\xfe",
        b'{"id": "a", "text": "x"',
        b"\xef\xbb\xbf{}",
        '{"id":"a","text":"x"}'.encode("utf-16"),
        '{"id":"a","text":"x"}'.encode("utf-32"),
        b'{"id": "a", "id": "b", "text": "x"}',  # duplicate key
        b'{"id": "a", "text": "x", "n": NaN}',
        b'{"id": "a", "text": "x", "n": Infinity}',
        b'{"id": "a", "text": "x", "n": -Infinity}',
        b'{"id": "a", "text": "x", "n": 1e999}',
        b'{"id": "a", "text": "x", "n": ' + b"9" * 5000 + b"}",
        b'{"id": "a", "text": "x", "n": ' + b"1" * 41 + b"}",
        b'{"id": "a", "text": "x", "deep": ' + b"[" * 25 + b"]" * 25 + b"}",
        b'{"id": "a", "text": "x", "deep": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"id": "a", "text": "x", "deep": ' + b'{"a":' * 30 + b"1" + b"}" * 30 + b"}",
        b"\x00",
        b"{}garbage",
        b"1 2",
    ],
)
def test_not_json_is_bad_json(raw):
    assert reason(raw) == "bad_json"


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"a string"', b"42", b"null", b"true", b"[]"])
def test_json_that_is_not_an_object(raw):
    assert reason(raw) == "not_an_object"


@pytest.mark.parametrize(
    "post",
    [
        {"id": "a"},
        {"text": "no id"},
        {"id": 5, "text": "x"},
        {"id": "a", "text": 42},
        {"id": "a", "tags": "notalist"},
        {"id": "a", "tags": [1, 2]},
        {"id": "a", "image_url": "file:///etc/passwd"},
        {"id": "a", "image_url": "ftp://x/y.jpg"},
        {"id": "a", "text": "   "},
        {"id": "a", "tags": []},
        {"id": "", "text": "x"},
        {"id": "a\u0000b", "text": "x"},
        {"id": "a\u200bb", "text": "x"},
        {"id": "   ", "text": "x"},
        {"id": "a", "text": "x", "created_at": 5},
        {"id": None, "text": "x"},
        {"id": "a", "text": None, "tags": None, "image_url": None},
    ],
)
def test_schema_violations_are_invalid(post):
    assert reason(json.dumps(post).encode()) == "invalid"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id": "p", "text": "hi", "x": "\\ud800"}',
        b'{"id": "\\udfff", "text": "hi"}',
        b'{"id": "p", "tags": ["\\ud83d"]}',
        b'{"id": "p", "text": "\\udc00\\udc00"}',
        b'{"id": "p", "text": "hi", "\\ud800": 1}',
        b'{"id": "p", "text": "hi", "a": [{"b": ["\\ud800"]}]}',
    ],
)
def test_lone_surrogates_anywhere_are_invalid(raw):
    with pytest.raises(InvalidPost, match="surrogate") as e:
        parse_post(raw, S)
    assert e.value.reason == "invalid"


def test_a_surrogate_pair_is_a_character_not_an_error():
    post = parse_post(b'{"id": "p", "text": "smile \\ud83d\\ude00"}', S)
    assert post.text == "smile \U0001f600"


@pytest.mark.parametrize(
    "post",
    [
        {"id": "a", "text": "x" * 10_001},
        {"id": "a", "tags": ["t"] * 101},
        {"id": "a", "tags": ["t" * 101]},
        {"id": "a", "image_url": "http://x/" + "a" * 2048},
        {"id": "a" * 257, "text": "x"},
    ],
)
def test_over_a_limit_is_too_large(post):
    assert reason(json.dumps(post).encode()) in ("too_large", "invalid")  # id length is a schema rule


def test_message_over_max_post_bytes_is_too_large_before_parsing():
    raw = json.dumps({"id": "a", "text": "x", "pad": "y" * S.max_post_bytes}).encode()
    with pytest.raises(InvalidPost, match="bytes") as e:
        parse_post(raw, S)
    assert e.value.reason == "too_large" and e.value.stage == "parse"


@pytest.mark.parametrize(
    "post",
    [
        {"id": "ok", "text": "plain"},
        {"id": "ok", "tags": ["#a"]},
        {"id": "ok", "image_url": "HTTPS://example.com/a.jpg"},
        {
            "id": "ok",
            "text": "NUL \u0000 and bell \u0007 and RTL \u202e are text",
            "extra": {"nested": [1, 2.5, None, True]},
        },
        {"id": "ünïcode-🙂", "text": "zero\u200bwidth"},
        {"id": "ok", "text": "x", "n": 10**39},
        {"id": "ok", "text": "x", "f": 1e308},
    ],
)
def test_valid_posts_parse(post):
    p = parse_post(json.dumps(post).encode(), S)
    assert p.id == post["id"] and p.meta == {
        k: v for k, v in post.items() if k not in ("id", "text", "tags", "image_url")
    }
