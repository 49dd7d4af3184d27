"""Where a command writes (``-o``): checked before anything is read or computed, so a missing or
read-only folder is one ``error: output: ...`` line, never a traceback after the work is done."""

from __future__ import annotations

import os
from pathlib import Path

from dosing.errors import DosingError


def writable_folder(folder: Path, field: str = "output") -> Path:
    """An existing folder this process may write files in."""
    if not folder.exists():
        raise DosingError(field, "an existing, writable folder", f"{folder} does not exist")
    if not folder.is_dir():
        raise DosingError(field, "an existing, writable folder", f"{folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DosingError(field, "an existing, writable folder", f"{folder} is not writable")
    return folder


def writable_file(path: Path, field: str = "output") -> Path:
    """A file to write: in an existing, writable folder, and not a folder itself."""
    if path.is_dir():
        raise DosingError(field, "a file in an existing, writable folder", f"{path} is a directory")
    writable_folder(path.parent if str(path.parent) else Path("."), field)
    return path


def folder_to_write(folder: Path, field: str = "output") -> Path:
    """A folder files are written in: an existing, writable one, or a new one in an existing,
    writable folder (made when the files are written)."""
    if folder.exists():
        return writable_folder(folder, field)
    writable_folder(folder.parent, field)
    return folder
