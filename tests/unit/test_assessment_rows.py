"""The planned assessments' rows: each has a key unique within its enrollment (the follow-up, its
offset and, after each dose, the dose), the same however often a protocol is enrolled.

The offsets of a protocol's follow-ups are worked out once a protocol (issue 15: they were worked out
again for every subject, a tenth of a roster's enrollment); the rows must stay what the plain
per-subject computation gave, which is kept here to compare with.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from dosing.catalog import get_protocol
from dosing.plan import PatientPlan
from dosing.protocol import Offset, Protocol
from dosing.store.ledger._common import _utc
from dosing.store.ledger.plan_rows import assessment_values
from tests.unit.helpers import load, plan, protocol_data


def _plain_rows(protocol: Protocol, subject_id: int, enrollment_id: int, patient: PatientPlan) -> list[Any]:
    """The rows as they were computed before issue 15, subject by subject."""
    offsets = {
        (follow_up.name, offset.describe()): offset
        for follow_up in protocol.follow_up
        for offset in follow_up.offsets
    }
    rows = []
    for planned in patient.assessments:
        offset = offsets.get((planned.name, planned.offset), Offset())
        key = f"{re.sub(r'[^a-z0-9]+', '-', planned.name.lower()).strip('-')}/"
        key += f"{offset.months}m{offset.days}d{offset.hours}h"
        if planned.administration_sequence is not None:
            key += f"/dose-{planned.administration_sequence}"
        rows.append(
            {
                "enrollment_id": enrollment_id, "subject_id": subject_id, "key": key, "name": planned.name,
                "due": _utc(planned.due), "due_date": planned.due_date, "after": planned.after,
                "offset_months": offset.months, "offset_days": offset.days, "offset_hours": offset.hours,
                "offset_text": planned.offset, "measures": list(planned.measures), "source": planned.source,
                "administration_sequence": planned.administration_sequence,
            }
        )  # fmt: skip
    return rows


@pytest.mark.parametrize(
    ("protocol_id", "arm"),
    [("NCT04822922", "low"), ("NCT04822922", "high"), ("NCT05871463", "exosome"),
     ("SYSU3-MSCEV-LT", "msc-ev"), ("SYSU3-MSCEV-LT", "control")],
)  # fmt: skip
@pytest.mark.parametrize("anchor", [date(2026, 12, 1), date(2028, 2, 29), date(2027, 3, 28)])
def test_rows_equal_the_plain_computation(protocol_id: str, arm: str, anchor: date) -> None:
    protocol = get_protocol(protocol_id)
    patient = plan(protocol_id, arm, anchor=anchor)
    for subject_id in (1, 2):  # the second subject of a protocol reads what the first worked out
        rows = assessment_values(protocol, subject_id, 10 + subject_id, patient)
        plain = _plain_rows(protocol, subject_id, 10 + subject_id, patient)
        assert rows == plain
        assert len({row["key"] for row in rows}) == len(rows)


def test_the_keys_of_the_uc_msc_escalation_study() -> None:
    """NCT04822922: a safety check 24 h after each of the four infusions, then long-term follow-up."""
    keys = [
        row["key"] for row in assessment_values(get_protocol("NCT04822922"), 1, 1, plan("NCT04822922", "low"))
    ]
    assert keys[:4] == [f"infusion-safety-check-ae-sae/0m0d24h/dose-{n}" for n in (1, 2, 3, 4)]
    assert len(keys) == 11


def test_an_edited_protocol_with_the_same_id_gets_its_own_offsets() -> None:
    """A protocol edited in place (a new version under the same id) does not reuse the old offsets."""
    data = protocol_data("NCT05871463")
    data["follow_up"][0]["offsets"] = [{"months": 3}]
    edited = load(data)
    shipped = get_protocol("NCT05871463")
    assert assessment_values(shipped, 1, 1, plan("NCT05871463", "exosome"))[0]["key"].endswith("/2m0d0h")
    rows = assessment_values(edited, 1, 1, plan("NCT05871463", "exosome", protocol=edited))
    assert rows[0]["key"].endswith("/3m0d0h")
    assert [row["key"] for row in rows] == [row["key"] for row in _plain_rows(edited, 1, 1, plan(
        "NCT05871463", "exosome", protocol=edited))]  # fmt: skip
