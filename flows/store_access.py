"""How the flows reach the store: one open store per process and URL, and which errors are worth a retry.

A flow's tasks run in the flow's process (or a worker's): opening the store creates or upgrades the
schema, so it is done once per database URL and reused by every batch.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dosing.store import Store

#: Retries of a task after a transient database error (a dropped connection, a locked SQLite file).
RETRIES = 3
RETRY_DELAYS_SECONDS: list[float] = [2.0, 10.0, 30.0]


@lru_cache(maxsize=8)
def _open(url: str | None) -> Store:
    from dosing.store import open_store

    return open_store(url)


def store_for(database_url: str | None) -> Store:
    """The store at ``database_url``, or the one the settings name (``DOSING_DATABASE_URL``)."""
    return _open(database_url or None)


def forget_stores() -> None:
    """Drop the cached stores (tests that point several flows at different files)."""
    _open.cache_clear()


def is_transient_database_error(error: BaseException | None) -> bool:
    """A connection or lock problem that may pass: retried. Bad data or a broken rule: never retried."""
    from sqlalchemy.exc import DisconnectionError, OperationalError

    while error is not None:
        if isinstance(error, OperationalError | DisconnectionError):
            return True
        error = error.__cause__ or error.__context__
    return False


def retry_on_transient_database_error(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry only what :func:`is_transient_database_error` admits."""
    try:
        state.result()
    except BaseException as error:
        return is_transient_database_error(error)
    return False
