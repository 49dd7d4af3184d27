"""Free text a user types into a request (notes, reasons, lot numbers): bounded and printable.

The limits are the store's column lengths, checked before the store is reached, so SQLite (which does
not enforce VARCHAR lengths) and PostgreSQL (which does, with a DataError) refuse the same text the
same way. Control characters are refused rather than stripped: an escape sequence stored in a note
would be replayed to every terminal that later shows it, and silently changing what a nurse typed is
worse than asking again. Bidirectional overrides are refused for the same reason (they make the text
read differently from what is stored).

>>> checked_text("left arm", max_length=32, multiline=False)
'left arm'
"""

from __future__ import annotations

import unicodedata
from functools import partial
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

#: Line breaks and tabs are allowed in multi-line notes; every other control character is refused.
LINE_BREAKS = frozenset("\n\r\t")
#: Bidirectional embedding, override and isolate controls (the "Trojan Source" characters).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
CONTROL_RULE = "printable text: no control characters"
MULTILINE_CONTROL_RULE = "printable text: line breaks and tabs only, no other control characters"


def forbidden_character(value: str, *, multiline: bool) -> str | None:
    """The first character a stored text must not hold, or None.

    >>> forbidden_character("ok\\x1b[2J", multiline=True)
    '\\x1b'
    >>> forbidden_character("line one\\nline two", multiline=True) is None
    True
    """
    for character in value:
        if multiline and character in LINE_BREAKS:
            continue
        if unicodedata.category(character) == "Cc" or character in BIDI_CONTROLS:
            return character
    return None


def checked_text(value: str, *, max_length: int, multiline: bool) -> str:
    """``value`` when it fits the rule; else a validation error whose type is the rule."""
    if len(value) > max_length:
        raise PydanticCustomError(
            f"at most {max_length} characters",
            "{length} characters is too long",
            {"length": len(value)},
        )
    character = forbidden_character(value, multiline=multiline)
    if character is not None:
        raise PydanticCustomError(
            MULTILINE_CONTROL_RULE if multiline else CONTROL_RULE,
            "contains the control character {character}",
            {"character": f"U+{ord(character):04X}"},
        )
    return value


def text_rule(max_length: int, *, multiline: bool = False) -> Any:
    """The validator of a free-text field: at most ``max_length`` characters, no control characters."""
    return AfterValidator(partial(checked_text, max_length=max_length, multiline=multiline))


# One type per column length of the store (dosing/store/tables.py), so a request cannot hold more.
#: Identifiers typed by people: protocol, arm, site, lot number.
Code = Annotated[str, text_rule(64)]
#: Short codes: DIN, route.
ShortCode = Annotated[str, text_rule(32)]
#: A person: the actor, who gave the dose.
PersonName = Annotated[str, text_rule(128)]
#: A reason on one line (skip, correction, override, reschedule).
Reason = Annotated[str, text_rule(500)]
#: A short description that may span lines (an infusion reaction).
Description = Annotated[str, text_rule(500, multiline=True)]
#: Notes that may span lines (an administration, a cohort's safety review).
Note = Annotated[str, text_rule(2000, multiline=True)]


def checked_reason(value: str, *, field: str = "reason", max_length: int = 500) -> str:
    """A one-line reason typed outside a request model (a lot's status, a bag leaving, an account
    disabled), held to the same rule as :data:`Reason`; a DosingError naming ``field`` otherwise."""
    from dosing.errors import DosingError

    if len(value) > max_length:
        raise DosingError(field, f"at most {max_length} characters", f"{len(value)} characters is too long")
    character = forbidden_character(value, multiline=False)
    if character is not None:
        raise DosingError(field, CONTROL_RULE, f"contains the control character U+{ord(character):04X}")
    return value


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control characters shown as escapes, never sent raw.

    >>> printable("note\\x1b[31m red")
    'note\\\\x1b[31m red'
    """
    if forbidden_character(text, multiline=True) is None:
        return text
    return "".join(
        character
        if character in LINE_BREAKS
        or (unicodedata.category(character) != "Cc" and character not in BIDI_CONTROLS)
        else character.encode("unicode_escape").decode("ascii")
        for character in text
    )
