"""A subscribed calendar: the export's .ics with refresh hints for the client that polls it.

The events are exactly the export's (:func:`calendars.ics.to_ical`); a subscription only adds how
often to poll: ``REFRESH-INTERVAL`` (RFC 7986) and ``X-PUBLISHED-TTL`` (Outlook, Google), placed in
the VCALENDAR header. The entity tag is a digest of the bytes, so an unchanged calendar costs a
client one ``304 Not Modified``.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

_HEADER = b"BEGIN:VCALENDAR\r\n"


def duration_text(interval: timedelta) -> str:
    """RFC 5545 DURATION of whole minutes, e.g. ``PT15M``.

    >>> duration_text(timedelta(minutes=15))
    'PT15M'
    >>> duration_text(timedelta(hours=2))
    'PT120M'
    """
    minutes = int(interval.total_seconds() // 60)
    if minutes < 1:
        raise ValueError("a refresh interval is at least one minute")
    return f"PT{minutes}M"


def with_refresh_hints(ics: bytes, interval: timedelta) -> bytes:
    """``ics`` with REFRESH-INTERVAL and X-PUBLISHED-TTL inserted right after BEGIN:VCALENDAR.

    >>> ics = b"BEGIN:VCALENDAR\\r\\nVERSION:2.0\\r\\nEND:VCALENDAR\\r\\n"
    >>> for line in with_refresh_hints(ics, timedelta(minutes=30)).decode().splitlines():
    ...     print(line)
    BEGIN:VCALENDAR
    REFRESH-INTERVAL;VALUE=DURATION:PT30M
    X-PUBLISHED-TTL:PT30M
    VERSION:2.0
    END:VCALENDAR
    """
    if not ics.startswith(_HEADER):
        raise ValueError("not an iCalendar stream (no BEGIN:VCALENDAR first)")
    duration = duration_text(interval).encode()
    hints = b"REFRESH-INTERVAL;VALUE=DURATION:" + duration + b"\r\nX-PUBLISHED-TTL:" + duration + b"\r\n"
    return _HEADER + hints + ics[len(_HEADER) :]


def entity_tag(body: bytes) -> str:
    """A strong ETag (quoted) for ``body``."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
