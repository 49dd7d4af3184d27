"""The fields of a given dose on the command line, shared by ``dosing record`` and ``dosing correct``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from dosing.app.typed import parse_local_moment
from dosing.units import AmountUnit, parse_amount, parse_volume


def _amount(text: str | None, unit: AmountUnit | None) -> Any:
    if text is None:
        return None
    return parse_amount(text, field="amount", default_unit=unit)


def _amount_unit(store: Any, subject_code: str, sequence: int) -> AmountUnit | None:
    from dosing.store import ledger

    view = ledger.subject_view(store, subject_code, datetime.now(UTC))
    for dose in view.doses:
        if dose.sequence == sequence and dose.ordered_dose is not None:
            return dose.ordered_dose.unit
    return None


def given_options(*, correcting: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The fields of a given dose, as ``record`` takes them (described, with their defaults) and as
    ``correct`` takes them (each replaces that field of the record corrected)."""

    def described(recording: str, correcting_text: str) -> str:
        return correcting_text if correcting else recording

    options = [
        click.option(
            "--at",
            "at_text",
            # No explicit default: with one, click (8.3) runs a required option's command without it.
            required=not correcting,
            metavar="DATETIME",
            help=described(
                "Start of the administration, e.g. 2026-12-04T10:30 (site time unless an offset).",
                "The corrected start, e.g. 2026-12-05T10:30 (site time unless an offset).",
            ),
        ),
        click.option(
            "--end",
            "end_text",
            default=None,
            metavar="DATETIME",
            help=described("End of the administration (site time unless an offset).", "The corrected end."),
        ),
        click.option(
            "--amount",
            "amount_text",
            default=None,
            help=described(
                "Amount given with its unit, e.g. '1.5 x10^7 cells' (default: the ordered dose).",
                "The corrected amount given, with its unit.",
            ),
        ),
        click.option(
            "--volume",
            "volume_text",
            default=None,
            help=described(
                "Volume given, e.g. 60mL (default: the final volume; less is a partial dose).",
                "The corrected volume given, e.g. 60mL.",
            ),
        ),
        click.option(
            "--partial/--full",
            default=None,
            help="The corrected record is a partial dose (--partial) or the whole dose (--full).",
        )
        if correcting
        else click.option("--partial", is_flag=True, help="Only part of the dose was given."),
        click.option(
            "--lot", default=None, help=described("Product lot number.", "The corrected product lot number.")
        ),
        click.option(
            "--din",
            default=None,
            help=described("ISBT 128 donation identification number of the product.", "The corrected DIN."),
        ),
        click.option(
            "--route",
            default=None,
            help=described("Route, e.g. IV (default: the protocol's).", "The corrected route."),
        ),
        click.option(
            "--given-by",
            default=None,
            help=described(
                "Who gave it, when not you (default: your account).", "The corrected name of who gave it."
            ),
        ),
        click.option(
            "--reaction",
            "infusion_reaction",
            default=None,
            help=described("Infusion reaction, if any.", "The corrected infusion reaction."),
        ),
        click.option(
            "--notes",
            default=None,
            help=described(
                "Free text kept with the record (up to 2,000 characters).", "The corrected notes."
            ),
        ),
    ]

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def given_values(
    store: Any,
    subject_code: str,
    sequence: int,
    zone: str,
    *,
    end_text: str | None,
    amount_text: str | None,
    volume_text: str | None,
    **fields: Any,
) -> dict[str, Any]:
    """The request's fields of a given dose after its start, parsed from what was typed."""
    return {
        "ended_at": parse_local_moment(end_text, "end", zone) if end_text else None,
        "amount": _amount(amount_text, _amount_unit(store, subject_code, sequence) if amount_text else None),
        "volume": parse_volume(volume_text) if volume_text else None,
        **fields,
    }
