"""Turning a form into a ledger request: the actor from the session, the time from the server clock,
and the checks on typed times that only the clock can make (not in the future; late entries say why).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from dosing.app import clock
from dosing.app.context import Context
from dosing.app.policy import get_policy
from dosing.errors import DosingError, from_validation_error
from dosing.store.models import SignatureIntent

Request = TypeVar("Request", bound=BaseModel)


def stamped(
    request_type: type[Request],
    form: BaseModel,
    ctx: Context,
    signature: SignatureIntent | None = None,
    **more: Any,
) -> Request:
    """The ledger request for ``form``, stamped with the actor and the server clock now."""
    values = {name: getattr(form, name) for name in type(form).model_fields}
    try:
        return request_type(
            **values, **more, actor=ctx.actor.username, as_of=clock.now(), signature=signature
        )
    except ValidationError as error:
        raise from_validation_error(error) from error


def not_in_future(moment: datetime | None, field: str) -> None:
    """A typed time may be a few minutes ahead of the server (a ward clock), never more."""
    if moment is None:
        return
    skew = get_policy().clock_skew_minutes
    now = clock.now()
    if moment > now + timedelta(minutes=skew):
        raise DosingError(
            field,
            f"not in the future (server clock, {skew} minutes' tolerance)",
            f"{moment.isoformat()} is after now ({now.isoformat(timespec='seconds')})",
        )


def late_entry(started_at: datetime, late_reason: str | None, field: str = "at") -> str | None:
    """The audit reason of a late entry, or None for a contemporaneous one; refuses a late entry
    without a reason (GCP: late entries are marked as late, with the reason; backdating is not)."""
    hours = get_policy().late_entry_hours
    late = clock.now() - started_at > timedelta(hours=hours)
    reason = (late_reason or "").strip()
    if late and not reason:
        raise DosingError(
            field,
            f"an administration entered more than {hours} h after it started is a late entry: "
            "give --late-reason",
            f"{started_at.isoformat()} is more than {hours} hours ago",
        )
    if not late and reason:
        return f"entered with a late-entry reason: {reason}"
    return f"late entry: {reason}" if late else None
