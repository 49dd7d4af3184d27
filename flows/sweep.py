"""Daily missed-dose sweep: the store writes each newly missed dose, and each dose newly found given
after its window closed, to its audit log; the flow emits one Prefect event per newly missed dose, so
that an automation can tell a coordinator, and reports how many doses are newly late and how many are
overdue (missed, or given after their window closed).

Rerunning the sweep for the same day changes nothing and emits nothing: ``ledger.sweep_overdue`` writes
each missed or late dose to the audit log once and returns only the ones it had not seen.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from flows.store_access import (
    RETRIES,
    RETRY_DELAYS_SECONDS,
    retry_on_transient_database_error,
    store_for,
)

MISSED_EVENT = "dosing.dose.missed"


def dose_resource_id(protocol_id: str, subject_code: str, sequence: int) -> str:
    return f"dosing.dose.{protocol_id}.{subject_code}.{sequence}"


@task(
    name="sweep-missed-doses",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS_SECONDS,
    retry_condition_fn=retry_on_transient_database_error,
    persist_result=False,
    cache_policy=NO_CACHE,
)
def sweep_store(database_url: str | None, username: str | None) -> dict[str, Any]:
    """Newly missed and newly late doses (written to the audit log once each, as of the server clock)
    and the count of all overdue ones."""
    from dosing.app import reads
    from dosing.app.flow_actor import task_context

    ctx = task_context(store_for(database_url), username, "missed-dose-sweep")
    swept = reads.sweep(ctx)
    overdue = reads.overdue(ctx)
    states = Counter(row.state for row in overdue)
    return {
        "newly_missed": [dose.model_dump(mode="json") for dose in swept.missed],
        "newly_late": [dose.model_dump(mode="json") for dose in swept.late],
        "overdue": dict(sorted(states.items())),
    }


@flow(name="missed-dose-sweep", persist_result=False, log_prints=False)
def missed_dose_sweep(database_url: str | None = None) -> dict[str, Any]:
    """Mark newly missed doses (windows closed by the server clock) and emit ``dosing.dose.missed`` for
    each. Acts as the person who started it here, or as the service account ``svc-missed-dose-sweep``."""
    from dosing.app import clock
    from dosing.app.flow_actor import acting_username

    moment = clock.now()
    swept = sweep_store(database_url, acting_username())
    newly_missed = swept["newly_missed"]
    for dose in newly_missed:
        emit_event(
            event=MISSED_EVENT,
            resource={
                "prefect.resource.id": dose_resource_id(
                    dose["protocol_id"], dose["subject_code"], dose["sequence"]
                ),
                "prefect.resource.name": f"{dose['subject_code']} dose {dose['sequence']}",
                "dosing.site": str(dose.get("site") or ""),
            },
            payload=dose,
        )
    return {
        "as_of": moment.isoformat(),
        "newly_missed": len(newly_missed),
        "doses": newly_missed,
        # Doses given after their window closed, written to the audit log by this sweep (no event).
        "newly_late": len(swept["newly_late"]),
        "late_doses": swept["newly_late"],
        # Every dose still needing attention: missed (ever) and given late, by state.
        "overdue": swept["overdue"],
    }
