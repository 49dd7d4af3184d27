"""Every ``dosing`` command the README shows is run, as written, against a scripted store, so that the
user guide cannot drift from the command line again (issue 14).

Each ``## `` section of the README gets its own SQLite store. The script creates the accounts the
section logs in as without creating them itself (``dosing login li``: li, a nurse), logs in as a test
account holding every clinical role before the section's first command, answers every password
prompt on standard input, and sets the system clock with libfaketime from a comment such as
``# 2026-12-01T07:00+08:00: ...`` (the clock stays until the next such comment; without one, now).
A command exits 0, or 2 when its comment says ``refused``, or the code its comment states (``exit 1``).

The pharmacy section is run, in its own order and with its own checks, by
``tests/pharmacy/test_readme_walkthrough.py``; the few commands that need a server are listed in
``NOT_RUN`` with the reason.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.dosing_cli import DOSING, PASSWORD, TESTER, DosingCLI, faketime_env

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CLOCK = re.compile(r"^# (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}[+-]\d{2}:\d{2})")
EXIT = re.compile(r"^exit (\d)\b")

#: Run by tests/pharmacy/test_readme_walkthrough.py.
PHARMACY = "Preparing doses (pharmacy)"

#: Commands not run here (matched by their start), each with the reason.
NOT_RUN = {
    "dosing web": "serves until stopped (tests/web runs the application)",
    "dosing flows serve": "serves until stopped, on a Prefect server (tests/flows/test_scale_out.py)",
    "dosing flows automation": "needs a Prefect server with the site's notification block",
    "DOSING_OWNER_DATABASE_URL=postgresql": "the site's PostgreSQL owner (tests/store covers the grants)",
    "dosing cohorts NCT04822922 --": "a review needs a full cohort dosed 30 days ago (test_safety_cli.py)",
}

#: Accounts the README logs in as without creating them, with the roles their sections give them.
ROLES = {
    "ada": "admin",
    "li": "nurse",
    "cora": "coordinator",
    "pat": "pharmacist",
    "vic": "pharmacist",
    "nora": "nurse",
}

#: Commands that read a password (at a prompt, or on standard input with --password-stdin).
_PASSWORD = {("login",), ("users", "add"), ("users", "reset-password"), ("record",), ("skip",), ("correct",)}


@dataclass
class Example:
    section: str
    clock: str | None
    line: str  # as the README shows it, continuation lines joined
    comment: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def args(self) -> list[str]:
        words = shlex.split(self.line)
        return words[1:]

    @property
    def expected(self) -> int:
        found = EXIT.match(self.comment)
        if found:
            return int(found.group(1))
        return 2 if self.comment.startswith("refused") else 0


def _commands(block: str, console: bool) -> Iterator[tuple[str | None, str, str]]:
    """(clock comment or None, command, comment) for each ``dosing`` command of a code block."""
    for raw in block.replace("\\\n", " ").splitlines():
        line = raw.strip()
        found = CLOCK.match(line)
        if found:
            yield found.group(1), "", ""
            continue
        if console:
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if line.startswith("mkdir -p "):
            # The one shell command the examples need: the folder an export writes into.
            yield None, line, ""
            continue
        for part in line.split("&&"):
            command, _, comment = part.strip().partition("  #")
            command = command.strip().removeprefix(".venv/bin/")
            if re.match(r"^([A-Z_]+=\S+ )*dosing ", command):
                yield None, command, comment.strip()


def examples() -> list[Example]:
    text = README.read_text(encoding="utf-8")
    found: list[Example] = []
    for section in re.split(r"\n(?=## )", text):
        title = section.splitlines()[0].removeprefix("## ").strip()
        clock: str | None = None
        for kind, block in re.findall(r"```(sh|console)\n(.*?)```", section, re.DOTALL):
            for new_clock, command, comment in _commands(block, kind == "console"):
                if new_clock is not None:
                    clock = new_clock
                    continue
                found.append(Example(title, clock, command, comment))
    return found


def _not_run(example: Example) -> str | None:
    return next((why for start, why in NOT_RUN.items() if example.line.startswith(start)), None)


def test_the_readme_examples_are_found() -> None:
    lines = [example.line for example in examples()]
    assert len(lines) >= 100
    for needed in ("dosing status RJ-001", "dosing export sdtm -o out/", "dosing flows run sweep",
                   "dosing calendar S-001 -o S-001.ics", "dosing users list"):  # fmt: skip
        assert any(line.startswith(needed) for line in lines), needed
    # The list of commands not run stays short, and each entry still matches a README line.
    assert len(NOT_RUN) <= 5
    for start in NOT_RUN:
        assert any(line.startswith(start) for line in lines), start


def test_the_pharmacy_walkthrough_runs_every_command_of_its_section() -> None:
    from tests.pharmacy.test_readme_walkthrough import pharmacy_commands

    walked = {line for _, line in pharmacy_commands()}
    ours = {e.line for e in examples() if e.section == PHARMACY}
    assert ours and all(any(w.startswith(line) for w in walked) for line in ours), ours - walked


SECTIONS = sorted(
    {e.section for e in examples() if e.section != PHARMACY}, key=[e.section for e in examples()].index
)


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[str]:
    """One Prefect server for the flows the README runs (the temporary one takes 15-30 s per command)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from dosing.cli.flows import prepare_prefect_environment

    prepare_prefect_environment()
    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


