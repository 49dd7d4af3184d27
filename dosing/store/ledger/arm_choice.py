"""Which arm a new subject takes: randomization list, escalation cohort, an override, or the only arm."""

from __future__ import annotations

from datetime import date

from dosing.errors import DosingError
from dosing.protocol import Protocol
from dosing.store.ledger.allocation_state import AllocationState
from dosing.store.ledger.plan_rows import Choice
from dosing.store.models import EnrollmentRequest


def _arm_choice(
    allocation: AllocationState, protocol: Protocol, request: EnrollmentRequest, as_of_local: date
) -> Choice:
    """(arm, source, randomization number, cohort, cohort position) for a new subject; ``allocation``
    is advanced by the caller once the subject's rows are written (``allocation.take``)."""
    randomized = protocol.allocation.method == "permuted_blocks"
    if request.override_allocation:
        if not randomized:
            raise DosingError(
                "override allocation",
                "only a randomized study has an allocation to override",
                f"{protocol.id} allocates by {protocol.allocation.method.replace('_', ' ')}",
            )
        if request.arm is None:
            raise DosingError("arm", "an override names the arm", "give the arm to use instead of the list's")
        if not request.reason:
            raise DosingError(
                "reason",
                "an allocation override is audited with its reason",
                "give --reason for the override",
            )
        protocol.arm(request.arm)
        return request.arm, "override", None, None, None
    if randomized:
        if request.arm is not None:
            raise DosingError(
                "arm",
                "randomized allocation (seeded permuted blocks); a chosen arm needs "
                "--override-allocation and --reason",
                f"{protocol.id} is randomized: omit the arm, the next randomization number assigns it",
            )
        from dosing.allocation import allocate

        number = allocation.next_number(protocol)
        return allocate(protocol, number).arm, "randomization", number, None, None
    if protocol.escalation is not None:
        slot = allocation.next_slot(protocol, as_of_local, request.arm)
        return slot.arm, "escalation", None, slot.cohort, slot.position
    if request.arm is not None:
        protocol.arm(request.arm)
        return request.arm, "given", None, None, None
    if len(protocol.arms) == 1:
        return protocol.arms[0].id, "only arm", None, None, None
    known = ", ".join(arm.id for arm in protocol.arms)
    raise DosingError("arm", f"one of the protocol's arms ({known})", f"{protocol.id} needs an arm")
