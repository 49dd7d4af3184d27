"""Database errors told as one clean refusal, never with the SQL statement or its parameters.

SQLAlchemy's message carries both (subject codes, weights, notes). Whatever shows an error to a person
or stores it (the CLI's error line, a Prefect flow's failed state) goes through here.
"""

from __future__ import annotations

import sys

from dosing.errors import DosingError
from dosing.free_text import printable


def database_refusal(error: BaseException) -> DosingError | None:
    """A database error as one clean DosingError, or None when ``error`` is not one.

    Never the SQL statement or its parameters (SQLAlchemy prints both; they hold subject codes,
    weights and notes): the driver's first line only, which names the constraint or the limit.
    """
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is None or not isinstance(error, exc.SQLAlchemyError):
        return None  # SQLAlchemy not even imported: not a database error
    original = getattr(error, "orig", None)
    detail = printable(str(original if original is not None else type(error).__name__).splitlines()[0])[:200]
    if isinstance(error, exc.OperationalError | exc.InterfaceError | exc.TimeoutError):
        return DosingError(
            "database connection",
            "the store must be reachable and writable; nothing was changed",
            f"{type(error).__name__}: {detail}",
        )
    return DosingError(
        "database",
        "the store refused the change; nothing was changed",
        f"{type(error).__name__}: {detail}",
    )
