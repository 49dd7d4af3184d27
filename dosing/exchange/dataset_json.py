"""CDISC Dataset-JSON 1.1 for a dataset, built with odmlib's model (one dataset per file).

Numbers are JSON numbers (doses as doubles, counts as integers), text is text, and null is a missing
value; the columns carry the same OIDs as define.xml so a reviewer's tool can join the two.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from dosing.exchange.datasets import Dataset, Variable

DATASET_JSON_VERSION = "1.1.0"

_TYPES = {"text": "string", "integer": "integer", "float": "double", "datetime": "datetime", "date": "date"}


def item_oid(data: Dataset, variable: Variable) -> str:
    return f"IT.{data.name}.{variable.name}"


def dataset_json(
    data: Dataset, *, study_oid: str, created: datetime, source_version: str
) -> dict[str, object]:
    from odmlib.dataset_json_1_1 import model

    document = model.DatasetJSON(  # type: ignore[no-untyped-call]
        datasetJSONCreationDateTime=created.isoformat(),
        datasetJSONVersion=DATASET_JSON_VERSION,
        fileOID=f"{study_oid}.{data.name}",
        dbLastModifiedDateTime=created.isoformat(),
        originator="cell-dosing",
        sourceSystem=model.SourceSystem(name="cell-dosing", version=source_version),
        studyOID=study_oid,
        metaDataVersionOID=f"MDV.{study_oid}",
        metaDataRef="define.xml",
        itemGroupOID=f"IG.{data.name}",
        records=len(data.rows),
        name=data.name,
        label=data.label,
    )
    for variable in data.variables:
        column = model.Column(
            itemOID=item_oid(data, variable),
            name=variable.name,
            label=variable.label,
            dataType=_TYPES[variable.data_type],
        )
        column.length = data.length(variable)
        if variable.key is not None:
            column.keySequence = variable.key
        document.add_column(column)
    document.rows = [[row.get(variable.name) for variable in data.variables] for row in data.rows]
    result: dict[str, object] = document.to_dict()
    return result


def write_dataset_json(
    data: Dataset, folder: Path, *, study_oid: str, created: datetime, source_version: str
) -> Path:
    path = folder / f"{data.file_stem}.json"
    document = dataset_json(data, study_oid=study_oid, created=created, source_version=source_version)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
