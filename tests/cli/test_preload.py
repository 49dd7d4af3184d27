"""``dosing preload``: commands run by a preloaded process behave exactly as commands run from nothing.

Real processes throughout: the ``dosing`` command, the preloader it starts, a SQLite store, a
pseudo-terminal for the hidden password prompt, real signals. Each test's commands go to the
preloader only when they share its fingerprint (this code, this interpreter, the ``DOSING_*`` and
interpreter variables); the preloader's ``served`` count tells which way a command went.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from dosing.preload import address, client
from tests.dosing_cli import DOSING, PASSWORD, TESTER, DosingCLI
from tests.store.conftest import pg_schema_url  # noqa: F401 (a fixture)


class Preloaded:
    def __init__(self, root: Path, name: str, database_url: str | None = None) -> None:
        # A socket's path is at most 107 bytes: the runtime folder is a short one, as /run/user/UID is.
        run = Path(tempfile.mkdtemp(prefix="dp-", dir="/tmp"))
        self.cli = DosingCLI(root / name, database_url, XDG_RUNTIME_DIR=str(run))
        (root / name).mkdir()
        self.run = run
        self.folder = run / "dosing-preload"

    def start(self, *options: str) -> subprocess.CompletedProcess[str]:
        result = self.cli.raw("preload", "start", *options)
        assert result.returncode == 0, result.stderr
        return result

    def state(self) -> dict:
        rows = json.loads(self.cli.raw("preload", "status", "--json").stdout)
        mine = [row for row in rows if row["this_environment"]]
        assert len(mine) == 1, rows
        return mine[0]

    def served(self) -> int:
        return int(self.state()["served"])

    def stop(self) -> None:
        self.cli.raw("preload", "stop", "--all")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.run, ignore_errors=True)


@pytest.fixture
def preloader(tmp_path: Path) -> Iterator[Preloaded]:
    """A preloader's environment of the test's own (nothing started)."""
    here = Preloaded(tmp_path, "own")
    yield here
    here.remove()


@pytest.fixture(scope="module")
def preloaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Preloaded]:
    here = Preloaded(tmp_path_factory.mktemp("preload"), "ward")
    here.cli.setup_accounts()
    here.cli("enroll", "NCT04822922", "--subject", "P-001", "--arm", "low", "--weight", "62kg",
             "--anchor", date.today().isoformat())  # fmt: skip
    here.start("--idle-minutes", "30")
    yield here
    here.remove()


def test_start_says_how_long_it_took_and_a_second_start_finds_the_first(preloaded: Preloaded) -> None:
    pid = preloaded.state()["pid"]
    again = preloaded.start()
    assert again.stdout.startswith(f"a preloader already runs for this environment (pid {pid})")
    assert preloaded.state()["pid"] == pid
    names = {entry.name: entry.stat().st_mode & 0o777 for entry in preloaded.folder.iterdir()}
    assert preloaded.folder.stat().st_mode & 0o777 == 0o700
    assert set(names.values()) == {0o600}  # socket, lock and log: the user's own
    assert len(names) == 3


@pytest.mark.parametrize(
    "args",
    [
        ("status", "P-001"),
        ("status", "P-001", "--json"),
        ("overdue",),
        ("audit", "--limit", "5"),
        ("whoami",),
        ("status", "NO-SUCH"),  # refused: exit 2, the same one-line error
        ("status", "P-001", "--as-of", "9999-01-01"),  # refused: the year limit
        ("status",),  # click's own usage refusal
        ("protocols", "list"),
        ("plan", "NCT04822922", "--arm", "high", "--weight", "620kg", "--anchor", "2026-12-01"),
    ],
    ids=lambda args: " ".join(args),
)
def test_a_command_prints_and_ends_the_same_preloaded_as_from_nothing(
    preloaded: Preloaded, args: tuple[str, ...]
) -> None:
    cli = preloaded.cli
    before = preloaded.served()
    fast = cli.raw(*args)
    assert preloaded.served() == before + 1
    # The same command with the preloader out of the way (another fingerprint: a PYTHON variable).
    slow = subprocess.run(
        [str(DOSING), *args],
        env=dict(cli.env, PYTHONHASHSEED="0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert preloaded.served() == before + 1
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    assert "Traceback" not in fast.stderr


def test_a_signed_skip_reads_the_password_from_the_callers_standard_input(preloaded: Preloaded) -> None:
    cli = preloaded.cli
    before = preloaded.served()
    cli("enroll", "NCT04822922", "--subject", "P-002", "--arm", "low", "--weight", "62kg",
        "--anchor", date.today().isoformat())  # fmt: skip
    skipped = cli("skip", "P-002", "--dose", "2", "--reason", "held for fever")
    assert skipped.stdout.startswith("skipped dose 2 of P-002")
    wrong = cli("skip", "P-002", "--dose", "3", "--reason", "held", password="not the password", ok=False)
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("error: password: wrong username or password")
    assert preloaded.served() == before + 3
    trail = json.loads(cli("audit", "P-002", "--json").stdout)
    assert [(entry["action"], entry["actor"]) for entry in trail][-1] == ("record_skipped", TESTER)
    assert cli("audit", "verify").returncode == 0


def test_two_people_skipping_the_same_dose_at_once_record_it_once(preloaded: Preloaded) -> None:
    cli = preloaded.cli
    cli("enroll", "NCT04822922", "--subject", "P-003", "--arm", "low", "--weight", "62kg",
        "--anchor", date.today().isoformat())  # fmt: skip
    cli.login(TESTER)
    before = preloaded.served()
    results = _skip_dose_2_twice_at_once(cli, "P-003")
    assert sorted(code for _out, _err, code in results) == [0, 2], results
    assert any(err.startswith("error: dose: dose 2 of P-003 is already recorded") for _o, err, _c in results)
    assert preloaded.served() == before + 2
    trail = json.loads(cli("audit", "P-003", "--json").stdout)
    assert [entry["action"] for entry in trail].count("record_skipped") == 1


def _skip_dose_2_twice_at_once(cli: DosingCLI, subject: str) -> list[tuple[str, str, int]]:
    """Two people skip the same dose at the same moment: (stdout, stderr, exit status) of each."""
    args = [str(DOSING), "skip", subject, "--dose", "2", "--reason", "held", "--password-stdin"]
    both = [_started(cli, args) for _ in range(2)]
    return [(*process.communicate(PASSWORD + "\n", timeout=120), process.returncode) for process in both]


def _started(cli: DosingCLI, args: list[str]) -> subprocess.Popen[str]:
    pipe = subprocess.PIPE
    return subprocess.Popen(args, env=cli.env, stdin=pipe, stdout=pipe, stderr=pipe, text=True)


def _waiting_for_a_password(cli: DosingCLI, server: int) -> subprocess.Popen[str]:
    """``dosing login --password-stdin`` with standard input left open: its process, preloaded, waits."""
    waiting = _started(cli, [str(DOSING), "login", TESTER, "--password-stdin"])
    _wait_for(lambda: len(_children(server)) == 1)
    time.sleep(1.0)  # the command is reading its standard input
    return waiting


def test_a_preloader_that_does_not_answer_leaves_the_command_to_this_process_once(
    preloaded: Preloaded,
) -> None:
    cli = preloaded.cli
    cli("enroll", "NCT04822922", "--subject", "P-004", "--arm", "low", "--weight", "62kg",
        "--anchor", date.today().isoformat())  # fmt: skip
    cli.login(TESTER)
    server = preloaded.state()["pid"]
    before = preloaded.served()
    os.kill(server, signal.SIGSTOP)  # a preloader that hangs: it takes no connection
    try:
        started = time.monotonic()
        skipped = cli("skip", "P-004", "--dose", "2", "--reason", "held")
        waited = time.monotonic() - started
    finally:
        os.kill(server, signal.SIGCONT)
    assert skipped.stdout.startswith("skipped dose 2 of P-004")
    assert waited >= client.READY_SECONDS  # it waited, then ran the command itself
    # The preloader takes the connection the caller gave up on; its process finds nobody to say go.
    _wait_for(lambda: preloaded.served() == before + 1)
    _wait_for(lambda: not _children(server))
    trail = json.loads(cli("audit", "P-004", "--json").stdout)
    assert [entry["action"] for entry in trail].count("record_skipped") == 1


def test_a_password_typed_at_the_terminal_is_not_echoed(preloaded: Preloaded) -> None:
    cli = preloaded.cli
    before = preloaded.served()
    pid, terminal = pty.fork()
    if pid == 0:  # pragma: no cover - the child becomes dosing
        os.execve(str(DOSING), [str(DOSING), "login", TESTER], cli.env)
    shown = _read_until(terminal, b"Password")
    os.write(terminal, (PASSWORD + "\n").encode())
    shown += _read_until(terminal, None)
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    text = shown.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "logged in as Tess Tester (tester)" in text
    assert PASSWORD not in text
    assert preloaded.served() == before + 1


def _read_until(terminal: int, marker: bytes | None, seconds: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([terminal], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # EIO: the process ended and the terminal closed
            return seen
        if not chunk:
            return seen
        seen += chunk
        if marker is not None and marker in seen:
            return seen
    raise AssertionError(f"waited {seconds} s for {marker!r}; saw {seen!r}")


@pytest.mark.parametrize(("sent", "ends"), [(signal.SIGINT, 1), (signal.SIGTERM, -signal.SIGTERM)])
def test_a_signal_to_the_command_reaches_its_process(preloaded: Preloaded, sent: int, ends: int) -> None:
    cli = preloaded.cli
    server = preloaded.state()["pid"]
    before = preloaded.served()
    waiting = _waiting_for_a_password(cli, server)
    assert preloaded.served() == before + 1
    waiting.send_signal(sent)
    waiting.wait(timeout=60)  # standard input stays open until the command has ended
    _out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == ends, err
    if sent == signal.SIGINT:
        assert "Aborted!" in err and "Traceback" not in err
    _wait_for(lambda: not _children(server))  # the command's process ended too


def test_a_command_process_killed_outright_is_reported_not_run_again(preloaded: Preloaded) -> None:
    cli = preloaded.cli
    server = preloaded.state()["pid"]
    waiting = _waiting_for_a_password(cli, server)
    os.kill(_children(server)[0], signal.SIGKILL)
    out, err = waiting.communicate(PASSWORD + "\n", timeout=60)
    assert waiting.returncode == 1
    assert err.startswith("error: preload: the command's process ended without an exit status (killed?)")
    assert "rule: a preloaded command runs once" in err and out == ""


def test_a_caller_killed_outright_takes_its_command_with_it(preloaded: Preloaded) -> None:
    cli = preloaded.cli
    server = preloaded.state()["pid"]
    waiting = _waiting_for_a_password(cli, server)
    waiting.kill()  # SIGKILL: nothing to pass on
    waiting.wait(timeout=60)
    _wait_for(lambda: not _children(server))  # the command's process ended with it, nothing stored
    waiting.communicate(timeout=60)
    assert cli("whoami").returncode == 0


def _children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (from /proc: the fourth field of each stat)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _wait_for(condition, seconds: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("waited too long")
        time.sleep(0.05)


def test_the_command_runs_in_the_callers_folder_with_its_umask_and_limits(preloaded: Preloaded) -> None:
    cli = preloaded.cli
    folder = Path(tempfile.mkdtemp(prefix="dp-cwd-"))
    before = preloaded.served()
    # A relative output path, in the caller's folder, with the caller's umask.
    script = f"umask 027; {DOSING} calendar P-001 -o relative.ics > out.txt 2> err.txt; echo $? > status.txt"
    subprocess.run(["bash", "-c", script], env=cli.env, cwd=folder, check=True, timeout=120)
    assert (folder / "status.txt").read_text() == "0\n", (folder / "err.txt").read_text()
    written = folder / "relative.ics"
    assert written.read_text().startswith("BEGIN:VCALENDAR")
    assert written.stat().st_mode & 0o777 == 0o640
    assert (folder / "err.txt").read_text().startswith("relative.ics: 15 events")
    assert preloaded.served() == before + 1
    # A file size limit of 1 KiB: the store cannot grow its journal, preloaded or not.
    limited = [
        subprocess.run(
            ["bash", "-c", f"ulimit -f 1; {DOSING} calendar P-001 -o {folder}/limited.ics"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for env in (cli.env, dict(cli.env, PYTHONHASHSEED="0"))
    ]
    assert preloaded.served() == before + 2
    assert limited[0].returncode == limited[1].returncode == 1
    assert limited[0].stderr == limited[1].stderr
    assert limited[0].stderr.startswith("error: database connection: OperationalError: disk I/O error")
    shutil.rmtree(folder, ignore_errors=True)


def test_another_environment_or_a_faked_clock_runs_the_command_itself(preloaded: Preloaded) -> None:
    cli = preloaded.cli
    before = preloaded.served()
    other = subprocess.run([str(DOSING), "whoami"], env=dict(cli.env, DOSING_WEIGHT_MAX_KG="250"),
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert other.returncode == 0, other.stderr
    cli.login(TESTER, clock="2026-12-01T09:00+00:00")  # libfaketime: LD_PRELOAD and FAKETIME
    faked = cli.raw("whoami", clock="2026-12-01T09:00+00:00")
    assert faked.returncode == 0, faked.stderr
    assert preloaded.served() == before
    cli.login(TESTER)  # a session on the real clock again, for the tests that follow


def test_a_killed_preloader_leaves_its_socket_behind_and_commands_still_run(preloader: Preloaded) -> None:
    here = preloader
    here.cli.setup_accounts()
    here.start()
    pid = here.state()["pid"]
    os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: not Path(f"/proc/{pid}").exists() or "Z" in _state_of(pid))
    assert any(entry.suffix == ".sock" for entry in here.folder.iterdir())
    result = here.cli.raw("whoami")
    assert result.returncode == 0, result.stderr
    assert here.start().stdout.startswith("preloader started")
    assert here.state()["pid"] != pid
    assert here.cli.raw("whoami").returncode == 0
    assert here.served() == 1
    here.stop()
    assert list(here.folder.iterdir()) == []


def _state_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "gone"


def test_an_idle_preloader_stops_and_removes_its_socket(preloader: Preloaded) -> None:
    here = preloader
    here.start()
    print_ = here.state()["fingerprint"]
    here.stop()
    server = _server(here, print_, "1")  # one idle second
    assert server.wait(timeout=60) == 0
    assert list(here.folder.iterdir()) == []  # socket, lock and log removed


def _server(here: Preloaded, print_: str, idle: str, check: str = "60") -> subprocess.Popen[str]:
    """The preloader as `dosing preload start` starts it, with its idle and check times given."""
    server = subprocess.Popen(
        [sys.executable, "-m", "dosing.preload.server", print_, str(here.folder), idle, check],
        env=here.cli.env, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None and server.stdout.readline().startswith("ready ")
    return server


def test_a_preloader_stops_when_its_code_changes_or_its_socket_goes(preloader: Preloaded) -> None:
    here = preloader
    here.start()
    print_ = here.state()["fingerprint"]
    here.stop()
    server = _server(here, print_, "600", "0.2")
    assert here.served() == 0
    # An edit (here: a new modification time of a protocol file, put back after) is other code.
    edited = Path(address.ROOT) / "protocols" / "schema.json"
    stamp = edited.stat()
    try:
        os.utime(edited, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
        assert server.wait(timeout=60) == 0
    finally:
        os.utime(edited, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert list(here.folder.iterdir()) == []
    assert here.cli.raw("protocols", "list").returncode == 0  # in-process: no preloader
    server = _server(here, print_, "600", "0.2")
    (here.folder / f"{print_}.sock").unlink()  # someone removed the socket: nobody can reach it
    assert server.wait(timeout=60) == 0
    assert list(here.folder.iterdir()) == []


def test_a_preloader_started_for_other_code_refuses_to_serve(preloader: Preloaded) -> None:
    here = preloader
    here.folder.mkdir(mode=0o700)
    refused = subprocess.run(
        [sys.executable, "-m", "dosing.preload.server", "0" * 24, str(here.folder), "60"],
        env=here.cli.env, cwd="/", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2
    assert refused.stdout.startswith("refused: this code or its interpreter changed")


@pytest.mark.skipif(os.getuid() != 0, reason="switching to another user needs root")
def test_another_user_cannot_reach_the_preloader(preloaded: Preloaded) -> None:
    sockets = list(preloaded.folder.glob("*.sock"))
    assert len(sockets) == 1
    probe = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    print('refused')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(sockets[0])], capture_output=True, text=True)
    assert result.stdout.strip() == "refused", result.stderr


def test_a_folder_others_can_enter_is_not_used(preloader: Preloaded) -> None:
    here = preloader
    here.folder.mkdir(mode=0o755)
    os.chmod(here.folder, 0o755)
    started = here.cli.raw("preload", "start")
    assert started.returncode == 2
    assert started.stderr.startswith("error: preload: ") and "mode 0700" in started.stderr
    assert not list(here.folder.iterdir())


def test_the_fingerprint_follows_the_code_and_the_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for package in address.PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "module.py").write_text("x = 1\n")
    monkeypatch.setattr(address, "ROOT", str(tmp_path))
    environ = {"HOME": "/home/a", "DOSING_DATABASE_URL": "sqlite:///a.db", "PATH": "/bin"}
    first = address.fingerprint(environ)
    assert address.fingerprint(dict(environ, HOME="/home/b", PATH="/usr/bin")) == first
    assert address.fingerprint(dict(environ, DOSING_DATABASE_URL="sqlite:///b.db")) != first
    assert address.fingerprint(dict(environ, LD_PRELOAD="libfaketime.so.1")) != first
    assert address.fingerprint(dict(environ, TZ="Asia/Shanghai")) != first
    module = tmp_path / "calendars" / "module.py"
    stamp = module.stat().st_mtime_ns
    os.utime(module, ns=(stamp, stamp + 1))
    assert address.fingerprint(environ) != first
    os.utime(module, ns=(stamp, stamp))
    assert address.fingerprint(environ) == first
    module.write_text("x = 10\n")
    os.utime(module, ns=(stamp, stamp))  # an edit that keeps the time: the size tells
    assert address.fingerprint(environ) != first
    (tmp_path / "dosing" / "new.py").write_text("")
    assert address.fingerprint(environ) != first


def test_a_connection_that_sends_nothing_does_not_stop_the_preloader(preloaded: Preloaded) -> None:
    sockets = list(preloaded.folder.glob("*.sock"))
    silent = socket.socket(socket.AF_UNIX)
    silent.connect(str(sockets[0]))
    silent.sendall(b"\x00\x00\x00\x05{not")
    silent.close()
    quiet = socket.socket(socket.AF_UNIX)
    quiet.connect(str(sockets[0]))  # connected, sends nothing: the preloader waits 2 s, then goes on
    before = preloaded.served()
    try:
        assert preloaded.cli("whoami").stdout.startswith("Tess Tester (tester)")
    finally:
        quiet.close()
    assert preloaded.served() == before + 1


def test_a_socket_path_too_long_for_unix_is_refused_before_anything_starts(tmp_path: Path) -> None:
    deep = tmp_path / ("r" * 90)
    deep.mkdir(mode=0o700)
    cli = DosingCLI(tmp_path, XDG_RUNTIME_DIR=str(deep))
    refused = cli.raw("preload", "start")
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: preload: ") and "at most 107 bytes" in refused.stderr
    assert [entry.name for entry in (deep / "dosing-preload").iterdir()] == []
    assert cli.raw("protocols", "list").returncode == 0  # and commands run in-process as before


@pytest.mark.postgres
def test_on_postgresql_preloaded_commands_store_and_read_as_from_nothing(
    pg_schema_url: str,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    here = Preloaded(tmp_path, "pg", pg_schema_url)
    try:
        cli = here.cli
        cli.setup_accounts()
        here.start()
        cli("enroll", "NCT04822922", "--subject", "G-001", "--arm", "low", "--weight", "62kg",
            "--anchor", date.today().isoformat())  # fmt: skip
        cli.login(TESTER)
        assert sorted(code for _out, _err, code in _skip_dose_2_twice_at_once(cli, "G-001")) == [0, 2]
        fast = cli.raw("status", "G-001", "--json")
        slow = subprocess.run(
            [str(DOSING), "status", "G-001", "--json"],
            env=dict(cli.env, PYTHONHASHSEED="0"), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert (fast.returncode, fast.stdout) == (slow.returncode, slow.stdout) and fast.returncode == 0
        assert here.served() == 5  # login, enroll, two skips, status
        assert cli.raw("audit", "verify").returncode == 0
    finally:
        here.remove()
