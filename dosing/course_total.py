"""A total over a period (NCT05871463: 40 mg in three weeks): what was delivered of it, and what the
remaining doses are under the protocol's missed-dose policy.

- ``forfeit``: a dose not given (skipped, missed, or the shortfall of a partial dose) is not made up;
  the course ends below its total and every view says how far below.
- ``redistribute``: the shortfall is spread equally over the doses still to come in the period, each
  at most the protocol's ``per_dose_maximum``; what cannot fit under the maximum is forfeited.

    >>> from decimal import Decimal
    >>> from dosing.units import Amount, AmountUnit
    >>> mg = lambda v: Amount(value=Decimal(v), unit=AmountUnit.MG)
    >>> course = course_total(mg(40), [
    ...     CourseDose(ordered=mg("13.4"), outcome="given", delivered=mg("13.4")),
    ...     CourseDose(ordered=mg("13.3"), outcome="not_given"),
    ...     CourseDose(ordered=mg("13.3"), outcome="not_given"),
    ... ], policy="forfeit")
    >>> course.describe()
    '13.4 mg of 40 mg delivered (26.6 mg forfeited)'
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from dosing.units import Amount

Outcome = Literal["given", "not_given", "open"]


class CourseDose(BaseModel):
    """One planned dose of the course: given (with what it delivered), not given, or still open."""

    model_config = ConfigDict(frozen=True)

    ordered: Amount
    outcome: Outcome
    delivered: Amount | None = None


class CourseTotal(BaseModel):
    model_config = ConfigDict(frozen=True)

    total: Amount
    delivered: Amount
    #: What will not be delivered under the policy (the total is not reached by this much).
    forfeited: Amount
    policy: Literal["forfeit", "redistribute"]
    #: The dose each open administration should now deliver, in plan order (redistributed or not).
    open_doses: list[Amount]

    def describe(self) -> str:
        text = f"{self.delivered} of {self.total} delivered"
        if self.forfeited.value > 0:
            text += f" ({self.forfeited} forfeited)"
        return text


def course_total(
    total: Amount,
    doses: list[CourseDose],
    *,
    policy: Literal["forfeit", "redistribute"],
    per_dose_maximum: Amount | None = None,
) -> CourseTotal:
    """Delivered versus total, and the open doses under ``policy``."""
    unit = total.unit
    zero = Decimal(0)
    delivered = sum((d.delivered.value for d in doses if d.outcome == "given" and d.delivered), zero)
    shortfall = zero
    for dose in doses:
        if dose.outcome == "not_given":
            shortfall += dose.ordered.value
        elif dose.outcome == "given":
            given = dose.delivered.value if dose.delivered is not None else zero
            shortfall += max(dose.ordered.value - given, zero)
    open_values = [dose.ordered.value for dose in doses if dose.outcome == "open"]
    if policy == "redistribute" and open_values and shortfall > 0:
        cap = per_dose_maximum.value if per_dose_maximum is not None else None
        open_values, shortfall = _spread(open_values, shortfall, cap)
    return CourseTotal(
        total=total,
        delivered=Amount(value=delivered, unit=unit),
        forfeited=Amount(value=shortfall, unit=unit),
        policy=policy,
        open_doses=[Amount(value=value, unit=unit) for value in open_values],
    )


def _spread(planned: list[Decimal], shortfall: Decimal, cap: Decimal | None) -> tuple[list[Decimal], Decimal]:
    """Add ``shortfall`` to the open doses in equal shares, never above ``cap``; returns the new doses
    and what could not be placed. Shares are rounded down to 0.1 of the unit so no dose is rounded up
    past the total; the rounding remainder stays unplaced (forfeited), never invented."""
    doses = list(planned)
    remaining = shortfall
    step = Decimal("0.1")
    for _ in range(len(doses)):
        room = [i for i, value in enumerate(doses) if cap is None or value < cap]
        if not room or remaining <= 0:
            break
        share = (remaining / len(room)).quantize(step, rounding="ROUND_DOWN")
        if share <= 0:
            break
        for i in room:
            added = share if cap is None else min(share, cap - doses[i])
            doses[i] += added
            remaining -= added
    return doses, remaining
