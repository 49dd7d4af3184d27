"""What a person types, as every entry point reads it: dates and local moments within the site's
plausible years, the inclusion inputs of enrollment, and requests validated with the rule each value
breaks. The command line, the web pages and the roster flow all read typed values through here, so a
value means the same thing and is refused the same way wherever it is typed."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from dosing.eligibility import EligibilityInputs, parse_lab
from dosing.errors import DosingError, from_validation_error

Model = TypeVar("Model", bound=BaseModel)
DateOrTime = TypeVar("DateOrTime", date, datetime)


def plausible_date(moment: DateOrTime, field: str) -> DateOrTime:
    """A typed date or date-time, refused when its year is outside the site's range (1900, 9999)."""
    from dosing.plausibility import check_year
    from dosing.settings import site_limits

    check_year(moment, field, site_limits())
    return moment


def parse_date(text: str, field: str) -> date:
    """A local calendar date typed as ``YYYY-MM-DD``, within the site's years."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError as error:
        raise DosingError(field, "ISO 8601 date (YYYY-MM-DD)", f"{text!r} is not a date") from error
    return plausible_date(day, field)


def parse_date_or_instant(text: str, field: str) -> date | datetime:
    """``2026-12-01`` is a local calendar date; ``2026-12-01T23:30+00:00`` an instant (needs an offset)."""
    try:
        if "T" in text or " " in text.strip():
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                raise DosingError(
                    field, "ISO date, or date-time with an offset", f"{text!r} has no UTC offset"
                )
            return plausible_date(moment, field)
        return plausible_date(date.fromisoformat(text), field)
    except DosingError:
        # A DosingError is a ValueError too: a date outside the plausible years keeps its own rule.
        raise
    except ValueError as error:
        raise DosingError(field, "ISO 8601 date (YYYY-MM-DD)", f"{text!r} is not a date") from error


def parse_local_moment(text: str, field: str, timezone: str) -> datetime:
    """A date-time typed at the bedside: local to the site unless it carries an offset."""
    import pendulum

    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise DosingError(
            field, "ISO 8601 date-time (YYYY-MM-DDTHH:MM)", f"{text!r} is not a date-time"
        ) from error
    plausible_date(moment, field)
    if moment.tzinfo is None:
        local = pendulum.datetime(
            moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, tz=timezone
        )
        return local
    return moment


def build_request(model: type[Model], **values: Any) -> Model:
    """A validated request, its validation errors told as the rule each value breaks."""
    try:
        return model(**values)
    except ValidationError as error:
        raise from_validation_error(error) from error


def eligibility_inputs(
    *,
    age: int | str | None,
    creatinine: str | None,
    bilirubin: str | None,
    inr: str | None,
    albumin: str | None,
    ascites: str | None,
    encephalopathy: str | None,
) -> EligibilityInputs | None:
    """The inclusion inputs as typed (CLI options or roster cells); None when none is given."""
    typed = (age, creatinine, bilirubin, inr, albumin, ascites, encephalopathy)
    if all(value is None or value == "" for value in typed):
        return None
    if isinstance(age, str):
        try:
            age = int(age) if age.strip() else None
        except ValueError as error:
            raise DosingError("age", "age in whole years", f"{age!r} is not a number of years") from error
    return build_request(
        EligibilityInputs,
        age_years=age,
        creatinine=parse_lab(creatinine, "creatinine", ("mg/dL",)) if creatinine else None,
        bilirubin=parse_lab(bilirubin, "bilirubin", ("mg/dL", "umol/L")) if bilirubin else None,
        inr=parse_lab(inr, "INR", ("{INR}",)) if inr else None,
        albumin=parse_lab(albumin, "albumin", ("g/dL", "g/L")) if albumin else None,
        ascites=ascites or None,
        encephalopathy=encephalopathy or None,
    )
