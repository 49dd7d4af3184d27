"""The server clock: the only source of the time a change is recorded at.

Records are stamped by the machine running the application, never by a time a person typed
(ALCOA+ "contemporaneous"). ``--as-of`` options are for reads and previews only.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current instant, UTC."""
    return datetime.now(UTC)
