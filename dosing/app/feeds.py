"""Calendar feeds: a subscription URL per person for a ward, a site or a subject.

The URL carries a secret token (only its hash is stored) that its owner can revoke and replace with
a new one. A feed is read by a calendar client without a login, so it reads the ledger as its owner:
a feed whose owner may no longer read the ledger (disabled, locked, role removed) answers nothing,
exactly like a revoked or unknown token. The calendar is the export's (no names, no arm, no dose).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from dosing.app import clock, reads
from dosing.app.accounts import actor_of
from dosing.app.authority import require
from dosing.app.context import Context
from dosing.app.roles import may
from dosing.errors import DosingError
from dosing.store import accounts as stored
from dosing.store.db import Store
from dosing.store.feeds import CalendarFeed, feeds_of, find_feed

#: How often a subscribed client is asked to poll (REFRESH-INTERVAL, X-PUBLISHED-TTL).
REFRESH = timedelta(minutes=15)
#: A ward feed shows the days a ward plans for: from yesterday to four weeks ahead.
WARD_DAYS_BEFORE = 1
WARD_DAYS_AFTER = 28


class FeedScope(StrEnum):
    WARD = "ward"
    SITE = "site"
    SUBJECT = "subject"


@dataclass(frozen=True)
class NewFeed:
    """A feed just created: the token is shown once, here, and never again (only its hash is kept)."""

    feed: CalendarFeed
    token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def known_sites() -> list[str]:
    from dosing.catalog import library

    return sorted({site.id for protocol in library().values() for site in protocol.sites})


def _site_zone(site_id: str) -> str:
    from dosing.catalog import library

    for protocol in library().values():
        for site in protocol.sites:
            if site.id == site_id:
                return str(site.timezone)
    raise DosingError("site", f"a site of a protocol in the library ({', '.join(known_sites())})", site_id)


def _check_target(ctx: Context, scope: FeedScope, target: str) -> str:
    target = target.strip()
    if scope is FeedScope.SUBJECT:
        # An unknown subject is refused here, not published as an empty calendar.
        return reads.subject_view(ctx, target).subject_code
    if target not in known_sites():
        # A mistyped site would publish an empty calendar that looks like a quiet month.
        raise DosingError(
            "target",
            f"a site of a protocol in the library ({', '.join(known_sites())})",
            f"unknown site {target!r}",
        )
    return target


def parse_scope(text: str) -> FeedScope:
    try:
        return FeedScope(text.strip().lower())
    except ValueError as error:
        raise DosingError("scope", "ward, site or subject", f"{text!r} is not a feed scope") from error


def create(ctx: Context, scope: FeedScope, target: str) -> NewFeed:
    """A new feed for the actor; the token is returned once."""
    require(ctx, "read_ledger")
    checked = _check_target(ctx, scope, target)
    token = secrets.token_urlsafe(32)
    now = clock.now()
    from dosing.store.ledger.audit_entry import _audit

    row = CalendarFeed(
        token_hash=_hash(token),
        account_id=ctx.actor.account_id,
        scope=scope.value,
        target=checked,
        created_at=now,
    )
    with ctx.store.transaction() as session:
        session.add(row)
        session.flush()
        _audit(
            session,
            actor=ctx.actor.username,
            at=now,
            action="feed_created",
            entity="calendar_feeds",
            entity_id=row.id,
            after={"scope": scope.value, "target": checked},
        )
        session.refresh(row)
        session.expunge(row)
    return NewFeed(feed=row, token=token)


def mine(ctx: Context) -> list[CalendarFeed]:
    """The actor's feeds, revoked ones included (their history stays visible)."""
    require(ctx, "read_ledger")
    with ctx.store.session() as session:
        return feeds_of(session, ctx.actor.account_id)


def revoke(ctx: Context, feed_id: int) -> CalendarFeed:
    """Revoke one of the actor's feeds: its URL answers 404 from now on."""
    require(ctx, "read_ledger")
    now = clock.now()
    from dosing.store.ledger.audit_entry import _audit

    with ctx.store.transaction() as session:
        row = session.get(CalendarFeed, feed_id)
        if row is None or row.account_id != ctx.actor.account_id:
            raise DosingError("feed", "one of your own feeds (dosing feeds list)", f"no feed {feed_id}")
        if row.revoked_at is not None:
            raise DosingError("feed", "a feed not yet revoked", f"feed {feed_id} is already revoked")
        row.revoked_at = now
        row.revoked_by = ctx.actor.username
        session.add(row)
        _audit(
            session,
            actor=ctx.actor.username,
            at=now,
            action="feed_revoked",
            entity="calendar_feeds",
            entity_id=row.id,
            after={"scope": row.scope, "target": row.target},
        )
        session.flush()
        session.refresh(row)
        session.expunge(row)
    return row


def regenerate(ctx: Context, feed_id: int) -> NewFeed:
    """Revoke a feed and create its replacement (same scope and target, a new token)."""
    old = revoke(ctx, feed_id)
    return create(ctx, FeedScope(old.scope), old.target)


def _owner_context(store: Store, feed: CalendarFeed) -> Context | None:
    with store.session() as session:
        account = stored.account_by_id(session, feed.account_id)
    if account is None or account.disabled or account.locked:
        return None
    actor = actor_of(account)
    if not may(actor.roles, "read_ledger"):
        return None
    return Context(store=store, actor=actor)


def calendar(store: Store, token: str, as_of: datetime | None = None) -> bytes | None:
    """The .ics of the feed with this token, with refresh hints; None for an unknown or revoked token
    (or an owner who may no longer read), so that the caller answers all of them the same way."""
    from calendars.events import in_range
    from calendars.feed import with_refresh_hints
    from calendars.ics import to_ical
    from calendars.views import site_view_events, subject_view_events
    from dosing.status import local_date

    if not token or len(token) > 128:
        return None
    with store.session() as session:
        feed = find_feed(session, _hash(token))
    if feed is None or feed.revoked_at is not None:
        return None
    ctx = _owner_context(store, feed)
    if ctx is None:
        return None
    moment = as_of or clock.now()
    scope = FeedScope(feed.scope)
    if scope is FeedScope.SUBJECT:
        view = reads.subject_view(ctx, feed.target, moment)
        events = in_range(subject_view_events(view), None, None)
        name = f"{view.protocol_id} {view.subject_code}"
    elif scope is FeedScope.SITE:
        views = reads.site_views(ctx, feed.target, None, None, moment)
        events = site_view_events(views, None, None)
        name = f"{feed.target} all dates"
    else:
        today = local_date(moment, _site_zone(feed.target))
        start: date = today - timedelta(days=WARD_DAYS_BEFORE)
        end: date = today + timedelta(days=WARD_DAYS_AFTER)
        views = reads.site_views(ctx, feed.target, start, end, moment)
        events = site_view_events(views, start, end)
        # The name (and so the calendar's UID) stays the same from day to day.
        name = f"{feed.target} ward"
    return with_refresh_hints(to_ical(events, name=name), REFRESH)


def urls(base_url: str, token: str) -> tuple[str, str]:
    """The ``https://`` (or ``http://`` on loopback) and ``webcal://`` forms of a feed's URL."""
    base = base_url.rstrip("/")
    https = f"{base}/feeds/{token}.ics"
    webcal = "webcal://" + https.split("://", 1)[1]
    return https, webcal
