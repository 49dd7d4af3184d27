"""What a failed flow run leaves behind: a clean reason, never the data it was working on.

Prefect writes the exception of a failed flow run to its result storage whatever ``persist_result``
says (``$PREFECT_HOME/storage``, pickled, readable by everyone by default). SQLAlchemy's messages carry
the SQL parameters (subject codes, weights, notes) and pydantic's carry the input values (roster rows),
so every flow: stores its results as JSON (``result_serializer="json"``), keeps the storage folder
private to its owner, and turns such errors into a DosingError that states the rule only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Every flow's result serializer: an exception is stored as its type and message, never pickled.
RESULT_SERIALIZER = "json"


def private_result_storage() -> Path:
    """Prefect's local result folder, created (or narrowed) to mode 0700 for its owner."""
    from prefect.settings import get_current_settings

    folder = Path(get_current_settings().results.local_storage_path).expanduser()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid == os.getuid():
        folder.chmod(0o700)
    return folder


def clean_failure(error: Exception) -> Exception:
    """``error`` as the flow run's failure: database and validation errors without their data."""
    from pydantic import ValidationError

    from dosing.errors import DosingError, from_validation_error
    from dosing.store.database_errors import database_refusal

    if isinstance(error, DosingError):
        return error
    refusal = database_refusal(error)
    if refusal is not None:
        return refusal
    if isinstance(error, ValidationError):
        return from_validation_error(error)  # the field and the rule, not the input value
    return error


@contextmanager
def data_free_failures() -> Iterator[None]:
    """Around a flow's body: private result storage, and a failure that carries no ledger data."""
    private_result_storage()
    try:
        yield
    except Exception as error:
        cleaned = clean_failure(error)
        if cleaned is error:
            raise
        raise cleaned from None  # no __cause__: the original message stays out of every record
