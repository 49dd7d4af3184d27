"""Free text that leaves the project in an export: cut to SDTM's length, and checked for identities.

Reasons are typed at the bedside ("adverse event", "patient refused"). A submission carries them to a
regulator, so the export warns (it does not refuse: the record is what it is, a data manager decides)
when one looks like it names a person or gives a date of birth.
"""

from __future__ import annotations

import re

from dosing.exchange.datasets import TEXT_LIMIT

_PERSON = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+[A-Z][a-z]+")
_BIRTH = re.compile(r"\b(?:d\.?o\.?b\.?|date of birth|birth ?date|born)\b", re.IGNORECASE)
_DATE = re.compile(r"\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b")


def identity_concern(text: str) -> str | None:
    """Why ``text`` may identify someone, or None.

    >>> identity_concern("adverse event"), identity_concern("refused, see Dr. Wang")
    (None, 'it may name a person')
    >>> identity_concern("DOB 1961-04-02")
    'it may give a date of birth'
    """
    if _BIRTH.search(text):
        return "it may give a date of birth"
    if _PERSON.search(text):
        return "it may name a person"
    if _DATE.search(text):
        return "it contains a date (a date of birth?)"
    return None


def export_text(
    text: str | None, where: str, warnings: list[str], *, typed: bool = True, limit: int = TEXT_LIMIT
) -> str | None:
    """``text`` as exported: at most ``limit`` characters, with warnings appended for what was done.

    ``typed`` is text a person wrote (checked for identities); the project's own wording is not.
    """
    if text is None:
        return None
    concern = identity_concern(text) if typed else None
    if concern is not None:
        warnings.append(f"{where}: {concern}; check it before submission: {text[:60]!r}")
    if len(text) > limit:
        warnings.append(f"{where}: cut to {limit} characters (SDTM text limit), {len(text)} recorded")
        return text[:limit]
    return text
