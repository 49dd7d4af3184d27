"""One option vocabulary for the whole command line (issue 14): each thing has one name, one parser and
one rule in every command, and every option and argument is explained in ``--help``.

The test walks every command of ``dosing.cli.main``: a new command that says the store, the output, the
clock, the site or the zone another way, or leaves an option unexplained, fails here.
"""

from __future__ import annotations

import click
import pytest

from dosing.cli import main
from dosing.cli.params import AS_OF, TIMEZONE, known_site
from tests.cli.command_tree import walk

#: The one spelling of each thing, and spellings it replaced (never silent aliases).
STORE = "--database-url"
OWNER_STORE = "--owner-database-url"
RETIRED = {"--db", "--url", "--out", "--prep-out", "--tz", "--zone", "--time-zone", "--database", "--store"}

#: Commands that never open the store: the protocol library, the dry-run plan, a Prefect automation,
#: and the preloader (the commands it runs open the store; it never does).
#: (``db upgrade`` and ``db grant`` open it as the schema's owner, with ``--owner-database-url``.)
NO_STORE = {
    ("protocols", "list"), ("protocols", "show"), ("protocols", "validate"), ("plan",),
    ("flows", "automation"), ("db", "upgrade"), ("db", "grant"),
    ("preload", "start"), ("preload", "stop"), ("preload", "status"),
}  # fmt: skip

#: Paths a command writes besides its main output, named for what they hold: enroll-roster's and
#: demo's main output is the store; ``--calendars DIR`` also writes each subject's calendar.
SECOND_OUTPUTS = {(("flows", "run", "enroll-roster"), "--calendars"), (("demo",), "--calendars")}


COMMANDS = [(path, command) for path, command in walk(main) if not isinstance(command, click.Group)]
OPTIONS = [
    (path, param) for path, command in COMMANDS for param in command.params if isinstance(param, click.Option)
]


def where(path: tuple[str, ...], param: click.Parameter) -> str:
    return f"dosing {' '.join(path)} {'/'.join(param.opts)}"


def test_the_walk_sees_every_command() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert len(COMMANDS) >= 45
    assert {"prep", "flows run prep", "flows serve", "bag label", "export sdtm", "db grant"} <= names


def test_every_option_says_what_it_is_for() -> None:
    unexplained = [where(path, param) for path, param in OPTIONS if not (param.help or "").strip()]
    assert unexplained == []


def test_every_argument_is_named_in_its_commands_help() -> None:
    unexplained = [
        f"dosing {' '.join(path)} {name}"
        for path, command in COMMANDS
        for param in command.params
        if isinstance(param, click.Argument)
        for name in [(param.metavar or param.name or "").strip("[]").split()[0].upper()]
        if name not in (command.help or "")
    ]
    assert unexplained == []


def test_no_option_keeps_a_retired_spelling() -> None:
    retired = [where(path, param) for path, param in OPTIONS if set(param.opts) & RETIRED]
    assert retired == []


def test_every_command_that_opens_the_store_takes_database_url() -> None:
    missing = [
        " ".join(path)
        for path, command in COMMANDS
        if path not in NO_STORE and not any(STORE in getattr(p, "opts", ()) for p in command.params)
    ]
    assert missing == []


def test_every_store_option_is_database_url_read_from_dosing_database_url() -> None:
    stores = [
        (path, param) for path, param in OPTIONS if param.envvar and "DATABASE_URL" in str(param.envvar)
    ]
    assert len(stores) >= 40
    odd = [
        where(path, param)
        for path, param in stores
        if not (
            (param.opts == [STORE] and param.envvar == "DOSING_DATABASE_URL")
            or (param.opts == [OWNER_STORE] and param.envvar == "DOSING_OWNER_DATABASE_URL")
        )
    ]
    assert odd == []
    # And no store option hides under another name without its environment variable.
    assert [
        where(path, p) for path, p in OPTIONS if STORE in p.opts and p.envvar != "DOSING_DATABASE_URL"
    ] == []


def test_every_file_or_folder_a_command_writes_is_dash_o_output() -> None:
    writes = [
        (path, param)
        for path, param in OPTIONS
        if isinstance(param.type, click.Path) and not param.type.exists
    ]
    assert len(writes) >= 10
    odd = [
        where(path, param)
        for path, param in writes
        if param.opts != ["-o", "--output"] and (path, param.opts[0]) not in SECOND_OUTPUTS
    ]
    assert odd == []
    # And -o/--output always means a path written.
    outputs = [(path, p) for path, p in OPTIONS if "--output" in p.opts or "-o" in p.opts]
    assert [where(path, p) for path, p in outputs if p.opts != ["-o", "--output"]] == []
    assert [where(path, p) for path, p in outputs if not isinstance(p.type, click.Path)] == []


def test_every_as_of_is_read_by_the_one_parser() -> None:
    clocks = [(path, param) for path, param in OPTIONS if "--as-of" in param.opts]
    assert len(clocks) >= 10
    assert [where(path, param) for path, param in clocks if param.type is not AS_OF] == []
    assert [where(path, param) for path, param in clocks if param.hidden] == []


def test_every_site_is_checked_against_the_known_sites() -> None:
    sites = [(path, param) for path, param in OPTIONS if "--site" in param.opts or "--ward" in param.opts]
    assert len(sites) >= 12
    assert [where(path, param) for path, param in sites if param.callback is not known_site] == []


def test_a_zone_override_has_one_name_and_one_parser() -> None:
    zones = [
        (path, param)
        for path, param in OPTIONS
        if any(word in opt for opt in param.opts for word in ("zone", "tz"))
    ]
    assert zones, "prep and flows serve take --timezone"
    assert [where(path, p) for path, p in zones if p.opts != ["--timezone"] or p.type is not TIMEZONE] == []
    # A zone override only where the site's zone is the default: the command takes --site too.
    commands = dict(COMMANDS)
    lonely = [
        " ".join(path) for path, _ in zones if not any("--site" in p.opts for p in commands[path].params)
    ]
    assert lonely == []


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["status", "S-001", "--as-of", "yesterday"], "as of"),
        (["overdue", "--as-of", "2026-13-01"], "as of"),
        (["overdue", "--as-of", "2026-12-15T00:00"], "as of"),  # the sites' clocks differ: no site, no offset
        (["flows", "run", "prep", "--as-of", "1066-10-14T09:00+00:00"], "as of"),
        (
            ["prep", "--from", "2026-12-08", "--to", "2026-12-09", "-o", "w", "--timezone", "Mars/Olympus"],
            "timezone",
        ),
        (["calendar", "--site", "tehran"], "site"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else value,
)
def test_a_bad_clock_zone_or_site_is_one_error_line_with_its_rule(
    args: list[str], field: str, tmp_path: object
) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, args, env={"DOSING_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"})
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.startswith(f"error: {field}: "), result.output
    assert "(rule: " in result.output
