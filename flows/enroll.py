"""Enroll a CSV roster: rows validated, enrolled in batches (one task per batch), calendars written.

Each subject is enrolled in its own store transaction (``ledger.enroll``), so one refused row (a weight
below the inclusion limit, a withdrawn study) never blocks or corrupts the others. Rerunning the same
roster changes nothing: a subject already enrolled with the same inputs is reported as skipped; one
enrolled with different inputs is reported as rejected, never overwritten or duplicated.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from dosing.errors import DosingError
from dosing.status import local_date
from dosing.store.ledger.plan_rows import ALREADY_ENROLLED
from flows.roster import RosterRow, parse_roster
from flows.store_access import (
    RETRIES,
    RETRY_DELAYS_SECONDS,
    retry_on_transient_database_error,
    store_for,
)

DEFAULT_BATCH_SIZE = 500


def differences(row: RosterRow, enrolled: Any) -> list[str]:
    """What a roster row says that the subject's enrollment does not (empty: the same enrollment)."""
    found = []
    if enrolled.protocol_id != row.protocol_id:
        found.append(f"protocol {enrolled.protocol_id} (roster: {row.protocol_id})")
    if row.arm is not None and enrolled.arm != row.arm:
        found.append(f"arm {enrolled.arm} (roster: {row.arm})")
    if enrolled.weight.value != row.weight.value:
        found.append(f"weight {enrolled.weight} (roster: {row.weight})")
    if row.site is not None and enrolled.site != row.site:
        found.append(f"site {enrolled.site} (roster: {row.site})")
    # An instant anchors on its local calendar day at the site, as the plan counts days.
    anchor_day = local_date(row.anchor, enrolled.timezone) if isinstance(row.anchor, datetime) else row.anchor
    if enrolled.anchor_date != anchor_day:
        found.append(f"anchor {enrolled.anchor_date} (roster: {anchor_day})")
    return found


def _rejection(row: RosterRow, field: str, reason: str) -> dict[str, Any]:
    return {"line": row.line, "subject_code": row.subject_code, "field": field, "reason": reason}


def enroll_rows(ctx: Any, rows: list[RosterRow]) -> dict[str, list[Any]]:
    """Enroll ``rows`` one transaction each (the application layer's enroll, as ``ctx.actor``); the same
    code the flow's tasks and the benchmark run."""
    from dosing.app import clock
    from dosing.app.enrollment import enroll
    from dosing.store import ledger

    enrolled: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for row in rows:
        try:
            enrollment = enroll(ctx, row.to_form())
        except DosingError as error:
            if error.rule != ALREADY_ENROLLED:
                rejected.append(_rejection(row, error.field, f"{error.message} (rule: {error.rule})"))
                continue
            existing = ledger.subject_view(ctx.store, row.subject_code, clock.now())
            changed = differences(row, existing)
            if changed:
                reason = "already enrolled with other inputs: " + "; ".join(changed)
                rejected.append(_rejection(row, "subject_code", reason))
            else:
                skipped.append(
                    {
                        "line": row.line,
                        "subject_code": row.subject_code,
                        "protocol_id": existing.protocol_id,
                        "arm": existing.arm,
                        "site": existing.site,
                    }
                )
            continue
        enrolled.append(
            {
                "line": row.line,
                "subject_code": enrollment.subject_code,
                "protocol_id": enrollment.protocol_id,
                "arm": enrollment.arm,
                "site": enrollment.site,
                "planned_doses": enrollment.planned_doses,
            }
        )
    return {"enrolled": enrolled, "skipped": skipped, "rejected": rejected}


@task(
    name="enroll-batch",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS_SECONDS,
    retry_condition_fn=retry_on_transient_database_error,
    persist_result=False,
    cache_policy=NO_CACHE,
)
def enroll_batch(
    database_url: str | None, rows: list[dict[str, Any]], username: str | None
) -> dict[str, list[Any]]:
    """One batch of roster rows (as JSON: small task inputs); a retry skips what the try committed."""
    from dosing.app.authority import require
    from dosing.app.flow_actor import task_context

    parsed = [RosterRow.model_validate(row) for row in rows]
    ctx = task_context(store_for(database_url), username, "enroll-roster")
    require(ctx, "enroll")
    return enroll_rows(ctx, parsed)


@flow(name="enroll-roster", persist_result=False, log_prints=False)
def enroll_roster(
    roster_path: str,
    database_url: str | None = None,
    calendar_dir: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    allow_pounds: bool = False,
) -> dict[str, Any]:
    """Enroll every valid row of the roster at ``roster_path``; report the others by line number.

    Acts as the person who started it (a coordinator); the flow's service account may not enroll."""
    from dosing.app import clock
    from dosing.app.flow_actor import acting_username

    username = acting_username()
    moment = clock.now()
    roster = parse_roster(Path(roster_path).read_text(encoding="utf-8-sig"), allow_pounds=allow_pounds)
    rows = [row.model_dump(mode="json") for row in roster.rows]
    results = [
        enroll_batch(database_url, rows[start : start + batch_size], username)
        for start in range(0, len(rows), batch_size)
    ]
    enrolled = [item for result in results for item in result["enrolled"]]
    skipped = [item for result in results for item in result["skipped"]]
    rejected = [row.model_dump(mode="json") for row in roster.rejected]
    rejected += [item for result in results for item in result["rejected"]]
    rejected.sort(key=lambda item: item["line"])
    summary: dict[str, Any] = {
        "roster": str(Path(roster_path).resolve()),
        "rows": len(roster.rows) + len(roster.rejected),
        "batches": len(results),
        "enrolled": enrolled,
        "skipped": skipped,
        "rejected": rejected,
    }
    if calendar_dir is not None:
        from flows.calendars import export_to_folder

        # Calendars of everyone on the roster who is enrolled (new or already), and of their sites.
        sites = sorted({item["site"] for item in enrolled + skipped})
        summary["calendars"] = export_to_folder(
            calendar_dir, site=None, sites=sites, database_url=database_url, as_of=moment
        )
    return summary
