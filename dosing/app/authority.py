"""Authority checks: the one place that decides whether an actor may perform an action.

Every use case calls :func:`require` before it reads or writes anything; a refusal is written to the
audit log (21 CFR 11.10(d), (g); 11.300(d): attempts at unauthorized use are detected and reported).
"""

from __future__ import annotations

from dosing.app import clock
from dosing.app.context import Context
from dosing.app.roles import PERMISSIONS, may, roles_text
from dosing.errors import DosingError


def require(ctx: Context, action: str) -> None:
    """Refuse (and audit the refusal) unless the actor holds a role that may perform ``action``."""
    if may(ctx.actor.roles, action):
        return
    allowed = roles_text(PERMISSIONS[action])
    held = roles_text(ctx.actor.roles) or "no role"
    audit_refusal(ctx, action, f"{ctx.actor.username} ({held}) may not {action}; it needs {allowed}")
    raise DosingError(
        "authority",
        f"{action} needs the role {allowed.replace(',', ' or ')}",
        f"{ctx.actor.username} ({held}) may not {action.replace('_', ' ')}",
    )


def audit_refusal(ctx: Context, action: str, reason: str, subject_code: str | None = None) -> None:
    """Write a refused action to the audit log, in its own transaction (the action itself wrote nothing)."""
    from dosing.store.ledger.audit_entry import _audit

    with ctx.store.transaction() as session:
        _audit(
            session, actor=ctx.actor.username, at=clock.now(), action="refused", entity="accounts",
            entity_id=ctx.actor.account_id, subject_code=subject_code, reason=reason[:500],
            after={"action": action},
        )  # fmt: skip
