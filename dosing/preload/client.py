"""What ``dosing`` does first: hand the command to this environment's preloader, if one runs.

``forward(argv)`` returns the command's exit status when a preloader of the same fingerprint ran it,
or ``None`` when the command is to run in-process: no preloader (the usual case: a check of one
folder), a command the preloader does not take (``preload`` itself, ``flows`` and ``web``, which run
for hours and load Prefect or a web server), standard streams that are closed, or a preloader that
did not answer within ``READY_SECONDS``.

The command's process takes on this process's resource limits (``ulimit``) where it can lower its own.

A command runs once, never twice: the preloader forks the command's process and that process
announces itself (``ready``, with its pid) and then waits for ``go`` before it runs anything; this
process's standard streams and terminal go with ``go``, never before, so a preloader that hangs holds
none of them. Until
``go`` is sent this process may still run the command itself; once it is sent, the command is the
preloader's, and a process that ends without an exit status is reported, never run again here.
Signals this process receives while it waits (Ctrl-C, ``kill``, a closed terminal) are passed on to the
command's process; a command killed by a signal ends this process by the same signal.

Standard library only, and nothing is imported unless a preloader's socket exists; what is imported
is chosen for its cost (no ``typing``, ``json``, ``contextlib``, ``hashlib`` or ``socket``: 35 ms
together).
"""

from __future__ import annotations

import os
import stat
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs every command 10 ms to import
    from typing import Any

#: Commands always run in-process.
NOT_PRELOADED = frozenset({"preload", "flows", "web"})
#: How long to wait for the command's process to announce itself before running it here.
READY_SECONDS = 10.0
#: Resource limits (``ulimit``) the command's process takes on from this one.
LIMITS = (
    "RLIMIT_NOFILE",
    "RLIMIT_AS",
    "RLIMIT_DATA",
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_CORE",
    "RLIMIT_NPROC",
)
#: Signals passed on to the command's process.
FORWARDED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")


def forward(argv: list[str]) -> int | None:
    """The exit status of ``dosing ARGV`` run by this environment's preloader, or None: run it here."""
    command = next((word for word in argv if not word.startswith("-")), None)
    if command in NOT_PRELOADED:
        return None
    from dosing.preload import address

    where = address.folder()
    if not address.private_folder(where):
        return None
    print_ = address.fingerprint()
    path = address.socket_path(print_, where)
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return None
    except OSError:
        return None
    request = _request(print_)
    if request is None:
        return None
    return _run(path, request)


def _request(print_: str) -> dict[str, Any] | None:
    streams = (sys.stdin, sys.stdout, sys.stderr)
    if any(stream is None for stream in streams):
        return None
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    umask = os.umask(0o077)
    os.umask(umask)
    import resource

    limits = {name: resource.getrlimit(getattr(resource, name)) for name in LIMITS if hasattr(resource, name)}
    return {
        "op": "run",
        "fingerprint": print_,
        "argv": list(sys.argv),
        "path0": sys.path[0] if sys.path else "",
        "env": dict(os.environ),
        "cwd": cwd,
        "umask": umask,
        "limits": limits,
        "streams": [_describe(stream) for stream in streams],
    }


def _describe(stream: Any) -> dict[str, Any]:
    return {
        "encoding": getattr(stream, "encoding", None) or "utf-8",
        "errors": getattr(stream, "errors", None) or "strict",
        "line_buffering": bool(getattr(stream, "line_buffering", False)),
        "write_through": bool(getattr(stream, "write_through", False)),
    }


def _run(path: str, request: dict[str, Any]) -> int | None:
    import _signal  # not `signal` (enum: 4 ms) nor `socket` (selectors: 10 ms), for every command
    import _socket

    from dosing.preload import wire

    terminal = -1
    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        connection.settimeout(READY_SECONDS)
        try:
            connection.connect(path)
            wire.send(connection, request)
            ready, _ = wire.receive(connection)
        except (OSError, wire.WireError):
            return None  # nothing ran: the command is this process's
        pid = ready.get("pid")
        if ready.get("ready") is not True or not isinstance(pid, int) or pid <= 0:
            return None

        received: list[int] = []

        def pass_on(number: int, _frame: object) -> None:
            received.append(number)
            try:  # noqa: SIM105 - contextlib costs every command 4 ms to import
                os.kill(pid, number)
            except OSError:
                pass

        for name in FORWARDED_SIGNALS:
            _signal.signal(getattr(_signal, name), pass_on)
        # The streams and the terminal go with the go-ahead: a preloader that hangs before it never
        # holds them (a pipe it held would not end while it hangs, though this process had).
        descriptors = [0, 1, 2]
        try:
            terminal = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
        except OSError:
            terminal = -1
        if terminal >= 0:
            descriptors.append(terminal)
        try:
            wire.send(connection, {"go": True, "terminal": terminal >= 0}, descriptors)
        except OSError:
            return None  # the process ended before it could read "go": nothing ran
        if terminal >= 0:
            os.close(terminal)
            terminal = -1
        connection.settimeout(None)
        try:
            result, _ = wire.receive(connection)
        except (OSError, wire.WireError):
            result = {}
        status = result.get("exit")
        if isinstance(status, int):
            return status
        if received:
            # Killed by the signal passed on (SIGTERM, SIGHUP...): end the same way.
            _signal.signal(received[-1], _signal.SIG_DFL)
            os.kill(os.getpid(), received[-1])
        sys.stderr.write(
            "error: preload: the command's process ended without an exit status (killed?); it is not "
            "run again: `dosing status` and `dosing audit` show what it stored (rule: a preloaded "
            "command runs once)\n"
        )
        return 1
    finally:
        if terminal >= 0:
            os.close(terminal)
        connection.close()
