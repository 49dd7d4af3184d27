"""SAS transport v5 files (.xpt) for a dataset, with variable labels, through pyreadstat.

Column order is the dataset's variable order (the SDTMIG's), whatever order a row's keys come in.
Text columns hold empty strings for nulls, numeric columns NaN: that is how SAS stores missing values.
"""

from __future__ import annotations

from pathlib import Path

from dosing.exchange.datasets import Dataset


def write_xpt(data: Dataset, folder: Path) -> Path:
    import pandas as pd
    import pyreadstat

    columns: dict[str, object] = {}
    for variable in data.variables:
        values = [row.get(variable.name) for row in data.rows]
        if variable.numeric:
            columns[variable.name] = pd.Series(
                [float("nan") if value is None else float(value) for value in values], dtype="float64"
            )
        else:
            columns[variable.name] = pd.Series(
                ["" if value is None else str(value) for value in values], dtype="object"
            )
    frame = pd.DataFrame(columns, columns=[variable.name for variable in data.variables])
    path = folder / f"{data.file_stem}.xpt"
    pyreadstat.write_xport(
        frame,
        str(path),
        file_label=data.label,
        column_labels={variable.name: variable.label for variable in data.variables},
        table_name=data.name,
        file_format_version=5,
    )
    return path
