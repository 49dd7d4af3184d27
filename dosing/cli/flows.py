"""``dosing flows run NAME ...`` and ``dosing flows serve``: the Prefect flows from the command line.

Prefect is imported only inside these commands (about 3 s), after the environment is set: telemetry
off, a generous start-up time for the temporary server, and Prefect's own logging quiet so that a
pharmacist sees the result, not the orchestrator's chatter or its shutdown tracebacks.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Any

import click

from dosing.cli.output import emit_json, json_option, table
from dosing.cli.params import (
    AsOf,
    as_of_option,
    database_url_option,
    output_option,
    site_option,
    sites_zone,
    timezone_option,
    zone_for,
)
from dosing.errors import DosingError

_verbose_option = click.option(
    "--verbose", is_flag=True, help="Show Prefect's own log (flow and task runs, retries)."
)


def prepare_prefect_environment(*, verbose: bool = False) -> None:
    """Environment for Prefect, set before it is first imported (its settings are read at import)."""
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    # The temporary server takes 15-30 s to start on a small machine (Prefect's default allows 20 s).
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    level = "INFO" if verbose else "CRITICAL"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", level)
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "INFO" if verbose else "CRITICAL")
    if not verbose:
        # Also the libraries under the temporary server (it inherits this environment): at its shutdown
        # SQLAlchemy's pool logs cancelled rollbacks with tracebacks through the root logger.
        os.environ.setdefault("PREFECT_LOGGING_ROOT_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def _silence_shutdown() -> None:
    # The temporary server stops at interpreter exit and may log "Error flushing events" with a
    # traceback while it does; the result has been printed by then. Exit handlers run last-in
    # first-out, so this one (registered after the flow started the server) runs before the stop.
    atexit.register(logging.disable, logging.CRITICAL)


def _interrupt(signum: int, _frame: Any) -> None:
    # SIGTERM and SIGHUP end the run the way Ctrl-C does: Python unwinds, so the temporary server is
    # stopped (the default action would kill this process alone and leave the server running).
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _run(
    flow_call: Callable[[], dict[str, Any]], verbose: bool, database_url: str | None, action: str
) -> dict[str, Any]:
    from flows.local_server import LocalServer, LocalServerError
    from flows.run_progress import report

    if database_url:
        # Through the environment, never as a flow parameter: parameters are stored on the Prefect
        # server with each flow run, and a database URL may carry a password.
        os.environ["DOSING_DATABASE_URL"] = database_url
    prepare_prefect_environment(verbose=verbose)
    # Prefect's flow engine turns SIGTERM into a crash report, then re-sends it to the handler it
    # found: this one.
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _interrupt)
    server = None
    try:
        if not os.environ.get("PREFECT_API_URL"):
            # Started first: it comes up while this process signs in and imports Prefect.
            report(
                "starting Prefect's temporary local server (about 5 s; PREFECT_API_URL names a running one)"
            )
            server = LocalServer().start()  # sets PREFECT_API_URL: before Prefect is imported
        # A flow run from here acts as the logged-in person (never a name passed to the flow).
        actor = _signed_in(action)
        return _call_flow(flow_call, actor, server)
    except KeyboardInterrupt as interruption:
        logging.disable(logging.CRITICAL)  # the server's shutdown chatter is not the user's business
        if server is not None:
            server.stop()
        why = str(interruption) or "SIGINT"
        click.echo(
            f"interrupted ({why}): the temporary Prefect server was stopped; what was written before "
            "stays written (each subject and each dose is its own transaction), run again to finish",
            err=True,
        )
        raise SystemExit(130) from None
    except LocalServerError as error:
        # Not a bad input (exit 2): the machine could not start the server, as an unreachable database.
        click.echo(
            f"error: prefect server: {error} (rule: the temporary server answers within "
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or PREFECT_API_URL names a running one)",
            err=True,
        )
        raise SystemExit(1) from None
    finally:
        if not verbose:
            _silence_shutdown()
        # The server itself stops at exit, after Prefect's workers have sent what they hold.


def _signed_in(action: str) -> Any:
    from dosing.cli.session import signed_in
    from dosing.store import open_store

    return signed_in(open_store(), action).actor


def _call_flow(flow_call: Callable[[], dict[str, Any]], actor: Any, server: Any) -> dict[str, Any]:
    from dosing.app.flow_actor import acting_as

    if server is None:
        with acting_as(actor):
            return flow_call()
    from flows.local_server import local_run_settings

    server.wait_until_ready()
    with acting_as(actor), local_run_settings(server):
        return flow_call()


def _clock(text: str, field: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError as error:
        raise DosingError(field, "local time HH:MM", f"{text!r} is not a time of day") from error


@click.group()
def flows() -> None:
    """Run or serve the Prefect flows (enroll a roster, prep list, calendars, missed-dose sweep)."""


@flows.group()
def run() -> None:
    """Run one flow now, on Prefect's temporary local server unless PREFECT_API_URL names one."""


