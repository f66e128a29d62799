"""`emostream contract`: the published record contract, JSON Schema 2020-12 files generated from the pydantic models
(stream/schemas.py) into contracts/schemas/, and the check that a change keeps the published major version.

- `contracts/schemas/<name>.schema.json`: the current schemas; `--check` (a unit test) fails when they differ from
  the models, `--write` rewrites them.
- `contracts/schemas/published/<major>/`: the schemas as first published for that `SCHEMA_VERSION`, never
  rewritten. The current ones must stay compatible with them (`breaking_changes`): no field removed, retyped, or
  made optional in a record consumers read; no new required field in the post producers write. Adding optional
  input fields and new output fields is allowed. A breaking change needs SCHEMA_VERSION + 1 and `--publish`.
- `contracts/asyncapi.yaml`: the three topics (AsyncAPI 3.0) referring to these files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .schemas import SCHEMA_VERSION, DeadLetterRecord, EmotionRecord, Post

__all__ = ["SCHEMAS", "SCHEMA_DIR", "generate", "breaking_changes", "published", "main"]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "contracts" / "schemas"
BASE_ID = "https://emostream.example/schemas/"
# name -> (model, JSON Schema mode, who writes it: "producer" = the post's producers, "worker" = emostream)
SCHEMAS: dict[str, tuple[type[BaseModel], str, str]] = {
    "post": (Post, "validation", "producer"),
    "emotion-record": (EmotionRecord, "serialization", "worker"),
    "dead-letter": (DeadLetterRecord, "serialization", "worker"),
}
_NOISE = {"title", "description", "default", "examples", "$comment"}


def generate() -> dict[str, dict]:
    """Every schema, as the models define it today."""
    out = {}
    for name, (model, mode, _) in SCHEMAS.items():
        schema = model.model_json_schema(mode=mode)
        out[name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{BASE_ID}{name}.schema.json",
            "x-schema-version": SCHEMA_VERSION,
            **schema,
        }
    return out


def _text(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def published(major: int = SCHEMA_VERSION, root: Path = SCHEMA_DIR) -> dict[str, dict]:
    folder = root / "published" / str(major)
    return {name: json.loads((folder / f"{name}.schema.json").read_text()) for name in SCHEMAS}


def _deref(node: Any, root: dict) -> Any:
    """The schema with every local $ref replaced by what it points at (pydantic's $defs are not recursive here)."""
    if isinstance(node, dict):
        if "$ref" in node and node["$ref"].startswith("#/"):
            target: Any = root
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            return _deref({**target, **{k: v for k, v in node.items() if k != "$ref"}}, root)
        return {k: _deref(v, root) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_deref(v, root) for v in node]
    return node


def _shape(node: Any) -> Any:
    """What a field's values may be, without its words (title, description, default) and without the properties of
    objects, compared one by one instead."""
    if isinstance(node, dict):
        return {k: _shape(v) for k, v in sorted(node.items()) if k not in _NOISE | {"properties", "required"}}
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return node


def _compare(old: dict, new: dict, path: str, writer: str, out: list[str]) -> None:
    if _shape(old) != _shape(new):
        out.append(f"{path or '(root)'}: retyped: {json.dumps(_shape(old))} -> {json.dumps(_shape(new))}")
        return
    old_req, new_req = set(old.get("required", ())), set(new.get("required", ()))
    if writer == "worker" and (lost := old_req - new_req):
        out.append(f"{path or '(root)'}: no longer always present: {sorted(lost)}")
    if writer == "producer" and (added := new_req - old_req):
        out.append(f"{path or '(root)'}: newly required from producers: {sorted(added)}")
    for name, sub in old.get("properties", {}).items():
        where = f"{path}.{name}" if path else name
        if name not in new.get("properties", {}):
            out.append(f"{where}: removed")
        else:
            _compare(sub, new["properties"][name], where, writer, out)
    for key in ("items", "additionalProperties"):
        if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
            _compare(old[key], new[key], f"{path}[{key}]", writer, out)


def breaking_changes(old: dict, new: dict, writer: str) -> list[str]:
    """How `new` breaks readers (writer "worker") or writers ("producer") of records valid under `old`; [] when it
    does not."""
    out: list[str] = []
    _compare(_deref(old, old), _deref(new, new), "", writer, out)
    return out


def check(root: Path = SCHEMA_DIR) -> list[str]:
    """Problems of the committed files: drift from the models, a break of the published major version."""
    problems = []
    current = generate()
    for name, schema in current.items():
        path = root / f"{name}.schema.json"
        if not path.exists() or path.read_text() != _text(schema):
            problems.append(f"{path} differs from the model: run `emostream contract --write`")
    try:
        base = published(SCHEMA_VERSION, root)
    except FileNotFoundError:
        return [*problems, f"schema version {SCHEMA_VERSION} was never published: run `emostream contract --publish`"]
    for name, (_, _, writer) in SCHEMAS.items():
        problems += [f"{name}: {p}" for p in breaking_changes(base[name], current[name], writer)]
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="emostream contract", description=__doc__.split("\n\n")[0])
    act = ap.add_mutually_exclusive_group()
    act.add_argument("--write", action="store_true", help="rewrite contracts/schemas/*.schema.json from the models")
    act.add_argument("--publish", action="store_true", help="freeze today's schemas as this SCHEMA_VERSION's")
    act.add_argument("--check", action="store_true", help="(default) fail on drift or a breaking change")
    args = ap.parse_args(argv)
    if args.write or args.publish:
        folders = [SCHEMA_DIR]
        if args.publish:
            folders.append(SCHEMA_DIR / "published" / str(SCHEMA_VERSION))
            if folders[-1].exists():
                print(f"{folders[-1]} exists: a published version is never rewritten", file=sys.stderr)
                return 2
        schemas = generate()
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            for name, schema in schemas.items():
                (folder / f"{name}.schema.json").write_text(_text(schema))
        if args.publish:
            print(f"published schema version {SCHEMA_VERSION} in {folders[-1]}")
    problems = check()
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"contracts/schemas: current, compatible with published version {SCHEMA_VERSION}")
    return 1 if problems else 0
