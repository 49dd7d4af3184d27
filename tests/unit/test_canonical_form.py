"""The audit chain's canonical form is fast, and byte for byte what it always was.

``dosing.store.chain.canonical`` converts each type once (a converter cached per type) and writes UTC
instants without ``strftime``. Every digest already in a store was computed with the plain form, which
migration 0003 keeps frozen: both must give the same bytes for every value a ledger row or an audit
entry can hold, or every stored chain would fail verification.
"""

from __future__ import annotations

import enum
import importlib.util
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pendulum
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.store.chain import canonical

_MIGRATION = Path(__file__).parents[2] / "dosing/store/migrations/versions/0003_accounts_signatures_chain.py"


def _frozen_canonical() -> Any:
    spec = importlib.util.spec_from_file_location("frozen_chain_0003", _MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._canonical


plain_canonical = _frozen_canonical()


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class State(enum.StrEnum):
    GIVEN = "given"


_ZONES = [UTC, timezone(timedelta(hours=-5)), ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")]

instants = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),  # naive: read as UTC
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.sampled_from(_ZONES)
    ),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)).map(
        lambda moment: pendulum.instance(moment, tz="Asia/Shanghai")
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=12),
    st.floats(allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(),
    instants,
    st.sampled_from([Colour.RED, Level.HIGH, State.GIVEN, pendulum.date(2026, 2, 28)]),
)
keys = st.one_of(st.text(max_size=8), st.integers(min_value=-20, max_value=20), st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(tuple),
        st.dictionaries(keys, inner, max_size=5),
    ),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(values)
def test_the_canonical_form_equals_the_frozen_plain_form(value: Any) -> None:
    assert canonical(value) == plain_canonical(value)


def test_worked_examples_of_the_canonical_form() -> None:
    row = {
        "id": 7,
        "target_date": date(2028, 2, 29),
        "planned_start": datetime(2026, 3, 29, 9, 30, tzinfo=ZoneInfo("Europe/Berlin")),  # summer time
        "weight_kg": Decimal("62.40"),
        "note": "Zürich",
        "ended_at": None,
        "refs": (["subjects", 1],),
        10: "ten",
        9: "nine",
    }
    expected = (
        '{"10":"ten","9":"nine","ended_at":null,"id":7,"note":"Zürich",'
        '"planned_start":"2026-03-29T07:30:00.000000Z","refs":[["subjects",1]],'
        '"target_date":"2028-02-29","weight_kg":"62.40"}'
    ).encode()
    assert canonical(row) == expected == plain_canonical(row)
    # A year before 1000 keeps strftime's unpadded year, as every digest written so far did.
    early = datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert canonical(early) == b'"999-01-02T03:04:05.000006Z"' == plain_canonical(early)
    assert canonical(datetime(2026, 12, 1, 9, 0)) == b'"2026-12-01T09:00:00.000000Z"'