@run.command("enroll-roster")
@click.argument("roster", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@database_url_option
@click.option(
    "--calendars",
    "calendar_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write each enrolled subject's and each site's .ics into this folder.",
)
@click.option("--batch-size", default=500, show_default=True, help="Subjects enrolled per task.")
@click.option("--allow-pounds", is_flag=True, help="Accept weights in lb and convert them to kg.")
@_verbose_option
@json_option
def enroll_roster_command(
    roster: Path,
    database_url: str | None,
    calendar_dir: Path | None,
    batch_size: int,
    allow_pounds: bool,
    verbose: bool,
    as_json: bool,
) -> None:
    """Enroll every subject of the CSV file ROSTER; bad rows are reported with their line numbers."""
    if batch_size < 1:
        raise DosingError("batch size", "batch size >= 1", f"{batch_size} subjects per task")
    from dosing.app.roster import check_roster_header, read_roster_text

    # A binary or non-UTF-8 file, or a header that holds no roster, is refused before Prefect starts
    # (15-30 s): the whole file is wrong, not a row of it.
    check_roster_header(read_roster_text(roster))

    def call() -> dict[str, Any]:
        from flows.enroll import enroll_roster

        return enroll_roster(
            str(roster),
            calendar_dir=str(calendar_dir) if calendar_dir else None,
            batch_size=batch_size,
            allow_pounds=allow_pounds,
        )

    summary = _run(call, verbose, database_url, "enroll")
    if as_json:
        emit_json(summary)
    else:
        click.echo(
            f"enrolled {len(summary['enrolled'])}, already enrolled {len(summary['skipped'])}, "
            f"rejected {len(summary['rejected'])} (of {summary['rows']} rows in {roster.name})"
        )
        for rejected in summary["rejected"]:
            who = f" ({rejected['subject_code']})" if rejected.get("subject_code") else ""
            click.echo(f"  line {rejected['line']}{who}: {rejected['field']}: {rejected['reason']}")
        if summary.get("calendars"):
            click.echo(
                f"calendars: {summary['calendars']['files']} files in {summary['calendars']['folder']}"
            )
    if summary["rejected"]:
        raise SystemExit(1)


@run.command("prep")
@click.option("--hours", default=24, show_default=True, help="Doses due within this many hours.")
@site_option("Only this site's doses.")
@as_of_option(
    "Start of the period (default now): ISO 8601, e.g. 2026-12-08T07:00+08:00; without an offset, on the "
    "--site's clock."
)
@output_option("Also write the list as CSV to this file.", dir_okay=False, metavar="FILE.csv")
@database_url_option
@_verbose_option
@json_option
def prep_command(
    hours: int,
    site: str | None,
    as_of: AsOf | None,
    output: Path | None,
    database_url: str | None,
    verbose: bool,
    as_json: bool,
) -> None:
    """The pharmacy prep list: doses due in the next N hours with their preparation figures."""
    if hours < 1:
        raise DosingError("hours", "hours >= 1", f"{hours} is not a period to prepare for")
    start = None if as_of is None else as_of.at(sites_zone(site))

    def call() -> dict[str, Any]:
        from flows.prep import pharmacy_prep_list

        return pharmacy_prep_list(hours=hours, as_of=start, site=site, out=str(output) if output else None)

    summary = _run(call, verbose, database_url, "read_ledger")
    if as_json:
        emit_json(summary)
        return
    rows = [
        (
            d["planned_start"],
            d["site"],
            d["subject_code"],
            d["label"],
            d["ordered_dose"],
            d.get("lot") or "reference",
            d.get("volume_to_draw"),
            d.get("diluent"),
            d.get("final_volume"),
            d.get("refusal") or "",
        )
        for d in summary["doses"]
    ]
    click.echo(f"doses due from {summary['start']} to {summary['end']}: {len(rows)}")
    if rows:
        headers = [
            "planned start",
            "site",
            "subject",
            "dose",
            "ordered",
            "lot",
            "draw",
            "diluent",
            "final",
            "refused",
        ]
        click.echo(table(headers, rows))
    if output:
        click.echo(f"written to {output}")


@run.command("calendars")
@output_option(
    "Folder for the .ics files (created if missing).", required=True, file_okay=False, metavar="DIR"
)
@site_option("Only this site's subjects.")
@as_of_option(
    "Dose statuses as of this moment (default now): ISO 8601, e.g. 2026-12-08T07:00+08:00; without an "
    "offset, on the --site's clock."
)
@database_url_option
@_verbose_option
@json_option
def calendars_command(
    output: Path,
    site: str | None,
    as_of: AsOf | None,
    database_url: str | None,
    verbose: bool,
    as_json: bool,
) -> None:
    """Every subject's and every site's calendar (.ics) into a folder."""
    moment = None if as_of is None else as_of.at(sites_zone(site))

    def call() -> dict[str, Any]:
        from flows.calendar_files import export_calendars

        return export_calendars(str(output), site=site, as_of=moment)

    summary = _run(call, verbose, database_url, "read_ledger")
    if as_json:
        emit_json(summary)
    else:
        click.echo(
            f"{summary['files']} calendars in {summary['folder']} "
            f"({summary['written']} written, {summary['unchanged']} unchanged)"
        )


@run.command("sweep")
@as_of_option(
    "Refused: the sweep writes to the audit log, so it runs on the server's clock (to read as of a "
    "moment, use dosing overdue --as-of)."
)
@database_url_option
@_verbose_option
@json_option
def sweep_command(as_of: AsOf | None, database_url: str | None, verbose: bool, as_json: bool) -> None:
    """Mark newly missed and late doses in the audit log (windows closed by the server clock); emit a
    dosing.dose.missed event per missed one."""
    from dosing.cli.params import refuse_as_of

    refuse_as_of(as_of, "the sweep writes to the audit log, so it")

    def call() -> dict[str, Any]:
        from flows.sweep import missed_dose_sweep

        return missed_dose_sweep()

    summary = _run(call, verbose, database_url, "sweep")
    if as_json:
        emit_json(summary)
        return
    click.echo(f"newly missed doses as of {summary['as_of']}: {summary['newly_missed']}")
    click.echo(f"newly late doses (given after the window closed): {summary['newly_late']}")
    overdue = ", ".join(f"{state.replace('_', ' ')} {count}" for state, count in summary["overdue"].items())
    click.echo(f"overdue in all: {overdue or 'none'}")
    for dose in summary["doses"]:
        click.echo(
            f"  {dose['subject_code']}  {dose.get('label', dose['sequence'])}  ({dose['protocol_id']})"
        )


@flows.command("serve")
@timezone_option("The clock of the schedules.")
@click.option("--sweep-at", default="06:00", show_default=True, help="Local time of the daily sweep, HH:MM.")
@click.option(
    "--shift",
    "shifts",
    multiple=True,
    default=("07:00", "15:00"),
    show_default=True,
    help="Local start of a pharmacy shift, HH:MM (repeat); the prep list runs then.",
)
@click.option("--prep-hours", default=8, show_default=True, help="Hours ahead each prep list covers.")
@site_option("Only this site's doses on the prep list; its zone is the schedules' clock.")
@output_option("Write each prep list as CSV to this file.", dir_okay=False, metavar="FILE.csv")
@database_url_option
@click.option("--limit", type=int, help="Flow runs at once (default: no limit).")
def serve_command(
    timezone: str | None,
    sweep_at: str,
    shifts: tuple[str, ...],
    prep_hours: int,
    site: str | None,
    output: Path | None,
    database_url: str | None,
    limit: int | None,
) -> None:
    """Serve the sweep (daily) and the prep list (before each shift) in this process, until stopped."""
    # The schedule's own values first: a typo is told at once, not after Prefect is reached.
    sweep_time = _clock(sweep_at, "sweep at")
    shift_times = tuple(_clock(shift, "shift") for shift in shifts)
    if prep_hours < 1:
        raise DosingError("prep hours", "prep hours >= 1", f"{prep_hours} is not a period to prepare for")
    if limit is not None and limit < 1:
        raise DosingError("limit", "limit >= 1 flow run at once", f"{limit} would run nothing")
    if not os.environ.get("PREFECT_API_URL"):
        raise DosingError(
            "PREFECT_API_URL",
            "schedules need a Prefect server (`prefect server start`, or the site's own)",
            "set PREFECT_API_URL, e.g. http://127.0.0.1:4200/api",
        )
    zone = zone_for(site, timezone)
    prepare_prefect_environment(verbose=True)
    if database_url:
        # The served flow runs are subprocesses of this one and inherit it (never a flow parameter).
        os.environ["DOSING_DATABASE_URL"] = database_url
    from prefect import serve

    from flows.deployments import site_deployments

    deployments = site_deployments(
        zone,
        sweep_at=sweep_time,
        shifts=shift_times,
        prep_hours=prep_hours,
        site=site,
        prep_out=str(output) if output else None,
    )
    serve(*deployments, limit=limit)


@flows.command("automation")
@click.option(
    "--block",
    "block",
    required=True,
    help="The site's notification block, type/name, e.g. webhook/coordinator-on-call.",
)
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Automation definition (default: automations/missed-dose.yaml).",
)
def automation_command(block: str, path: Path | None) -> None:
    """Install the missed-dose automation on the Prefect server, notifying through BLOCK."""
    if not os.environ.get("PREFECT_API_URL"):
        raise DosingError(
            "PREFECT_API_URL",
            "automations live on a Prefect server",
            "set PREFECT_API_URL to the site's server",
        )
    prepare_prefect_environment()
    from flows.automations import AUTOMATION_FILE, install_automation

    automation_id, created = install_automation(block, path or AUTOMATION_FILE)
    click.echo(f"{'created' if created else 'updated'} automation {automation_id} notifying through {block}")
