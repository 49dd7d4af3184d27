"""The command line's login session: a token in a file only its owner can read, one per store.

``dosing login USERNAME`` writes ``$XDG_STATE_HOME/dosing/session-<store>.json`` (mode 0600, folder
0700); every command that reads or changes the ledger resumes that session, so the actor is the
authenticated account, never a name typed on the command line. Passwords are typed at a hidden prompt
or, for scripts and tests, read from standard input with ``--password-stdin``.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from dosing.errors import DosingError


def _state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dosing"


def _database_url() -> str:
    from dosing.settings import get_settings

    return get_settings().database_url


def session_file(url: str | None = None) -> Path:
    key = hashlib.sha256((url or _database_url()).encode()).hexdigest()[:16]
    return _state_dir() / f"session-{key}.json"


def save_token(username: str, token: str, url: str | None = None) -> Path:
    path = session_file(url)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"username": username, "token": token}, handle)
    os.chmod(path, 0o600)
    return path


def load_token(url: str | None = None) -> str | None:
    path = session_file(url)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise DosingError(
            "session", "the session file is readable by its owner only (mode 0600)",
            f"{path} can be read by others; log in again",
        )  # fmt: skip
    try:
        token = json.loads(path.read_text())["token"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(token)


def forget_token(url: str | None = None) -> None:
    session_file(url).unlink(missing_ok=True)


def signed_in(store: Any, action: str) -> Any:
    """The authenticated context for ``action``: the session's actor, with the authority checked."""
    from dosing.app.accounts import resume
    from dosing.app.authority import require
    from dosing.app.context import Context

    token = load_token(store.url)
    if token is None:
        raise DosingError("session", "log in first: dosing login USERNAME", "not logged in")
    ctx = Context(store=store, actor=resume(store, token))
    require(ctx, action)
    return ctx


def password_stdin_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the password from standard input (scripts); otherwise it is asked at a hidden prompt.",
    )(function)


def read_password(from_stdin: bool, prompt: str = "Password") -> str:
    """A password from standard input (first line) or from a hidden prompt on a terminal."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
    elif sys.stdin.isatty():
        password = click.prompt(prompt, hide_input=True, err=True)
    else:
        raise DosingError(
            "password", "typed at a prompt, or --password-stdin", "no terminal to ask the password on"
        )
    if not password:
        raise DosingError("password", "a password", "no password given")
    return password
