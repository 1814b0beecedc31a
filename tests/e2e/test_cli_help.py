"""Every command's help: no type placeholders or internals, a description for every option,
one name per concept (``--db`` for the database)."""

from __future__ import annotations

import re

import pytest
from typer import _click as click
from typer.core import TyperGroup, TyperOption
from typer.main import get_command
from typer.testing import CliRunner

from entrypoints.cli.app import LAZY_COMMANDS, app, load_command, tidy_help

# Typer's type labels (prose such as "reports/<run id>" is a value placeholder, not a type)
_PLACEHOLDER = re.compile(r"<(?:str|int|float|bool|path|file|directory|datetime|decimal|uuid"
                          r"|list\[[^>]*\]|[A-Za-z]+\|[^>]*)>", re.I)
_INTERNAL = re.compile(r"\{[a-z_]+\}|list\[|Path\b|NoneType")


def _walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, command)]
    if isinstance(command, TyperGroup):
        for name, sub in sorted(command.commands.items()):
            out.extend(_walk(sub, [*path, name]))
    return out


def _commands() -> list[tuple[list[str], click.Command]]:
    root = get_command(app)
    found: list[tuple[list[str], click.Command]] = [([], root)]
    assert isinstance(root, TyperGroup)
    for name, cmd in sorted(root.commands.items()):
        found.extend(_walk(cmd, [name]))
    for name in LAZY_COMMANDS:
        found.extend(_walk(tidy_help(load_command(name)), [name]))
    return found


COMMANDS = _commands()
IDS = [" ".join(p) or "catalyst" for p, _ in COMMANDS]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_when_shown_then_no_type_placeholder_or_internals(
        path: list[str], command: click.Command) -> None:
    r = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert not _PLACEHOLDER.findall(r.output), r.output
    assert not _INTERNAL.findall(r.output), r.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_when_listing_options_then_each_has_a_description(
        path: list[str], command: click.Command) -> None:
    missing = [p.opts[0] for p in command.params
               if isinstance(p, TyperOption) and not p.hidden and not (p.help or "").strip()]
    assert not missing, f"{' '.join(path)}: options without a description: {missing}"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_when_an_option_names_the_database_then_it_is_db(
        path: list[str], command: click.Command) -> None:
    names = {o for p in command.params for o in getattr(p, "opts", [])}
    assert not names & {"--database-url", "--database", "--db-url"}, names


def test_help_when_flag_given_a_value_then_help_shows_no_value() -> None:
    r = CliRunner().invoke(app, ["positions", "--help"], env={"COLUMNS": "200"})
    line = next(ln for ln in r.output.splitlines() if "--json" in ln)
    assert "TEXT" not in line and "<" not in line


_DB_COMMANDS = {"backtest", "run", "positions", "orders", "trades", "account", "report", "runs",
                "export trades", "db upgrade", "db current", "db check", "risk status",
                "risk kill", "risk resume", "risk report"}


def test_help_when_command_uses_the_database_then_it_takes_db() -> None:
    found = {" ".join(p): c for p, c in COMMANDS}
    missing = [name for name in sorted(_DB_COMMANDS)
               if "--db" not in {o for p in found[name].params for o in getattr(p, "opts", [])}]
    assert not missing
