"""The pharmacy prep list flow lists a held study's doses with the refusal, never with figures (issue 9)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dosing.store import ledger, open_store
from dosing.store.models import CohortReviewRequest
from tests.store.conftest import enrollment

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_prep_list_refuses_the_doses_of_a_study_on_a_safety_hold(store_url: str) -> None:
    from flows.prep import pharmacy_prep_list

    store = open_store(store_url)
    for code in ("RJ-001", "RJ-002"):
        ledger.enroll(store, enrollment(subject=code, as_of="2026-11-30T08:00:00+00:00"))
    ledger.enroll(
        store, enrollment("NCT05871463", "EXO-001", weight="58 kg", as_of="2026-11-30T08:00:00+00:00")
    )
    unsafe = CohortReviewRequest(
        protocol_id="NCT04822922",
        cohort=1,
        safe=False,
        reviewed_on=date(2026, 11, 30),
        reason="product recall: sterility failure of the batch",
        actor="dsmb",
        as_of=datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
    )
    ledger.review_cohort(store, unsafe)
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    doses = pharmacy_prep_list(hours=24, as_of=start, database_url=store_url)["doses"]
    held = [d for d in doses if d["protocol_id"] == "NCT04822922"]
    assert [d["subject_code"] for d in held] == ["RJ-001", "RJ-002"]
    assert all("is held (safety stop" in d["refusal"] and "volume_to_draw" not in d for d in held)
    others = [d for d in doses if d["protocol_id"] != "NCT04822922"]
    assert [d["subject_code"] for d in others] == ["EXO-001"] and others[0]["refusal"] is None
