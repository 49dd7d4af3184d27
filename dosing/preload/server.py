"""The preloader: imports the command line's code once, then forks a process for each command.

Started by ``dosing preload start`` as ``python -m dosing.preload.server FINGERPRINT FOLDER
IDLE_SECONDS`` in a session of its own. It:

1. checks that its own fingerprint is the one it was started for (the code did not change between);
2. holds ``FINGERPRINT.lock`` (``flock``: one preloader a fingerprint; a second start says the first
   runs);
3. imports every module of the command line and of what its commands import when they run (never a
   module of ``preload``, ``flows`` or ``web``), sets up SQLAlchemy's mappers, then moves what it made
   out of the cyclic garbage collector's reach (``gc.freeze``: the forked processes neither scan nor
   copy it), and listens on ``FINGERPRINT.sock`` (mode 0600, in a folder of mode 0700); the socket,
   the lock and the log are removed when it stops;
4. prints ``ready PID`` for its starter, then writes only to ``FINGERPRINT.log``;
5. serves until it has been idle for IDLE_SECONDS, until its code changes (checked every minute), until
   its socket is removed, or until ``dosing preload stop`` (or SIGTERM).

Only a process of the same user is served (the socket's peer credentials). No store is opened, no
setting read and no command run in the preloader itself: each command's process starts from freshly
imported code, takes on the caller's environment, working folder, umask, resource limits, arguments,
standard streams and terminal, and reads everything else afresh.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import gc
import getpass
import importlib
import io
import os
import pkgutil
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from dosing.preload import address, wire
from dosing.preload.client import READY_SECONDS

#: Modules never imported by the preloader (their commands run in-process) and their children.
NOT_IMPORTED = ("dosing.preload", "dosing.web", "dosing.cli.flows", "dosing.cli.web", "dosing.cli.preload")
#: Libraries the commands import only when they run (beside every ``dosing`` module).
LIBRARIES = (
    "sqlite3",
    "difflib",
    "encodings.utf_8_sig",
    "importlib.readers",
    "importlib.resources.readers",
    "protocols",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
    "alembic.migration",
    "icalendar",
)
#: How long the preloader waits for a request once connected (``dosing`` sends it at once).
REQUEST_SECONDS = 2.0
#: How often an idle preloader checks that its code and socket are still its own.
CHECK_SECONDS = 60.0


class _Stop(Exception):
    """``dosing preload stop`` or SIGTERM."""


def main(argv: list[str] | None = None) -> int:
    """``FINGERPRINT FOLDER IDLE_SECONDS [CHECK_SECONDS]`` (the last for tests: default a minute)."""
    arguments = argv if argv is not None else sys.argv[1:]
    print_, where, idle = arguments[:3]
    check = float(arguments[3]) if len(arguments) > 3 else CHECK_SECONDS
    search_path = list(sys.path)
    # Before any import: the starter computed this fingerprint in its own process.
    if address.fingerprint(search_path=search_path) != print_:
        print("refused: this code or its interpreter changed while the preloader started", flush=True)
        return 2
    lock = _lock(address.lock_path(print_, where))
    if lock is None:
        print("running: a preloader for this environment is already running", flush=True)
        return 0
    imported = preload_modules()
    gc.collect()
    gc.freeze()
    path = address.socket_path(print_, where)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a socket left by a preloader that was killed: the lock is ours now
    old_umask = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    own = os.stat(path).st_ino  # the socket is ours while this file is the one at its path
    listener.listen(64)
    state = {
        "pid": os.getpid(),
        "fingerprint": print_,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "idle_seconds": float(idle),
        "modules": imported,
        "served": 0,
        "check_seconds": check,
        "search_path": search_path,
    }
    print(f"ready {os.getpid()} {imported}", flush=True)
    _log_only(address.log_path(print_, where))
    try:
        _serve(listener, path, own, state, lock)
    finally:
        # Ours while the lock is held; the lock file last, so that a new preloader never locks a
        # file that is about to go (it checks that the file it locked is still there).
        for leftover in (path, address.log_path(print_, where), address.lock_path(print_, where)):
            with contextlib.suppress(OSError):
                os.unlink(leftover)
        listener.close()
        os.close(lock)
    return 0


def _lock(path: str) -> int | None:
    """The preloader's lock (``flock``), or None if another preloader holds it."""
    while True:
        lock = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            return None
        try:
            still_there = os.stat(path).st_ino == os.fstat(lock).st_ino
        except FileNotFoundError:
            still_there = False
        if still_there:
            return lock
        os.close(lock)  # a preloader that was ending removed it meanwhile: lock the new one


