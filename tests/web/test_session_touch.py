"""Resuming a session writes its last use at most every SESSION_TOUCH_INTERVAL; the idle timeout holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from dosing.app import accounts
from dosing.app.policy import get_policy
from dosing.errors import DosingError
from dosing.store import tables as t
from tests.web.conftest import PASSWORD, World


def _last_seen(world: World, token: str):  # type: ignore[no-untyped-def]
    with world.store.session() as session:
        row = session.exec(
            select(t.LoginSession).where(t.LoginSession.token_hash == accounts._token_hash(token))
        ).one()
        return row.last_seen_at, row.ended_reason


def test_a_resume_writes_the_last_use_only_once_the_written_one_is_old_enough(world: World) -> None:
    token, _ = accounts.login(world.store, "nurse", PASSWORD)
    logged_in, _ = _last_seen(world, token)
    start = world.clock.now()
    world.clock.set(start + accounts.SESSION_TOUCH_INTERVAL - timedelta(seconds=2))
    accounts.resume(world.store, token)
    assert _last_seen(world, token) == (logged_in, None)  # not written
    world.clock.set(start + accounts.SESSION_TOUCH_INTERVAL + timedelta(seconds=1))
    accounts.resume(world.store, token)
    written, _ = _last_seen(world, token)
    assert written >= start + accounts.SESSION_TOUCH_INTERVAL  # written


def test_the_idle_timeout_counts_from_the_last_written_use_never_later(world: World) -> None:
    idle = timedelta(minutes=get_policy().session_idle_minutes)
    token, _ = accounts.login(world.store, "nurse", PASSWORD)
    start = world.clock.now()
    # Used again just before the touch interval (not written), then idle: it ends at most the touch
    # interval after its last use, never later than the timeout after it.
    world.clock.set(start + accounts.SESSION_TOUCH_INTERVAL - timedelta(seconds=2))
    accounts.resume(world.store, token)
    world.clock.set(start + idle - timedelta(seconds=2))
    accounts.resume(world.store, token)  # within the timeout of the login: still open, and written
    world.clock.set(start + idle - timedelta(seconds=2) + idle + timedelta(seconds=1))
    with pytest.raises(DosingError) as expired:
        accounts.resume(world.store, token)
    assert "expired" in expired.value.message
    assert _last_seen(world, token)[1] == "idle timeout"


def test_a_session_used_within_the_timeout_stays_open_past_it(world: World) -> None:
    idle = timedelta(minutes=get_policy().session_idle_minutes)
    token, _ = accounts.login(world.store, "nurse", PASSWORD)
    start = world.clock.now()
    for step in range(1, 4):  # each use written: the session lives three timeouts minus a little
        world.clock.set(start + step * (idle - timedelta(seconds=5)))
        assert accounts.resume(world.store, token).username == "nurse"
