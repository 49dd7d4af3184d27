"""Roles and what each may do: the one authority table of the application (README lists it).

Pure data. :func:`dosing.app.authority.require` enforces it for every entry point.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    NURSE = "nurse"
    PHARMACIST = "pharmacist"
    COORDINATOR = "coordinator"
    INVESTIGATOR = "investigator"
    DATA_MANAGER = "data-manager"
    ADMIN = "admin"
    #: Scheduled flows act as a named service account with this role only.
    SERVICE = "service"


_CLINICAL = frozenset({Role.NURSE, Role.PHARMACIST, Role.COORDINATOR, Role.INVESTIGATOR, Role.DATA_MANAGER})

#: action -> the roles that may perform it.
PERMISSIONS: dict[str, frozenset[Role]] = {
    # the ledger, read: everyone who works with subjects, and the flows
    "read_ledger": _CLINICAL | {Role.SERVICE},
    "verify_audit": frozenset({Role.ADMIN, Role.DATA_MANAGER, Role.COORDINATOR, Role.INVESTIGATOR}),
    # coordinators
    "enroll": frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    "reschedule": frozenset({Role.COORDINATOR, Role.INVESTIGATOR}),
    "sweep": frozenset({Role.COORDINATOR, Role.SERVICE}),
    "export": frozenset({Role.DATA_MANAGER, Role.COORDINATOR, Role.SERVICE}),
    # the bedside
    "record": frozenset({Role.NURSE}),
    "skip": frozenset({Role.NURSE}),
    "correct": frozenset({Role.NURSE, Role.COORDINATOR}),
    # safety
    "review_cohort": frozenset({Role.INVESTIGATOR}),
    "safety_decision": frozenset({Role.INVESTIGATOR}),
    # pharmacy
    "register_lot": frozenset({Role.PHARMACIST}),
    "change_lot_status": frozenset({Role.PHARMACIST}),
    "prepare": frozenset({Role.PHARMACIST}),
    "verify_preparation": frozenset({Role.PHARMACIST}),
    "release_preparation": frozenset({Role.PHARMACIST}),
    # accounts
    "manage_accounts": frozenset({Role.ADMIN}),
}


def parse_roles(text: str) -> frozenset[Role]:
    """``"nurse,coordinator"`` -> roles; unknown names raise ValueError naming them."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    known = {role.value: role for role in Role}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown role {', '.join(unknown)} (roles: {', '.join(known)})")
    return frozenset(known[name] for name in names)


def roles_text(roles: frozenset[Role]) -> str:
    return ",".join(sorted(role.value for role in roles))


def may(roles: frozenset[Role], action: str) -> bool:
    allowed = PERMISSIONS.get(action)
    if allowed is None:
        raise KeyError(f"no such action {action!r} in the authority table")
    return bool(roles & allowed)
