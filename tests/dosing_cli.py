"""The ``dosing`` command as people run it in tests: a real process, a real SQLite file (or the
PostgreSQL URL given), real accounts and logins, and the system clock set with libfaketime.

Records are stamped by the system clock, never by a typed time, so a test that records a dose on
2026-12-01 runs the command with the process's clock at that moment (``clock="2026-12-01T11:00+08:00"``),
the way a ward machine on that day would. The first use creates an admin and a test account holding
every clinical role; each clock logs in again (a session ends after 15 idle minutes), and commands
that sign get the password on standard input (``--password-stdin``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DOSING = Path(sys.executable).parent / "dosing"
FAKETIME_LIB = next(
    (
        str(path)
        for path in (
            Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
            Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"),
            Path("/usr/lib/faketime/libfaketime.so.1"),
        )
        if path.exists()
    ),
    None,
)
PASSWORD = "a long test password 2026"
ADMIN = "admin"
#: The test account holds every clinical role, so that tests about dosing are not about authority.
TESTER = "tester"
TESTER_ROLES = "nurse,pharmacist,coordinator,investigator,data-manager"

#: Commands that are electronic signatures (the password again).
_SIGNING = {"record", "skip", "correct"}


#: Subcommands that are electronic signatures (pharmacy custody, issue 11).
_SIGNING_SUBCOMMANDS = {
    ("bag", "prepare"), ("bag", "verify"), ("bag", "release"), ("bag", "waste"), ("bag", "return"),
    ("bag", "void"), ("lots", "quarantine"), ("lots", "release"), ("lots", "retire"),
}  # fmt: skip


def _signs(args: tuple[str, ...]) -> bool:
    if not args:
        return False
    if args[0] in _SIGNING or tuple(args[:2]) in _SIGNING_SUBCOMMANDS:
        return True
    if args[0] == "reschedule" and "--apply" in args:
        return True
    return args[0] == "cohorts" and ("--review" in args or "--decide" in args)


def faketime_env(clock: str) -> dict[str, str]:
    """Environment that sets the process's system clock to ``clock`` (ISO 8601 with offset), running on."""
    if FAKETIME_LIB is None:  # pragma: no cover - .ci/run installs it
        import pytest

        if os.environ.get("CI") == "true":
            raise RuntimeError("libfaketime is not installed (apt-get install faketime)")
        pytest.skip("libfaketime is not installed (apt-get install faketime)")
    moment = datetime.fromisoformat(clock)
    if moment.tzinfo is None:
        raise ValueError(f"clock {clock!r} needs an offset")
    utc = moment.astimezone(UTC)
    return {
        "LD_PRELOAD": FAKETIME_LIB,
        "FAKETIME": "@" + utc.strftime("%Y-%m-%d %H:%M:%S"),
        "FAKETIME_DONT_RESET": "1",
        "TZ": "UTC",
    }


