"""The README stays true: its configuration table is the settings class, its commands exist."""
from pathlib import Path

from stream.cli import COMMANDS
from stream.settings import markdown_table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_configuration_table_matches_settings():
    assert markdown_table() in README


def test_every_cli_command_in_readme_exists():
    import re

    for cmd in set(re.findall(r"`emostream ([a-z-]+)", README)):
        assert cmd in COMMANDS, f"README mentions `emostream {cmd}` which does not exist"


def test_two_commands_are_make_targets():
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert "make demo" in README and "make test" in README
    assert "\ndemo:" in makefile and "\ntest:" in makefile
    assert "make test" in (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
