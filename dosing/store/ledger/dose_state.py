"""The effective state of one planned dose, worked out from its events (rows only ever inserted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from dosing.status import DoseRecord
from dosing.store import tables as t
from dosing.store.ledger._common import _id


@dataclass
class _DoseEvents:
    outcomes: list[t.AdministrationEvent] = field(default_factory=list)
    corrections: dict[int, t.AdministrationEvent] = field(default_factory=dict)
    reschedules: list[t.AdministrationEvent] = field(default_factory=list)

    def add(self, event: t.AdministrationEvent) -> None:
        if event.kind == "reschedule":
            self.reschedules.append(event)
        elif event.kind == "correction":
            assert event.corrects_id is not None
            self.corrections[event.corrects_id] = event
        else:
            self.outcomes.append(event)

    def tail(self) -> tuple[t.AdministrationEvent | None, str | None]:
        """The record in effect (last correction of the latest outcome) and what it says, or (tail, void)."""
        if not self.outcomes:
            return None, None
        current = max(self.outcomes, key=lambda event: event.slot or 0)
        while current.id in self.corrections:
            current = self.corrections[_id(current)]
        kind = current.corrected_kind if current.kind == "correction" else current.kind
        return current, kind

    def effective(self) -> tuple[t.AdministrationEvent | None, str | None]:
        current, kind = self.tail()
        if kind == "void":
            return None, None
        return current, kind

    def next_slot(self) -> int:
        return len(self.outcomes)

    def window(self, planned: t.PlannedAdministration) -> tuple[date, date, date]:
        if self.reschedules:
            last = max(self.reschedules, key=lambda event: event.id or 0)
            assert last.new_target and last.new_earliest and last.new_latest
            return last.new_target, last.new_earliest, last.new_latest
        return planned.target_date, planned.earliest, planned.latest

    def revision(self, since: datetime) -> tuple[int, datetime]:
        # What a calendar shows changes with a reschedule, a skip, or a correction.
        changes = [
            *self.reschedules,
            *self.corrections.values(),
            *(event for event in self.outcomes if event.kind == "skipped"),
        ]
        if not changes:
            return 0, since
        return len(changes), max(event.recorded_at for event in changes)


def _dose_record(event: t.AdministrationEvent | None, kind: str | None) -> DoseRecord | None:
    if event is None or kind is None or event.local_date is None:
        return None
    return DoseRecord(
        kind="given" if kind == "given" else "skipped",
        local_date=event.local_date,
        partial=event.partial,
        reason=event.reason if kind == "skipped" else None,
    )
