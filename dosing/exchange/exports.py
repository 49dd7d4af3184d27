"""The two exports as use cases: ``export_sdtm(ctx, options)`` and ``export_fhir(ctx, options)``.

The command line and the nightly flows both call these with the authenticated context, and each
checks the actor's authority first (``export``: a data manager, a coordinator or a flow's service
account; refusals are audited by :func:`dosing.app.authority.require`). Each reads the ledger through
the application layer as of ``options.as_of`` and writes one folder per study under
``options.output``: nothing in the store changes.
"""

from __future__ import annotations

import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import AwareDatetime, BaseModel, ConfigDict

from dosing.errors import DosingError

if TYPE_CHECKING:
    from dosing.app.context import Context
    from dosing.exchange.datasets import Dataset
    from dosing.protocol import Protocol
    from dosing.store.models import SubjectView


class Selection(BaseModel):
    """Which subjects, seen as of when (the moment decides which windows have closed: missed doses)."""

    model_config = ConfigDict(frozen=True)

    #: A study code or registry id; None: every study with subjects in the selection.
    protocol: str | None = None
    site: str | None = None
    as_of: AwareDatetime


class ExportOptions(Selection):
    output: Path


class ExportResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    files: list[Path]
    #: What a data manager must look at before submitting (cut text, possible identities, no reason).
    warnings: list[str]
    subjects: int


def _source_version() -> str:
    try:
        return metadata.version("cell-dosing")
    except metadata.PackageNotFoundError:
        return "0"


def check_output(folder: Path) -> Path:
    """The output folder must exist and be writable: an export never guesses where files should go."""
    if not folder.is_dir():
        why = "is a file" if folder.exists() else "does not exist"
        raise DosingError("output", "an existing folder", f"{folder} {why}")
    # A real write, not os.access: root passes every permission check but not a read-only mount.
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise DosingError(
            "output", "a writable folder", f"{folder} is read-only ({error.strerror or error})"
        ) from error
    return folder


def check_site(site: str | None, protocol: Protocol | None) -> None:
    from dosing.catalog import library

    if site is None:
        return
    protocols = [protocol] if protocol is not None else list(library().values())
    known = sorted({s.id for p in protocols for s in p.sites})
    if site not in known:
        raise DosingError("site", f"one of the known sites ({', '.join(known)})", f"unknown site {site!r}")


def _selection(ctx: Context, options: Selection) -> tuple[list[Protocol], list[SubjectView]]:
    from dosing.app import reads
    from dosing.app.authority import require
    from dosing.catalog import get_protocol

    require(ctx, "export")
    protocol = get_protocol(options.protocol) if options.protocol is not None else None
    check_site(options.site, protocol)
    if isinstance(options, ExportOptions):
        check_output(options.output)
    views = [
        view
        for view in reads.site_views(ctx, options.site, None, None, options.as_of)
        if protocol is None or view.protocol_id == protocol.id
    ]
    if protocol is not None:
        return [protocol], views
    ids = sorted({view.protocol_id for view in views})
    return [get_protocol(study) for study in ids], views


def _study_folder(root: Path, study: str) -> Path:
    folder = root / study
    try:
        folder.mkdir(exist_ok=True)
    except OSError as error:
        raise DosingError("output", "a writable folder", f"{folder}: {error.strerror or error}") from error
    return folder


def _written(action: str, folder: Path) -> DosingError:
    return DosingError("output", "a writable folder", f"{action} in {folder} failed")


def sdtm_packages(
    ctx: Context, selection: Selection, warnings: list[str]
) -> tuple[list[tuple[Protocol, list[Dataset]]], int]:
    """Each selected study with its datasets, and how many subjects they hold; nothing is written."""
    from dosing.exchange.sdtm_package import build_package

    protocols, views = _selection(ctx, selection)
    return [(protocol, build_package(protocol, views, warnings)) for protocol in protocols], len(views)


def export_sdtm(ctx: Context, options: ExportOptions) -> ExportResult:
    """Each study's SDTM package: .xpt (SAS transport v5), Dataset-JSON and define.xml."""
    from dosing.exchange.dataset_json import write_dataset_json
    from dosing.exchange.define_xml import write_define
    from dosing.exchange.xpt import write_xpt

    created = options.as_of
    version = _source_version()
    files: list[Path] = []
    warnings: list[str] = []
    # Everything is built (and every term mapped) before the first file is written.
    packages, subjects = sdtm_packages(ctx, options, warnings)
    for protocol, datasets in packages:
        folder = _study_folder(options.output, protocol.id)
        try:
            for data in datasets:
                files.append(write_xpt(data, folder))
                files.append(
                    write_dataset_json(
                        data, folder, study_oid=protocol.id, created=created, source_version=version
                    )
                )
            files.append(
                write_define(
                    protocol.id, protocol.title, datasets, folder, created=created, source_version=version
                )
            )
        except OSError as error:
            raise _written(f"writing {error.filename or 'a file'}", folder) from error
    return ExportResult(files=files, warnings=warnings, subjects=subjects)


def export_fhir(ctx: Context, options: ExportOptions) -> ExportResult:
    """One FHIR Bundle per subject (``STUDY/SUBJECT.json``), every resource validated."""
    from dosing.exchange.fhir import subject_bundle

    protocols, views = _selection(ctx, options)
    files: list[Path] = []
    warnings: list[str] = []
    # Every Bundle is built and validated before the first file is written.
    studies = [
        (
            protocol,
            [
                (view.subject_code, subject_bundle(view, protocol, options.as_of, warnings))
                for view in views
                if view.protocol_id == protocol.id
            ],
        )
        for protocol in protocols
    ]
    for protocol, bundles in studies:
        folder = _study_folder(options.output, protocol.id)
        try:
            for subject_code, bundle in bundles:
                path = folder / f"{subject_code}.json"
                path.write_text(bundle + "\n", encoding="utf-8")
                files.append(path)
        except OSError as error:
            raise _written(f"writing {error.filename or 'a file'}", folder) from error
    return ExportResult(files=files, warnings=warnings, subjects=len(views))
