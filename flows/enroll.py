"""Enroll a CSV roster: rows validated, enrolled in batches (one task per batch), calendars written.

Each batch is one store transaction of the application layer's bulk enrollment
(``dosing.app.bulk_enrollment``), each subject all or nothing, so one refused row (a weight
below the inclusion limit, a withdrawn study) never blocks or corrupts the others. Rerunning the same
roster changes nothing: a subject already enrolled with the same inputs is reported as skipped; one
enrolled with different inputs is reported as rejected, never overwritten or duplicated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from dosing.app.bulk_enrollment import differences, enroll_rows
from dosing.app.roster import RosterRow, parse_roster, read_roster_text
from flows.failures import RESULT_SERIALIZER, data_free_failures
from flows.run_progress import report
from flows.store_access import RETRIES, RETRY_DELAYS_SECONDS, retry_on_transient_database_error, store_for

DEFAULT_BATCH_SIZE = 500

__all__ = ["DEFAULT_BATCH_SIZE", "differences", "enroll_batch", "enroll_roster", "enroll_rows"]


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
    """One batch of roster rows (as JSON: small task inputs), one store transaction: a transient
    database error rolls the whole batch back and the retry enrolls it again."""
    from dosing.app.flow_actor import task_context

    parsed = [RosterRow.model_validate(row) for row in rows]
    ctx = task_context(store_for(database_url), username, "enroll-roster")
    return enroll_rows(ctx, parsed)


@flow(name="enroll-roster", persist_result=False, result_serializer=RESULT_SERIALIZER, log_prints=False)
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

    with data_free_failures():
        username = acting_username()
        moment = clock.now()
        roster = parse_roster(read_roster_text(Path(roster_path)), allow_pounds=allow_pounds)
        rows = [row.model_dump(mode="json") for row in roster.rows]
        report(f"roster: {len(rows)} rows to enroll, {len(roster.rejected)} refused while reading")
        results = []
        for start in range(0, len(rows), batch_size):
            results.append(enroll_batch(database_url, rows[start : start + batch_size], username))
            done = min(start + batch_size, len(rows))
            new = sum(len(result["enrolled"]) for result in results)
            report(f"  {done} of {len(rows)} rows done ({new} enrolled so far)")
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
            from flows.calendar_files import export_to_folder

            # Calendars of everyone on the roster who is enrolled (new or already), and of their sites.
            sites = sorted({item["site"] for item in enrolled + skipped})
            summary["calendars"] = export_to_folder(
                calendar_dir, site=None, sites=sites, database_url=database_url, as_of=moment
            )
        return summary
