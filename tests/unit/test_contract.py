"""The published record contract: schema files current with the models, compatible with the published major
version, the checker able to fail, records as the worker writes them valid, the AsyncAPI document consistent."""

import copy
import json

import jsonschema
import pytest
import yaml

from stream.contract import SCHEMA_DIR, SCHEMAS, breaking_changes, check, generate, published
from stream.records import Incoming, dead_letter
from stream.schemas import SCHEMA_VERSION, EmotionRecord, InvalidPost
from stream.settings import Settings


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schemas_are_current_and_keep_the_published_version():
    assert check() == []


def test_removing_retyping_or_making_optional_an_output_field_breaks_the_contract():
    old = published()["emotion-record"]
    removed = copy.deepcopy(old)
    del removed["properties"]["emotion"]
    removed["required"].remove("emotion")
    retyped = copy.deepcopy(old)
    retyped["properties"]["latency_ms"]["type"] = "string"
    optional = copy.deepcopy(old)
    optional["required"].remove("sentiment")
    nested = copy.deepcopy(old)
    nested["$defs"]["Degraded"]["properties"]["reason"] = {"type": "integer"}
    assert breaking_changes(old, removed, "worker") == [
        "(root): no longer always present: ['emotion']",
        "emotion: removed",
    ]
    assert any(p.startswith("latency_ms: retyped") for p in breaking_changes(old, retyped, "worker"))
    assert breaking_changes(old, optional, "worker") == ["(root): no longer always present: ['sentiment']"]
    assert any(p.startswith("degraded[items].reason: retyped") for p in breaking_changes(old, nested, "worker"))


def test_added_fields_and_new_words_do_not_break_it():
    old = published()["emotion-record"]
    new = copy.deepcopy(old)
    new["properties"]["language"] = {"type": "string"}
    new["required"].append("language")
    new["properties"]["emotion"]["description"] = "reworded"
    assert breaking_changes(old, new, "worker") == []


def test_a_new_required_input_field_breaks_producers():
    old = published()["post"]
    new = copy.deepcopy(old)
    new["properties"]["lang"] = {"type": "string"}
    new["required"].append("lang")
    assert breaking_changes(old, new, "producer") == ["(root): newly required from producers: ['lang']"]


def test_every_schema_carries_its_version_and_is_valid_2020_12():
    for name, schema in generate().items():
        assert schema["x-schema-version"] == SCHEMA_VERSION and schema["$id"].endswith(f"/{name}.schema.json")
        jsonschema.Draft202012Validator.check_schema(schema)
    assert set(SCHEMAS) == {"post", "emotion-record", "dead-letter"}


def test_posts_validate_as_documented():
    v = validator("post")
    v.validate({"id": "p1", "text": "hi", "tags": ["a"], "created_at": "2026-12-01T10:00:00Z", "source": "x"})
    with pytest.raises(jsonschema.ValidationError):
        v.validate({"text": "no id"})
    with pytest.raises(jsonschema.ValidationError):
        v.validate({"id": "p", "tags": "not a list"})


def test_records_as_the_worker_writes_them_validate():
    rec = EmotionRecord(
        id="p1",
        emotion="awe",
        emotion_scores={"awe": 1.0},
        sentiment="positive",
        sentiment_score=0.9,
        modalities=["text"],
        head="text",
        degraded=[{"modality": "image", "reason": "http_404"}],
        model_version="v",
        processed_at="2026-12-01T10:00:00.000+00:00",
        created_at="2026-12-01T09:00:00.000+00:00",
        created_at_source="post",
        latency_ms=1.0,
    )
    validator("emotion-record").validate(json.loads(rec.model_dump_json()))
    bad = {**json.loads(rec.model_dump_json()), "emotion": "joy"}
    with pytest.raises(jsonschema.ValidationError):
        validator("emotion-record").validate(bad)
    for raw, key in ((b'{"id": 1}', b"k"), (b"\xff\xfe", None), (None, b"\x00" * 2000)):
        letter = json.loads(
            dead_letter(Incoming(key, raw, None, "posts", 0, 5), InvalidPost("invalid", "x"), 100).value
        )
        assert letter["schema_version"] == SCHEMA_VERSION
        validator("dead-letter").validate(letter)


def test_asyncapi_names_the_worker_topics_and_its_references_resolve():
    doc = yaml.safe_load((SCHEMA_DIR.parent / "asyncapi.yaml").read_text())
    s = Settings()
    assert doc["asyncapi"].startswith("3.")
    assert {c["address"] for c in doc["channels"].values()} == {s.topic_posts, s.topic_output, s.topic_dlq}

    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from ([v] if k == "$ref" else refs(v))
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    for ref in refs(doc):
        if ref.startswith("#/"):
            target = doc
            for part in ref[2:].split("/"):
                target = target[part]
        else:
            assert (SCHEMA_DIR.parent / ref).exists(), ref
