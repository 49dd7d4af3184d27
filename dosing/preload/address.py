"""Which preloader serves a command, and where its socket is.

A preloader may serve a command only if it runs the very code the command would run in-process, under
the same interpreter and the variables read while importing. The **fingerprint** covers:

- the interpreter (``sys.executable``, its version, its ``-X``/``-W``/``-O`` options) and the
  module search path after its first entry (the first is the script's folder or the working folder,
  which differs between ``dosing`` and ``python -m dosing``), with each entry's modification time:
  installing, upgrading or removing a package changes its folder's;
- every file of this project's packages, ``dosing``, ``calendars`` and ``protocols`` (path, size,
  modification time, to the nanosecond): an edit or an upgrade of this code is a new fingerprint;
- the variables that shape the interpreter or this program: ``PYTHON*``, ``LD_*`` (``LD_PRELOAD``:
  libfaketime), ``FAKETIME*``, ``DOSING_*``, ``TZ``, ``LANG``, ``LANGUAGE`` and ``LC_*``. Each
  command still runs with the caller's whole environment; these only choose the preloader.

The socket of a fingerprint is ``<folder>/<fingerprint>.sock``, the folder being
``$XDG_RUNTIME_DIR/dosing-preload`` or else ``$TMPDIR/dosing-preload-<uid>`` (``/tmp`` without
``TMPDIR``): a directory of the user's own, mode 0700, never a symbolic link; anything else is not
used. Standard library only: ``dosing`` computes this before importing anything else.
"""

from __future__ import annotations

import os
import stat
import sys

try:  # BLAKE2 itself: `hashlib` would load OpenSSL first (3 ms of every command)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter built without it
    from hashlib import blake2b

#: Variables that choose the preloader (beside the interpreter and the code); see the module's text.
FINGERPRINT_PREFIXES = ("PYTHON", "LD_", "FAKETIME", "DOSING_", "LC_")
FINGERPRINT_NAMES = ("TZ", "LANG", "LANGUAGE")

#: The folder that holds the ``dosing`` package, and the packages of this project in it.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("dosing", "calendars", "protocols")


def fingerprint(
    environ: dict[str, str] | os._Environ[str] | None = None, search_path: list[str] | None = None
) -> str:
    """The fingerprint of this interpreter, this code and these variables (hex, 24 characters);
    ``search_path`` is ``sys.path`` as it was when the process started, if it changed since."""
    environ = os.environ if environ is None else environ
    search_path = sys.path if search_path is None else search_path
    digest = blake2b(digest_size=12)

    def add(*parts: object) -> None:
        digest.update(repr(parts).encode("utf-8", "backslashreplace") + b"\n")

    add(
        "python",
        sys.executable,
        sys.version,
        tuple(sys.flags),
        sys.warnoptions,
        sorted(sys._xoptions.items()),
    )
    for entry in search_path[1:]:
        add("path", entry, _modified(entry))
    for package in PACKAGES:
        for folder, names, files in os.walk(os.path.join(ROOT, package)):
            names[:] = sorted(name for name in names if name != "__pycache__")
            for name in sorted(files):
                path = os.path.join(folder, name)
                try:
                    found = os.stat(path)
                except OSError:
                    continue
                add("file", os.path.relpath(path, ROOT), found.st_size, found.st_mtime_ns)
    for name in sorted(environ):
        if name.startswith(FINGERPRINT_PREFIXES) or name in FINGERPRINT_NAMES:
            add("env", name, environ[name])
    return digest.hexdigest()


def _modified(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def folder() -> str:
    """Where this user's preloader sockets live (not created here)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and _private(runtime):
        return os.path.join(runtime, "dosing-preload")
    temporary = os.environ.get("TMPDIR") or "/tmp"
    return os.path.join(temporary, f"dosing-preload-{os.getuid()}")


def private_folder(path: str) -> bool:
    """Whether ``path`` is a real directory of this user's that nobody else can enter."""
    return _private(path)


def _private(path: str) -> bool:
    try:
        found = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(found.st_mode)
        and found.st_uid == os.getuid()
        and not found.st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    )


def socket_path(print_: str, where: str | None = None) -> str:
    return os.path.join(where or folder(), f"{print_}.sock")


def lock_path(print_: str, where: str | None = None) -> str:
    return os.path.join(where or folder(), f"{print_}.lock")


def log_path(print_: str, where: str | None = None) -> str:
    return os.path.join(where or folder(), f"{print_}.log")
