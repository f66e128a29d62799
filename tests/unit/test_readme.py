"""The README stays true: every table is well formed, the configuration table is the settings class cell by cell,
its commands exist, and CI calls the README's test command."""

import re
from pathlib import Path

from emostream.cli import COMMANDS
from stream.settings import markdown_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def cells(line: str) -> list[str]:
    """The cells of a markdown table row ('\\|' is a literal bar inside a cell)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def tables(text: str) -> list[list[str]]:
    out, current = [], []
    for line in text.splitlines():
        if line.lstrip().startswith("|"):
            current.append(line)
        elif current:
            out.append(current)
            current = []
    return out + ([current] if current else [])


def test_every_table_row_has_as_many_cells_as_its_header():
    for table in tables(README):
        width = len(cells(table[0]))
        for row in table[1:]:
            assert len(cells(row)) == width, f"row with {len(cells(row))} cells under a {width}-cell header:\n{row}"


def test_configuration_table_matches_settings_cell_by_cell():
    want = [cells(r) for r in markdown_table().splitlines()]
    found = [t for t in tables(README) if cells(t[0]) == want[0] and any("EMOSTREAM_KAFKA_BOOTSTRAP" in r for r in t)]
    assert len(found) == 1, "the README needs exactly one configuration table"
    got = [cells(r) for r in found[0]]
    assert [r[0] for r in got] == [r[0] for r in want], "variables differ (order included)"
    for g, w in zip(got, want, strict=True):
        assert g == w, f"README row {g} != settings {w}"


def test_every_cli_command_in_readme_exists():
    for cmd in set(re.findall(r"`emostream ([a-z-]+)", README)):
        assert cmd in COMMANDS, f"README mentions `emostream {cmd}` which does not exist"


def test_two_commands_are_make_targets_and_ci_runs_the_test_one():
    makefile = (ROOT / "Makefile").read_text()
    assert "make demo" in README and "make test" in README
    assert "\ndemo:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
