"""Calendar feed subscriptions: a secret token per feed, stored only as its hash.

A feed is a credential (like a login session), not a fact about a dose: it is created, and it may be
revoked, and nothing else. So the row has a ``revoked_at`` set once (from NULL to the moment), rather
than an insert-only revocation table: the lookup on every calendar poll stays one indexed read, and the
history (who created it, for what, who revoked it and when) is in the hash-chained audit log.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, Session, SQLModel, select


class CalendarFeed(SQLModel, table=True):
    __tablename__ = "calendar_feeds"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    #: ward (a site's coming weeks) | site (every date) | subject
    scope: str = Field(max_length=16)
    target: str = Field(max_length=64)
    created_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=64)


def find_feed(session: Session, token_hash: str) -> CalendarFeed | None:
    return session.exec(select(CalendarFeed).where(CalendarFeed.token_hash == token_hash)).first()


def feeds_of(session: Session, account_id: int | None) -> list[CalendarFeed]:
    query = select(CalendarFeed).order_by(CalendarFeed.id)  # type: ignore[arg-type]
    if account_id is not None:
        query = query.where(CalendarFeed.account_id == account_id)
    return list(session.exec(query).all())
