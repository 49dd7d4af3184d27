"""Accounts, login sessions and the reads behind signatures, in the store.

Accounts and sessions are not ledger tables (lockout counters, password hashes and session activity
change in place); every change to them is written to the audit log by the application layer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from dosing.store import tables as t


def find_account(session: Session, username: str) -> t.Account | None:
    return session.scalars(
        select(t.Account).where(col(t.Account.username) == username.strip().lower())
    ).first()


def account_by_id(session: Session, account_id: int) -> t.Account | None:
    return session.get(t.Account, account_id)


def count_people(session: Session) -> int:
    return int(
        session.scalar(select(func.count()).select_from(t.Account).where(col(t.Account.kind) == "person"))
        or 0
    )


def all_accounts(session: Session) -> list[t.Account]:
    return list(session.scalars(select(t.Account).order_by(col(t.Account.username))))


def find_login(session: Session, token_hash: str) -> t.LoginSession | None:
    return session.scalars(select(t.LoginSession).where(col(t.LoginSession.token_hash) == token_hash)).first()


def end_sessions(session: Session, account_id: int, at: datetime, reason: str) -> int:
    """End every open session of an account (disabled, password reset). Returns how many."""
    open_sessions = session.scalars(
        select(t.LoginSession).where(
            col(t.LoginSession.account_id) == account_id, col(t.LoginSession.ended_at).is_(None)
        )
    ).all()
    for login in open_sessions:
        login.ended_at = at
        login.ended_reason = reason
        session.add(login)
    return len(open_sessions)


def signature_texts(session: Session, signature_ids: list[int]) -> dict[int, str]:
    """Signatures as printed: ``Li Na (nurse-li), administered by, 2026-12-01T01:35:02Z``."""
    if not signature_ids:
        return {}
    rows = session.scalars(select(t.Signature).where(col(t.Signature.id).in_(signature_ids))).all()
    return {
        row.id: f"{row.printed_name} ({row.username}), {row.meaning}, {row.signed_at:%Y-%m-%dT%H:%M:%SZ}"
        for row in rows
        if row.id is not None
    }
