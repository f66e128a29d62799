"""Dead-letter records: the original bytes and key, bounded, with a truncation marker; never a failure themselves."""

import base64
import hashlib
import json

from stream.records import MAX_KEY_BYTES, Incoming, dead_letter
from stream.schemas import InvalidPost

ERR = InvalidPost("bad_json", "x", "parse")


def _dl(value, key=b"k", limit=100):
    d = dead_letter(Incoming(key, value, None, "posts", 3, 42), ERR, limit)
    return d, json.loads(d.value)


def test_utf8_original_kept_as_text_with_source_and_hash():
    d, rec = _dl(b'{"id": "x"}')
    assert rec["original"] == '{"id": "x"}' and rec["original_size"] == 11 and "original_truncated" not in rec
    assert rec["original_sha256"] == hashlib.sha256(b'{"id": "x"}').hexdigest()
    assert rec["source"] == {"topic": "posts", "partition": 3, "offset": 42} and d.source.ref == "posts:3:42"
    assert rec["reason"] == "bad_json" and rec["stage"] == "parse" and rec["key"] == "k" and d.key == b"k"


def test_binary_original_as_base64():
    _, rec = _dl(b"\xff\xfe\x00\x01")
    assert base64.b64decode(rec["original_base64"]) == b"\xff\xfe\x00\x01" and "original" not in rec


def test_large_original_is_cut_with_a_marker():
    raw = b"a" * 1000
    _, rec = _dl(raw, limit=100)
    assert rec["original"] == "a" * 100 and rec["original_truncated"] is True and rec["original_size"] == 1000


def test_cut_inside_a_multibyte_character_stays_text():
    raw = "é".encode() * 100  # 2 bytes each: a cut at 101 splits one
    _, rec = _dl(raw, limit=101)
    assert rec["original"] == "é" * 50 and rec["original_truncated"] is True


def test_huge_key_is_replaced_by_its_hash_and_cut_in_the_record():
    key = b"k" * 1_000_000
    d, rec = _dl(b"{}", key=key)
    assert d.key == hashlib.sha256(key).hexdigest().encode()
    assert rec["key"] == "k" * MAX_KEY_BYTES and rec["key_truncated"] is True


def test_tombstone_and_control_characters_and_surrogate_escapes_serialise():
    d, rec = _dl(None, key=None)
    assert rec["original"] is None and d.key is None and "key" not in rec
    raw = b"\x00\x01\x1f" * 1000 + b'"\\ud800"'
    d, rec = _dl(raw, limit=10_000)
    assert rec["original"].encode() == raw and len(d.value) < 7 * len(raw)  # JSON escapes grow at most 6x


def test_record_size_is_bounded_for_any_input():
    worst = b"\x00" * 1_000_000  # 6 bytes escaped each
    d, _ = _dl(worst, key=b"\x00" * 1_000_000, limit=100_000)
    assert len(d.value) < 700_000
