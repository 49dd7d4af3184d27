"""Nightly exports to a folder: each study's SDTM package and each subject's FHIR Bundle.

Thin: one task per export calling :func:`dosing.exchange.exports.export_sdtm` / ``export_fhir`` (the
same use cases as ``dosing export sdtm|fhir``), so the flow adds scheduling and retries, nothing else.
The export's warnings (cut text, possible identities, partial doses without a reason) are returned and
logged for the data manager. The flow writes files only; the store is read as of ``as_of``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.store_access import (
    RETRIES,
    RETRY_DELAYS_SECONDS,
    retry_on_transient_database_error,
    store_for,
)

SDTM_FOLDER = "sdtm"
FHIR_FOLDER = "fhir"


@task(
    name="write-export",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS_SECONDS,
    retry_condition_fn=retry_on_transient_database_error,
    persist_result=False,
    cache_policy=NO_CACHE,
)
def write_export(
    kind: str,
    database_url: str | None,
    folder: str,
    protocol: str | None,
    site: str | None,
    as_of: datetime,
    username: str | None,
) -> dict[str, Any]:
    from dosing.app.flow_actor import task_context
    from dosing.exchange import exports

    # The nightly folder must exist (a mistyped path is an error, not a new tree); its sdtm/ or fhir/
    # subfolder is made on the first night.
    root = exports.check_output(Path(folder))
    target = root / kind
    target.mkdir(exist_ok=True)
    options = exports.ExportOptions(output=target, protocol=protocol, site=site, as_of=as_of)
    run = exports.export_sdtm if kind == SDTM_FOLDER else exports.export_fhir
    # The use case checks the export authority (a refusal is audited, and never retried).
    result = run(task_context(store_for(database_url), username, f"export-{kind}"), options)
    return {
        "folder": str(target.resolve()),
        "files": len(result.files),
        "subjects": result.subjects,
        "warnings": result.warnings,
    }


def _export(
    kind: str, database_url: str | None, out: str, protocol: str | None, site: str | None, as_of: datetime
) -> dict[str, Any]:
    """The task in a flow run (retries, history); its plain function under ``flow.fn()`` (no server).

    The flow acts as the person who started it (``dosing flows run``) or as its service account
    ``svc-export-sdtm`` / ``svc-export-fhir``.
    """
    from prefect.context import FlowRunContext

    from dosing.app.flow_actor import acting_username

    arguments = (kind, database_url, out, protocol, site, as_of, acting_username())
    if FlowRunContext.get() is None:
        return write_export.fn(*arguments)
    result = write_export(*arguments)
    logger = get_run_logger()
    for warning in result["warnings"]:
        logger.warning(warning)
    return result


@flow(name="export-sdtm", persist_result=False, log_prints=False)
def export_sdtm_nightly(
    out: str,
    protocol: str | None = None,
    site: str | None = None,
    as_of: datetime | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Each study's SDTM package (.xpt, Dataset-JSON, define.xml) into ``out/sdtm/STUDY/``."""
    moment = as_of or datetime.now(UTC)
    return _export(SDTM_FOLDER, database_url, out, protocol, site, moment)


@flow(name="export-fhir", persist_result=False, log_prints=False)
def export_fhir_nightly(
    out: str,
    protocol: str | None = None,
    site: str | None = None,
    as_of: datetime | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Each subject's FHIR Bundle into ``out/fhir/STUDY/SUBJECT.json``."""
    moment = as_of or datetime.now(UTC)
    return _export(FHIR_FOLDER, database_url, out, protocol, site, moment)
