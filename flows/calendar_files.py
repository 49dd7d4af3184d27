"""Calendar export: every subject's and every site's .ics into a folder.

One task per site (a site's subjects come from the store in one query). A file is rewritten only when
its bytes change, and the bytes depend only on the store (DTSTAMP is the revision time, never "now"),
so a rerun over an unchanged store touches nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from calendars.ics import to_ical
from calendars.views import site_view_events, subject_view_events
from flows.failures import RESULT_SERIALIZER, data_free_failures
from flows.run_progress import report
from flows.store_access import (
    RETRIES,
    RETRY_DELAYS_SECONDS,
    retry_on_transient_database_error,
    store_for,
)

SUBJECTS_FOLDER = "subjects"
SITES_FOLDER = "sites"


def write_if_changed(path: Path, content: bytes) -> bool:
    """Write ``content`` unless the file already holds it; True when the file was written."""
    if path.exists() and path.read_bytes() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_bytes(content)
    partial.replace(path)  # a calendar client never reads half a file
    return True


def site_ids(site: str | None) -> list[str]:
    """The sites to export: every known one, or ``site`` (refused when no protocol has it)."""
    from dosing.catalog import check_site, known_sites

    return known_sites() if site is None else [check_site(site)]


@task(
    name="write-site-calendars",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS_SECONDS,
    retry_condition_fn=retry_on_transient_database_error,
    persist_result=False,
    cache_policy=NO_CACHE,
)
def write_site_calendars(
    database_url: str | None, folder: str, site_id: str, as_of: datetime
) -> dict[str, Any]:
    """The site's calendar and each of its subjects', in one task."""
    from dosing.store import ledger

    views = ledger.site_views(store_for(database_url), site_id, None, None, as_of)
    root = Path(folder)
    written = unchanged = 0
    for view in views:
        events = subject_view_events(view)
        content = to_ical(events, name=f"{view.protocol_id} {view.subject_code}")
        changed = write_if_changed(root / SUBJECTS_FOLDER / f"{view.subject_code}.ics", content)
        written, unchanged = written + changed, unchanged + (not changed)
    if views:
        content = to_ical(site_view_events(views), name=f"{site_id} all dates")
        changed = write_if_changed(root / SITES_FOLDER / f"{site_id}.ics", content)
        written, unchanged = written + changed, unchanged + (not changed)
    return {"site": site_id, "subjects": len(views), "written": written, "unchanged": unchanged}


def export_to_folder(
    folder: str,
    *,
    site: str | None,
    database_url: str | None,
    as_of: datetime,
    sites: list[str] | None = None,
) -> dict[str, Any]:
    """Run the per-site tasks (from inside a flow) and add up what they wrote."""
    chosen = site_ids(site) if sites is None else sites
    results = []
    for site_id in chosen:
        result = write_site_calendars(database_url, folder, site_id, as_of)
        results.append(result)
        report(
            f"calendars of {site_id}: {result['subjects']} subjects, {result['written']} files written, "
            f"{result['unchanged']} unchanged"
        )
    written = sum(r["written"] for r in results)
    unchanged = sum(r["unchanged"] for r in results)
    return {
        "folder": str(Path(folder).resolve()),
        "files": written + unchanged,
        "written": written,
        "unchanged": unchanged,
        "sites": [r for r in results if r["subjects"]],
    }


@flow(name="export-calendars", persist_result=False, result_serializer=RESULT_SERIALIZER, log_prints=False)
def export_calendars(
    out: str, site: str | None = None, as_of: datetime | None = None, database_url: str | None = None
) -> dict[str, Any]:
    """Every subject's and every site's .ics into ``out`` (``subjects/CODE.ics``, ``sites/SITE.ics``)."""
    from dosing.app.authority import require
    from dosing.app.flow_actor import flow_context

    with data_free_failures():
        require(flow_context(store_for(database_url), "export-calendars"), "read_ledger")
        return export_to_folder(out, site=site, database_url=database_url, as_of=as_of or datetime.now(UTC))