class Section:
    """The section's store, accounts, working folder and clock, and its commands run in order."""

    def __init__(self, title: str, tmp_path: Path, prefect_api: str | None) -> None:
        self.title = title
        self.work = tmp_path / "work"
        self.work.mkdir()
        shutil.copytree(ROOT / "examples", self.work / "examples")
        shutil.copy(ROOT / "examples" / "roster.csv", self.work / "roster.csv")
        shutil.copy(ROOT / "protocols" / "NCT04822922.yaml", self.work / "my-trial.yaml")
        # `dosing preload start` puts its socket here: a short path (at most 107 bytes), removed after.
        self.runtime = Path(tempfile.mkdtemp(prefix="readme-", dir="/tmp"))
        self.cli = DosingCLI(tmp_path, DOSING_SESSION_IDLE_MINUTES="1440", XDG_RUNTIME_DIR=str(self.runtime))
        for name in [k for k in self.cli.env if k.startswith("PREFECT_")]:
            del self.cli.env[name]
        self.cli.env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
        if prefect_api:
            self.cli.env["PREFECT_API_URL"] = prefect_api
        self.passwords: dict[str, str] = {}
        self.outputs: list[str] = []
        self.user: str | None = None
        self.clock: str | None = None
        #: Commands run so far under the current clock comment.
        self.ticks = 0

    def close(self) -> None:
        """Stops a preloader the section started (`dosing preload start`), and removes its folder."""
        subprocess.run([str(DOSING), "preload", "stop", "--all"], env=self.cli.env, capture_output=True)
        shutil.rmtree(self.runtime, ignore_errors=True)

    def prepare(self, commands: list[Example]) -> None:
        """Accounts the section uses but does not create, and a login, unless it starts from nothing."""
        lines = [e.line for e in commands]
        if any(line.startswith(("dosing demo", "dosing users add")) for line in lines[:1]):
            return  # the section's first command is the first account of an empty store
        created = {shlex.split(line)[3] for line in lines if line.startswith("dosing users add")}
        logins = {shlex.split(line)[2] for line in lines if line.startswith("dosing login ")}
        for user in sorted(logins & set(ROLES) - created):
            self.cli.add_user(user, user.title(), ROLES[user])
        self.cli.setup_accounts()
        self.clock = next((e.clock for e in commands if e.clock), None)
        self.user = TESTER
        self.cli.login(TESTER, self.clock)

    def run(self, example: Example) -> subprocess.CompletedProcess[str]:
        if example.line.startswith("mkdir -p "):
            for folder in shlex.split(example.line)[2:]:
                (self.work / folder).mkdir(parents=True, exist_ok=True)
            return subprocess.CompletedProcess(example.line, 0, "", "")
        args = example.args
        redirect = None
        if ">" in args:
            # `dosing ... > file`: standard output into the file, as the shell does.
            args, redirect = args[: args.index(">")], args[args.index(">") + 1]
        prefix = re.match(r"^((?:[A-Z_]+=\S+ )*)dosing ", example.line)
        env = dict(self.cli.env)
        for assignment in prefix.group(1).split() if prefix else []:
            name, _, value = assignment.partition("=")
            env[name] = value
        if example.clock:
            # The clock runs on under one comment: each command starts a few seconds after the one before
            # (two processes started at the same fake instant would see time run backwards between them).
            self.ticks = self.ticks + 1 if example.clock == self.clock else 0
            moment = datetime.fromisoformat(example.clock) + timedelta(seconds=5 * self.ticks)
            env.update(faketime_env(moment.isoformat()))
        if example.clock != self.clock and self.user is not None and args[0] != "login":
            # The README's clock moved on (days, at times): the same person logs in again at the ward.
            self.cli.login(self.user, example.clock, self.passwords.get(self.user, PASSWORD))
        self.clock = example.clock
        stdin = None
        key = tuple(args[:2]) if args[0] == "users" else (args[0],)
        signs = key in _PASSWORD or args[:1] == ["bag"] or (args[0] == "reschedule" and "--apply" in args)
        signs = signs or (args[0] == "cohorts" and ("--review" in args or "--decide" in args))
        if signs and "--password-stdin" not in args:
            user = args[1] if args[0] == "login" else None
            args = [*args, "--password-stdin"]
            stdin = self.passwords.get(user or "", PASSWORD) + "\n"
        result = subprocess.run(
            [str(DOSING), *args],
            env=env,
            cwd=self.work,
            capture_output=True,
            text=True,
            input=stdin,
            timeout=300,
        )
        self.outputs.append(result.stdout)
        if args[0] == "login" and result.returncode == 0:
            self.user = args[1]
            self.cli._session = (args[1], example.clock)
        if redirect is not None:
            (self.work / redirect).write_text(result.stdout, encoding="utf-8")
        if args[0] == "demo":
            # The demo prints each account's password once: the README's next login uses it.
            self.passwords.update(re.findall(r"^  (demo-\S+)\s+(\S+)", result.stdout, re.MULTILINE))
        return result


@pytest.mark.parametrize("title", SECTIONS)
def test_every_example_of_the_section_runs_as_documented(
    title: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    commands = [e for e in examples() if e.section == title and _not_run(e) is None]
    if not commands:
        pytest.skip(f"no command to run in {title!r}")
    needs_prefect = any(e.line.startswith(("dosing demo", "dosing flows run")) for e in commands)
    api = request.getfixturevalue("prefect_api") if needs_prefect else None
    section = Section(title, tmp_path, api)
    wrong = []
    try:
        section.prepare(commands)
        for example in commands:
            result = section.run(example)
            if result.returncode != example.expected or "Traceback" in result.stderr:
                wrong.append(f"{example.line}\n  exit {result.returncode} (README: {example.expected})\n"
                             f"  {result.stdout[-600:]}{result.stderr[-600:]}")  # fmt: skip
    finally:
        section.close()
    assert wrong == [], "\n".join(wrong)