def preload_modules() -> int:
    """Import the command line's code and the libraries its commands import late; the number imported."""
    import calendars
    import dosing

    names = ["dosing.cli"]
    for package in (dosing, calendars):
        prefix = package.__name__ + "."
        for module in pkgutil.walk_packages(package.__path__, prefix, onerror=lambda name: None):
            if not module.name.startswith(NOT_IMPORTED) and not module.name.endswith(".__main__"):
                names.append(module.name)
    names.extend(LIBRARIES)
    before = len(sys.modules)
    for name in names:
        # A library not installed here (psycopg without PostgreSQL): the command imports it, or not.
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    # The mappers of the ledger's tables relate to each other once a process, on first use (about
    # 23 ms of each command): from code alone, never from data, so once here for every command.
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    return len(sys.modules) - before


def _log_only(log: str) -> None:
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)


def _serve(listener: socket.socket, path: str, own: int, state: dict[str, Any], lock: int) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the commands' processes

    def stop(_number: int, _frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    idle_until = time.monotonic() + state["idle_seconds"]
    try:
        while True:
            left = idle_until - time.monotonic()
            if left <= 0:
                _log("idle: stopping")
                return
            listener.settimeout(min(left, state["check_seconds"]))
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                if not _still_ours(path, own, state["fingerprint"], state["search_path"]):
                    _log("the code or the socket changed: stopping")
                    return
                continue
            idle_until = time.monotonic() + state["idle_seconds"]
            _answer(listener, lock, connection, state)
    except _Stop:
        _log("stopped")


def _still_ours(path: str, inode: int, print_: str, search_path: list[str]) -> bool:
    try:
        if os.stat(path).st_ino != inode:
            return False
    except OSError:
        return False
    return address.fingerprint(search_path=search_path) == print_


def _answer(listener: socket.socket, lock: int, connection: socket.socket, state: dict[str, Any]) -> None:
    try:
        credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", credentials)
        if uid != os.getuid():
            _log(f"refused a connection from uid {uid}")
            return
        connection.settimeout(REQUEST_SECONDS)
        try:
            message, _ = wire.receive(connection)
        except (OSError, wire.WireError) as error:
            _log(f"a connection without a request: {error}")
            return
        operation = message.get("op")
        if operation == "status":
            wire.send(connection, {key: value for key, value in state.items() if key != "search_path"})
        elif operation == "stop":
            wire.send(connection, {"stopping": True, "pid": state["pid"]})
            raise _Stop
        elif operation == "run":
            if message.get("fingerprint") != state["fingerprint"]:
                wire.send(connection, {"ready": False})
                return
            child = os.fork()
            if child == 0:
                code = 1
                try:
                    listener.close()
                    os.close(lock)  # the lock is the preloader's: it ends when the preloader does
                    code = _command(connection, message)
                finally:
                    os._exit(code)
            state["served"] += 1
    except OSError as error:
        _log(f"a connection ended: {error}")
    finally:
        connection.close()


def _command(connection: socket.socket, message: dict[str, Any]) -> int:
    """In the forked process: become the caller's command, wait for ``go`` (with the caller's streams
    and terminal), run, report. Returns the forked process's own exit status (the command's goes to
    the caller)."""
    for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.clear()
    os.environ.update(message["env"])
    time.tzset()
    os.chdir(message["cwd"])
    os.umask(int(message["umask"]))
    _take_limits(message.get("limits") or {})
    sys.argv = list(message["argv"])
    if sys.path:
        sys.path[0] = message["path0"]
    connection.settimeout(READY_SECONDS)
    wire.send(connection, {"ready": True, "pid": os.getpid()})
    # The caller gave up waiting: WireError, nothing runs.
    go, descriptors = wire.receive(connection, wire.MAX_DESCRIPTORS)
    if go.get("go") is not True or len(descriptors) not in (3, 4):
        return 1
    _take_streams(descriptors[:3], message["streams"])
    terminal = descriptors[3] if len(descriptors) == 4 and go.get("terminal") else None
    getpass.getpass = _getpass_on(terminal)
    connection.settimeout(None)
    finished = threading.Event()
    watcher = threading.Thread(target=_end_with_the_caller, args=(connection, finished), daemon=True)
    watcher.start()
    status = _run_main()
    finished.set()
    wire.send(connection, {"exit": status})
    return 0


def _end_with_the_caller(connection: socket.socket, finished: threading.Event) -> None:
    """The caller sends nothing after ``go``: its end closing before the command has finished means it
    was killed outright (``kill -9``, which it cannot pass on). The command ends the same way, as it
    would have in-process: its transaction, uncommitted, is rolled back by the database."""
    try:
        data = connection.recv(1)
    except OSError:
        data = b""
    if not data and not finished.is_set():
        os.kill(os.getpid(), signal.SIGKILL)


def _take_limits(limits: dict[str, Any]) -> None:
    """The caller's ``ulimit``s, where this process may set them (lowering a limit always is)."""
    import resource

    for name, (soft, hard) in limits.items():
        number = getattr(resource, name, None)
        if number is None or not name.startswith("RLIMIT_"):
            continue
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(number, (int(soft), int(hard)))


def _take_streams(descriptors: list[int], streams: list[dict[str, Any]]) -> None:
    for target, descriptor in enumerate(descriptors):
        os.dup2(descriptor, target)
    modes = ("rb", "wb", "wb")
    made = []
    for target, (mode, spec) in enumerate(zip(modes, streams, strict=True)):
        # The command's streams, for the rest of this process's life: no context to close them in.
        binary = io.open(target, mode, closefd=False)  # noqa: SIM115, UP020 - a descriptor, not a path
        made.append(
            io.TextIOWrapper(
                binary,
                encoding=spec["encoding"],
                errors=spec["errors"],
                line_buffering=spec["line_buffering"],
                write_through=spec["write_through"],
            )
        )
    sys.stdin, sys.stdout, sys.stderr = made
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = made  # type: ignore[misc]


def _run_main() -> int:
    from dosing.__main__ import run_here

    try:
        run_here()
        status = 0
    except SystemExit as ending:
        status = _exit_status(ending.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        status = 130
    except BaseException:
        traceback.print_exc()
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120  # as Python ends when its standard streams cannot be flushed
    return status


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(OSError, ValueError):
        print(code, file=sys.stderr)
    return 1


def _getpass_on(terminal: int | None) -> Any:
    """``getpass.getpass`` for a process without a controlling terminal: the caller's terminal, passed
    as a descriptor, echo off while the password is typed (as the standard library does on /dev/tty)."""
    import termios

    fallback = getattr(getpass, "fallback_getpass")  # noqa: B009 - not in typeshed's getpass

    def hidden(prompt: str = "Password: ", stream: Any = None) -> str:
        if terminal is None:
            return str(fallback(prompt, stream))
        tty = io.FileIO(os.dup(terminal), "w+")
        with tty, io.TextIOWrapper(tty) as text:
            old = termios.tcgetattr(terminal)
            new = termios.tcgetattr(terminal)
            new[3] &= ~termios.ECHO
            when = termios.TCSAFLUSH | getattr(termios, "TCSASOFT", 0)
            try:
                termios.tcsetattr(terminal, when, new)
                text.write(prompt)
                text.flush()
                line = text.readline()
            finally:
                termios.tcsetattr(terminal, when, old)
                text.write("\n")
                text.flush()
            if not line:
                raise EOFError
            return line[:-1] if line.endswith("\n") else line

    return hidden


def _log(text: str) -> None:
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"{stamp} {text}\n")
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
