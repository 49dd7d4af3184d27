"""The scheduled deployments a site runs: the missed-dose sweep each morning and the pharmacy prep list
before each shift, on cron schedules in the site's own time zone (06:00 stays 06:00 across DST).

``prefect.yaml`` declares the same two deployments for sites that deploy to a work pool; ``dosing flows
serve`` serves these in one process.
"""

from __future__ import annotations

from datetime import time
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

SWEEP_DEPLOYMENT = "daily-missed-dose-sweep"
PREP_DEPLOYMENT = "prep-before-shift"
DEFAULT_SWEEP_AT = time(6, 0)
DEFAULT_SHIFTS = (time(7, 0), time(15, 0))
DEFAULT_PREP_HOURS = 8


def daily_cron(at: time) -> str:
    return f"{at.minute} {at.hour} * * *"


def site_deployments(
    timezone: str,
    *,
    sweep_at: time = DEFAULT_SWEEP_AT,
    shifts: tuple[time, ...] = DEFAULT_SHIFTS,
    prep_hours: int = DEFAULT_PREP_HOURS,
    site: str | None = None,
    prep_out: str | None = None,
) -> list[RunnerDeployment]:
    """The sweep and the prep list as deployments, scheduled in ``timezone`` (an IANA name)."""
    from prefect.schedules import Cron

    from flows.prep import pharmacy_prep_list
    from flows.sweep import missed_dose_sweep

    # No database URL among the parameters (they are stored with every flow run and a URL may carry a
    # password): the flows read DOSING_DATABASE_URL from the environment of the process that runs them.
    common: dict[str, Any] = {}
    prep_parameters: dict[str, Any] = {"hours": prep_hours}
    if site:
        prep_parameters["site"] = site
    if prep_out:
        prep_parameters["out"] = prep_out
    deployments = [
        missed_dose_sweep.to_deployment(
            name=SWEEP_DEPLOYMENT,
            schedules=[Cron(daily_cron(sweep_at), timezone=timezone)],
            parameters=common,
            tags=["dosing", "sweep"],
            description="Marks newly missed and late doses and emits dosing.dose.missed for each.",
        ),
        pharmacy_prep_list.to_deployment(
            name=PREP_DEPLOYMENT,
            schedules=[Cron(daily_cron(shift), timezone=timezone) for shift in shifts],
            parameters=prep_parameters,
            tags=["dosing", "pharmacy"],
            description=f"Doses due in the next {prep_hours} hours with their preparation figures.",
        ),
    ]
    # Called outside an event loop, to_deployment returns the deployment itself (not a coroutine).
    return [cast("RunnerDeployment", deployment) for deployment in deployments]