class DosingCLI:
    """``dosing(*args, ok=True, clock=None, user=TESTER, password=None, input=None)``."""

    def __init__(
        self, tmp_path: Path, database_url: str | None = None, *, eligible_by_default: bool = True, **env: str
    ) -> None:
        self.tmp_path = tmp_path
        #: Enroll an eligible patient unless the test gives the inclusion inputs itself.
        self.eligible_by_default = eligible_by_default
        self.env = {
            **os.environ,
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "DOSING_DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'ledger.db'}",
            "NO_COLOR": "1",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            **env,
        }
        for name in ("LD_PRELOAD", "FAKETIME"):
            self.env.pop(name, None)
        self._ready = False
        self._session: tuple[str, str | None] | None = None

    def raw(
        self, *args: str, clock: str | None = None, input: str | None = None, timeout: int = 180
    ) -> subprocess.CompletedProcess[str]:
        """The command exactly as given: no login, no password added."""
        env = dict(self.env)
        if clock is not None:
            env.update(faketime_env(clock))
        return subprocess.run(
            [str(DOSING), *args], env=env, capture_output=True, text=True, input=input, timeout=timeout
        )

    def setup_accounts(self) -> None:
        if self._ready:
            return
        self._ready = True
        self._check(self.raw("users", "add", ADMIN, "--name", "Ada Admin", "--role", "admin",
                             "--password-stdin", input=PASSWORD + "\n"))  # fmt: skip
        self._check(self.raw("login", ADMIN, "--password-stdin", input=PASSWORD + "\n"))
        self._check(self.raw("users", "add", TESTER, "--name", "Tess Tester", "--role", TESTER_ROLES,
                             "--password-stdin", input=PASSWORD + "\n"))  # fmt: skip
        self._session = (ADMIN, None)

    def add_user(self, username: str, name: str, roles: str, password: str = PASSWORD) -> None:
        self.setup_accounts()
        self.login(ADMIN)
        self._check(self.raw("users", "add", username, "--name", name, "--role", roles, "--password-stdin",
                             input=password + "\n"))  # fmt: skip

    def login(self, user: str, clock: str | None = None, password: str = PASSWORD) -> None:
        self.setup_accounts()
        if self._session == (user, clock):
            return
        self._check(self.raw("login", user, "--password-stdin", clock=clock, input=password + "\n"))
        self._session = (user, clock)

    def __call__(
        self,
        *args: str,
        ok: bool = True,
        clock: str | None = None,
        user: str = TESTER,
        password: str | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        self.login(user, clock)
        if self.eligible_by_default and args and args[0] == "enroll" and "--age" not in args:
            # A test about something else enrolls an eligible patient (tests/eligible.py).
            from tests.eligible import ELIGIBLE_OPTIONS

            args = (*args, *ELIGIBLE_OPTIONS)
        if _signs(args) and "--password-stdin" not in args:
            args = (*args, "--password-stdin")
            input = (password or PASSWORD) + "\n" + (input or "")
        result = self.raw(*args, clock=clock, input=input)
        if ok:
            self._check(result)
        return result

    @staticmethod
    def _check(result: subprocess.CompletedProcess[str]) -> None:
        assert result.returncode == 0, (
            f"{result.args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        )


def sign_in_here(url: str, state_dir: Path, roles: str = TESTER_ROLES, username: str = TESTER) -> str:
    """For in-process CLI tests (click's CliRunner): accounts on the store at ``url`` and a login
    session for ``username`` in ``state_dir`` (the ``XDG_STATE_HOME`` the command runs with)."""
    from dosing.app import accounts
    from dosing.app.context import Context
    from dosing.store import open_store

    store = open_store(url)
    if accounts.needs_bootstrap(store):
        admin = accounts.bootstrap_admin(store, ADMIN, "Ada Admin", "admin", PASSWORD)
        accounts.add_user(Context(store=store, actor=admin), username, "Tess Tester", roles, PASSWORD)
    log_in_here(store, url, state_dir, username)
    store.dispose()
    return PASSWORD


def log_in_here(store: Any, url: str, state_dir: Path, username: str) -> None:
    """Log ``username`` in (the test password) and keep the session file in ``state_dir``, as
    ``dosing login`` does under that ``XDG_STATE_HOME``."""
    from dosing.app import accounts
    from dosing.cli.session import save_token

    token, _ = accounts.login(store, username, PASSWORD)
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(state_dir)
    try:
        save_token(username, token, url)
    finally:
        if previous is None:
            os.environ.pop("XDG_STATE_HOME", None)
        else:
            os.environ["XDG_STATE_HOME"] = previous


_SIGNED_IN: set[tuple[str, str]] = set()


def invoke_signed_in(url: str, args: list[str], state_dir: Path | None = None, **options: object) -> Any:
    """``dosing ARGS`` in process (CliRunner) on the store at ``url``, logged in as the test account."""
    from click.testing import CliRunner

    from dosing.cli import main

    if state_dir is None:
        state_dir = (
            Path(tempfile.gettempdir()) / "dosing-test-state" / hashlib.sha256(url.encode()).hexdigest()[:16]
        )
    key = (url, str(state_dir))
    if key not in _SIGNED_IN:
        sign_in_here(url, state_dir)
        _SIGNED_IN.add(key)
    env = {"DOSING_DATABASE_URL": url, "XDG_STATE_HOME": str(state_dir)}
    return CliRunner().invoke(main, args, env=env, **options)  # type: ignore[arg-type]
