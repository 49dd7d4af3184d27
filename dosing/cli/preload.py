"""``dosing preload``: keep the command line's code loaded, so that commands answer at once.

``dosing preload start`` starts a preloader for this environment (this code, this interpreter and
the ``DOSING_*``, ``PYTHON*``, locale and time-zone variables: see ``dosing.preload.address``);
every ``dosing`` command typed afterwards in the same environment is run by a process forked from it,
with the caller's arguments, environment, folder, streams and terminal, instead of importing
everything again (about a second here). ``stop`` ends it; ``status`` lists this user's preloaders.
Commands behave exactly as without it; the preloader only saves the imports.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Any

import click

from dosing.cli.output import emit_json, json_option, table
from dosing.errors import DosingError
from dosing.preload import address, wire

#: Default idle time before a preloader stops, and the range accepted.
IDLE_MINUTES_DEFAULT = 480
IDLE_MINUTES_RANGE = (1, 7 * 24 * 60)
#: The longest path a Unix socket can be bound to (Linux: ``sun_path`` of 108 bytes, with its NUL).
SOCKET_PATH_MAX_BYTES = 107
#: How long ``start`` waits for the preloader to import everything and listen.
START_SECONDS = 120.0


@click.group()
def preload() -> None:
    """Keep the command line's code loaded: commands start in milliseconds."""


@preload.command()
@click.option(
    "--idle-minutes",
    type=click.IntRange(*IDLE_MINUTES_RANGE),
    default=IDLE_MINUTES_DEFAULT,
    show_default=True,
    help="Stop after this many minutes without a command (1 to 10080, a week).",
)
@json_option
def start(idle_minutes: int, as_json: bool) -> None:
    """Start this environment's preloader (nothing happens if one runs)."""
    where = _private_folder()
    print_ = address.fingerprint()
    log = address.log_path(print_, where)
    socket_path = address.socket_path(print_, where)
    if len(os.fsencode(socket_path)) > SOCKET_PATH_MAX_BYTES:
        raise DosingError(
            "preload",
            f"a Unix socket's path is at most {SOCKET_PATH_MAX_BYTES} bytes",
            f"{socket_path} is longer; set XDG_RUNTIME_DIR (or TMPDIR) to a shorter folder",
        )
    running = _ask(address.socket_path(print_, where), {"op": "status"})
    if running is not None:
        _started(as_json, print_, where, running, None)
        return
    with open(log, "ab", buffering=0) as errors:
        os.chmod(log, 0o600)
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "dosing.preload.server", print_, where, str(idle_minutes * 60)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,
            cwd="/",
            text=True,
        )
        answer = _first_line(process, START_SECONDS)
    seconds = time.monotonic() - started
    word = answer.split()[0].rstrip(":") if answer.split() else ""
    if word not in ("ready", "running"):
        process.kill()
        raise DosingError(
            "preload",
            "the preloader imports the command line and listens on its socket",
            f"it did not start ({answer.strip() or 'no answer'}); see {log}",
        )
    state = _ask(address.socket_path(print_, where), {"op": "status"}) or {}
    _started(as_json, print_, where, state, seconds if word == "ready" else None)


def _started(as_json: bool, print_: str, where: str, state: dict[str, Any], seconds: float | None) -> None:
    result = {
        "state": "started" if seconds is not None else "already running",
        "pid": state.get("pid"),
        "fingerprint": print_,
        "idle_minutes": int(state.get("idle_seconds", 0) // 60),
        "seconds_to_start": round(seconds, 2) if seconds is not None else None,
        "socket": address.socket_path(print_, where),
    }
    if as_json:
        emit_json(result)
        return
    if seconds is not None:
        click.echo(
            f"preloader started (pid {result['pid']}, {seconds:.1f} s to import): commands of this "
            f"environment now start at once; it stops after {result['idle_minutes']} idle minutes, when "
            "this code changes, or with `dosing preload stop`"
        )
    else:
        click.echo(f"a preloader already runs for this environment (pid {result['pid']})")


@preload.command()
@click.option("--all", "every", is_flag=True, help="Stop every preloader of this user, of any environment.")
def stop(every: bool) -> None:
    """Stop this environment's preloader (or, with --all, every one of this user's)."""
    where = address.folder()
    if not address.private_folder(where):
        click.echo("no preloader runs")
        return
    paths = _sockets(where) if every else [address.socket_path(address.fingerprint(), where)]
    stopped = [answer["pid"] for path in paths if (answer := _ask(path, {"op": "stop"})) is not None]
    if not stopped:
        click.echo("no preloader runs" + ("" if every else " for this environment"))
        return
    plural = "s" if len(stopped) > 1 else ""
    click.echo(f"stopped {len(stopped)} preloader{plural} (pid {', '.join(map(str, stopped))})")


@preload.command()
@json_option
def status(as_json: bool) -> None:
    """This user's preloaders, the one of this environment marked."""
    where = address.folder()
    mine = address.fingerprint()
    rows: list[dict[str, Any]] = []
    if address.private_folder(where):
        for path in _sockets(where):
            state = _ask(path, {"op": "status"})
            if state is not None:
                state.pop("op", None)
                rows.append(dict(state, this_environment=state.get("fingerprint") == mine))
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no preloader runs: commands import everything as they start (`dosing preload start`)")
        return
    click.echo(
        table(
            ["pid", "fingerprint", "this environment", "started (UTC)", "idle limit", "commands"],
            [
                [
                    row.get("pid"),
                    row.get("fingerprint"),
                    "yes" if row["this_environment"] else "no",
                    row.get("started_at"),
                    f"{int(row.get('idle_seconds', 0) // 60)} min",
                    row.get("served"),
                ]
                for row in rows
            ],
        )
    )


def _private_folder() -> str:
    where = address.folder()
    try:
        os.mkdir(where, 0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise DosingError(
            "preload", "the preloader's folder is the user's own, mode 0700", str(error)
        ) from None
    if not address.private_folder(where):
        raise DosingError(
            "preload",
            "the preloader's folder is a directory of the user's own, mode 0700, not a link",
            f"{where} is not; remove it or set XDG_RUNTIME_DIR",
        )
    return where


def _first_line(process: subprocess.Popen[str], seconds: float) -> str:
    """The preloader's first line (``ready PID``), or what it said before it ended."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=seconds):
            return f"no answer within {seconds:.0f} s"
    line = process.stdout.readline()
    process.stdout.close()
    return line


def _sockets(where: str) -> list[str]:
    return sorted(os.path.join(where, name) for name in os.listdir(where) if name.endswith(".sock"))


def _ask(path: str, request: dict[str, Any]) -> dict[str, Any] | None:
    """A preloader's answer to ``status`` or ``stop``; None if none listens there."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(5.0)
    try:
        connection.connect(path)
        wire.send(connection, request)
        answer, _ = wire.receive(connection)
        return answer
    except (OSError, wire.WireError):
        return None
    finally:
        connection.close()
