"""The layout is the architecture: an import graph of the tree, read from the source, has no upward arrow and no
arrow between siblings (`model/` and `stream/` never import each other, the worker image has no `model/`), and
docs/ARCHITECTURE.md's layout table names every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# floor of each package, bottom first; packages on one floor are siblings and do not import each other
FLOORS = {
    "contracts": 0,
    "triton_runner": 0,
    "core": 1,
    "model": 2,
    "stream": 2,
    "devstack": 2,
    "emostream": 3,
    "bench": 4,
}
PROJECT = set(FLOORS) | {"tests"}


def modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def imports(path: Path) -> set[str]:
    """Every project module the file imports, at the top or inside a function (relative imports resolved)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    here = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
    return {n for n in found if n.split(".")[0] in PROJECT}


def graph() -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): imports(p) for pkg in FLOORS for p in modules(pkg)}


def test_imports_point_down_and_never_sideways():
    wrong = []
    for path, targets in graph().items():
        src = path.split("/")[0]
        for target in targets:
            dst = target.split(".")[0]
            if dst == src:
                continue
            if dst == "tests" or FLOORS[dst] >= FLOORS[src]:
                wrong.append(f"{path} imports {target} ({src} floor {FLOORS[src]} -> {dst})")
    assert not wrong, "imports against the layout:\n" + "\n".join(sorted(wrong))


def test_the_graph_reader_sees_both_kinds_of_arrow():
    """The check above can fail: the reader finds a relative import, a lazy one, and flags a sibling arrow."""
    src = "from .x import y\n\ndef f():\n    from model.bundle import load_bundle\n"
    probe = ROOT / "stream" / "_layout_probe.py"
    probe.write_text(src)
    try:
        found = imports(probe)
    finally:
        probe.unlink()
    assert found == {"stream.x", "model.bundle"}


def test_architecture_layout_table_names_every_module():
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    table = doc.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z_/]+(?:\.py|/))`", table))
    missing = [
        str(p.relative_to(ROOT))
        for pkg in FLOORS
        for p in modules(pkg)
        if p.name not in ("__init__.py", "__main__.py") and str(p.relative_to(ROOT)) not in named
    ]
    assert not missing, "docs/ARCHITECTURE.md's layout table does not name:\n" + "\n".join(missing)
    gone = [n for n in named if "/" in n and n.endswith(".py") and not (ROOT / n).exists()]
    assert not gone, f"the layout table names modules that do not exist: {gone}"
