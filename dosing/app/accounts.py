"""Accounts, logins, sessions and signatures: who may act, and proof that they did.

- The first account on an empty store is created as admin without a login; after that only an admin
  adds accounts. Accounts are never deleted: disabling one keeps it and its history.
- A login (username and password) opens a session; a session unused for the idle timeout ends.
- A wrong password, at login or when signing, counts towards the lockout; the account locks after
  the stated number of consecutive failures, until an admin resets its password. Every login, failure,
  lockout, reset and disabling is in the audit log.
- Signing (21 CFR 11.200): within a session, each signature needs the password again.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from dosing.app import clock
from dosing.app.authority import require
from dosing.app.context import Actor, Context
from dosing.app.passwords import check_policy, hash_password, password_matches
from dosing.app.policy import get_policy
from dosing.app.roles import Role, parse_roles, roles_text
from dosing.errors import DosingError
from dosing.free_text import checked_reason
from dosing.store import accounts as stored
from dosing.store import tables as t
from dosing.store.db import Store
from dosing.store.models import SignatureIntent

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
USERNAME_RULE = "2-64 characters: a letter, then letters, digits, '.', '_' or '-'"
_LOGIN_RULE = "a known, enabled account and its password"


def _audit_account(
    store: Store, actor: str, action: str, account_id: int | None, reason: str | None = None, **after: object
) -> None:
    from dosing.store.ledger.audit_entry import _audit

    with store.transaction() as session:
        _audit(
            session, actor=actor, at=clock.now(), action=action, entity="accounts", entity_id=account_id,
            reason=reason, after=dict(after) or None,
        )  # fmt: skip


def actor_of(account: t.Account, session_id: int | None = None) -> Actor:
    assert account.id is not None
    return Actor(
        account_id=account.id,
        username=account.username,
        full_name=account.full_name,
        roles=parse_roles(account.roles),
        kind="service" if account.kind == "service" else "person",
        session_id=session_id,
    )


def _valid_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME.match(name):
        raise DosingError("username", USERNAME_RULE, f"{username!r} is not a valid username")
    return name


def _valid_name(full_name: str) -> str:
    name = " ".join(full_name.split())
    if not name or len(name) > 128 or any(ord(character) < 32 for character in full_name):
        raise DosingError(
            "name", "the printed name: 1-128 printable characters", f"{full_name!r} is not a name"
        )
    return name


def _valid_roles(text: str) -> frozenset[Role]:
    try:
        roles = parse_roles(text)
    except ValueError as error:
        raise DosingError(
            "role", "nurse, pharmacist, coordinator, investigator, data-manager or admin", str(error)
        ) from error
    if not roles:
        raise DosingError("role", "at least one role", "no role given")
    if Role.SERVICE in roles:
        raise DosingError(
            "role", "service accounts are made by the system", "a person cannot hold the service role"
        )
    return roles


def _new_account(username: str, full_name: str, roles: frozenset[Role], password: str, by: str) -> t.Account:
    check_policy(password, username, get_policy().password_min_length)
    now = clock.now()
    return t.Account(
        username=username, full_name=full_name, roles=roles_text(roles), kind="person",
        password_hash=hash_password(password), password_changed_at=now, created_at=now, created_by=by,
    )  # fmt: skip


def needs_bootstrap(store: Store) -> bool:
    """True while the store has no account of a person: the first one is created without a login."""
    with store.session() as session:
        return stored.count_people(session) == 0


def bootstrap_admin(store: Store, username: str, full_name: str, roles: str, password: str) -> Actor:
    """The first account of an empty store: an admin (with any other roles given), no login needed."""
    name, printed = _valid_username(username), _valid_name(full_name)
    held = _valid_roles(roles) | {Role.ADMIN}
    account = _new_account(name, printed, held, password, by="system:bootstrap")
    from dosing.store.ledger.audit_entry import _audit

    with store.transaction() as session:
        if stored.count_people(session) != 0:
            raise DosingError(
                "account", "only an admin adds accounts", "the store has accounts: log in as an admin"
            )
        session.add(account)
        session.flush()
        _audit(
            session, actor="system:bootstrap", at=clock.now(), action="account_created", entity="accounts",
            entity_id=account.id, reason="first account of an empty store",
            after={"username": name, "full_name": printed, "roles": roles_text(held)},
        )  # fmt: skip
    return actor_of(account)


def add_user(ctx: Context, username: str, full_name: str, roles: str, password: str) -> Actor:
    require(ctx, "manage_accounts")
    name, printed, held = _valid_username(username), _valid_name(full_name), _valid_roles(roles)
    account = _new_account(name, printed, held, password, by=ctx.actor.username)
    from dosing.store.ledger.audit_entry import _audit

    with ctx.store.transaction() as session:
        if stored.find_account(session, name) is not None:
            raise DosingError("username", "usernames are unique and never reused", f"{name} already exists")
        session.add(account)
        session.flush()
        _audit(
            session, actor=ctx.actor.username, at=clock.now(), action="account_created", entity="accounts",
            entity_id=account.id, after={"username": name, "full_name": printed, "roles": roles_text(held)},
        )  # fmt: skip
    return actor_of(account)


def list_users(ctx: Context) -> list[t.Account]:
    require(ctx, "manage_accounts")
    with ctx.store.session() as session:
        return stored.all_accounts(session)


def _existing(session: object, username: str) -> t.Account:
    account = stored.find_account(session, username)  # type: ignore[arg-type]
    if account is None or account.kind != "person":
        raise DosingError("username", "an existing account", f"no account {username!r}")
    return account


def disable_user(ctx: Context, username: str, reason: str) -> None:
    require(ctx, "manage_accounts")
    if not checked_reason(reason.strip()):
        raise DosingError("reason", "disabling an account says why", "no reason given")
    from dosing.store.ledger.audit_entry import _audit

    with ctx.store.transaction() as session:
        account = _existing(session, username)
        if account.username == ctx.actor.username:
            raise DosingError("username", "an admin does not disable their own account", "that is you")
        account.disabled = True
        session.add(account)
        ended = stored.end_sessions(session, _id(account), clock.now(), "disabled")
        _audit(
            session, actor=ctx.actor.username, at=clock.now(), action="account_disabled", entity="accounts",
            entity_id=account.id, reason=reason.strip(),
            after={"username": account.username, "sessions_ended": ended},
        )  # fmt: skip


def reset_password(ctx: Context, username: str, password: str) -> None:
    """Set a new password (an admin, for a forgotten password or a locked account): unlocks the account
    and ends its sessions."""
    require(ctx, "manage_accounts")
    from dosing.store.ledger.audit_entry import _audit

    with ctx.store.transaction() as session:
        account = _existing(session, username)
        check_policy(password, account.username, get_policy().password_min_length)
        account.password_hash = hash_password(password)
        account.password_changed_at = clock.now()
        account.failed_attempts = 0
        account.locked = False
        session.add(account)
        ended = stored.end_sessions(session, _id(account), clock.now(), "password reset")
        _audit(
            session, actor=ctx.actor.username, at=clock.now(), action="password_reset", entity="accounts",
            entity_id=account.id,
            after={"username": account.username, "unlocked": True, "sessions_ended": ended},
        )  # fmt: skip


def _id(account: t.Account) -> int:
    assert account.id is not None
    return account.id


def _check_password(store: Store, username: str, password: str, purpose: str) -> t.Account:
    """The account, if it may act and the password is right; else audit the failure (and the lockout)
    and refuse. Messages do not say whether the username exists."""
    policy = get_policy()
    with store.session() as session:
        account = stored.find_account(session, username)
    if account is None or account.kind != "person":
        _audit_account(
            store, username.strip().lower()[:64] or "?", f"{purpose}_failed", None, "unknown username"
        )
        raise DosingError("password", _LOGIN_RULE, "wrong username or password")
    if account.disabled:
        _audit_account(store, account.username, f"{purpose}_refused", account.id, "account disabled")
        raise DosingError("account", _LOGIN_RULE, f"{account.username} is disabled")
    if account.locked:
        _audit_account(store, account.username, f"{purpose}_refused", account.id, "account locked")
        raise DosingError(
            "account", f"locked after {policy.max_failed_logins} wrong passwords; an admin resets it",
            f"{account.username} is locked",
        )  # fmt: skip
    if password_matches(account.password_hash, password):
        if account.failed_attempts:
            with store.transaction() as session:
                fresh = stored.account_by_id(session, _id(account))
                assert fresh is not None
                fresh.failed_attempts = 0
                session.add(fresh)
        return account
    from dosing.store.ledger.audit_entry import _audit

    with store.transaction() as session:
        fresh = stored.account_by_id(session, _id(account))
        assert fresh is not None
        fresh.failed_attempts += 1
        locked = fresh.failed_attempts >= policy.max_failed_logins
        fresh.locked = locked
        session.add(fresh)
        _audit(
            session, actor=fresh.username, at=clock.now(), action=f"{purpose}_failed", entity="accounts",
            entity_id=fresh.id, reason="wrong password", after={"failed_attempts": fresh.failed_attempts},
        )  # fmt: skip
        if locked:
            stored.end_sessions(session, _id(fresh), clock.now(), "locked")
            _audit(
                session, actor=fresh.username, at=clock.now(), action="account_locked", entity="accounts",
                entity_id=fresh.id, reason=f"{fresh.failed_attempts} consecutive wrong passwords",
            )  # fmt: skip
    if locked:
        raise DosingError(
            "password", f"locked after {policy.max_failed_logins} wrong passwords; an admin resets it",
            f"wrong password; {account.username} is now locked",
        )  # fmt: skip
    raise DosingError("password", _LOGIN_RULE, "wrong username or password")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(store: Store, username: str, password: str, client: str = "cli") -> tuple[str, Actor]:
    """Open a session: returns its secret token (kept by the client) and the actor."""
    account = _check_password(store, username, password, "login")
    token = secrets.token_urlsafe(32)
    now = clock.now()
    from dosing.store.ledger.audit_entry import _audit

    with store.transaction() as session:
        row = t.LoginSession(
            token_hash=_token_hash(token),
            account_id=_id(account),
            client=client,
            started_at=now,
            last_seen_at=now,
        )
        session.add(row)
        session.flush()
        _audit(
            session, actor=account.username, at=now, action="login", entity="login_sessions",
            entity_id=row.id, after={"client": client},
        )  # fmt: skip
    return token, actor_of(account, row.id)


#: A session's last use is written at most this often (not on every request: a write per page view
#: cost more than the page). The idle timeout counts from the last written use, so a session ends
#: never later than the timeout after its last use, and at most this much earlier.
SESSION_TOUCH_INTERVAL = timedelta(seconds=30)


def resume(store: Store, token: str) -> Actor:
    """The actor of an open session; refuses an unknown, ended or idle session (and ends an idle one).

    The last use is written when the written one is :data:`SESSION_TOUCH_INTERVAL` old or more."""
    policy = get_policy()
    now = clock.now()
    with store.transaction() as session:
        row = stored.find_login(session, _token_hash(token))
        if row is None or row.ended_at is not None:
            raise DosingError("session", "log in first (dosing login USERNAME)", "no open session")
        account = stored.account_by_id(session, row.account_id)
        if account is None or account.disabled or account.locked:
            raise DosingError(
                "session", "an enabled, unlocked account", "the account of this session may not act"
            )
        if now - row.last_seen_at > timedelta(minutes=policy.session_idle_minutes):
            row.ended_at = now
            row.ended_reason = "idle timeout"
            session.add(row)
            expired = True
        else:
            if now - row.last_seen_at >= SESSION_TOUCH_INTERVAL:
                row.last_seen_at = now
                session.add(row)
            expired = False
    if expired:
        _audit_account(
            store,
            account.username,
            "session_expired",
            account.id,
            f"idle for more than {policy.session_idle_minutes} minutes",
        )
        raise DosingError(
            "session", f"sessions end after {policy.session_idle_minutes} idle minutes",
            "the session expired; log in again",
        )  # fmt: skip
    return actor_of(account, row.id)


def logout(store: Store, token: str) -> str | None:
    """End a session; returns its username (None when there was no open session)."""
    now = clock.now()
    from dosing.store.ledger.audit_entry import _audit

    with store.transaction() as session:
        row = stored.find_login(session, _token_hash(token))
        if row is None or row.ended_at is not None:
            return None
        row.ended_at = now
        row.ended_reason = "logout"
        session.add(row)
        account = stored.account_by_id(session, row.account_id)
        username = account.username if account is not None else "?"
        _audit(session, actor=username, at=now, action="logout", entity="login_sessions", entity_id=row.id)
    return username


def sign(ctx: Context, password: str, meaning: str) -> SignatureIntent:
    """An electronic signature by the session's actor: the password again (11.200), the printed name and
    the meaning. The ledger links it to the record it signs, in the record's own transaction."""
    if ctx.actor.kind != "person":
        raise DosingError("signature", "a person signs", "a service account cannot sign")
    account = _check_password(ctx.store, ctx.actor.username, password, "signature")
    return SignatureIntent(
        account_id=_id(account), username=account.username, printed_name=account.full_name, meaning=meaning
    )


def service_actor(store: Store, name: str) -> Actor:
    """The named service account scheduled flows act as (created on first use, audited; it has the
    service role only, no password, and cannot log in or sign)."""
    username = f"svc-{name}"
    with store.session() as session:
        account = stored.find_account(session, username)
    if account is None:
        from dosing.store.ledger.audit_entry import _audit

        now = clock.now()
        account = t.Account(
            username=username, full_name=f"service account: {name}", roles=Role.SERVICE.value, kind="service",
            created_at=now, created_by="system",
        )  # fmt: skip
        try:
            with store.transaction() as session:
                session.add(account)
                session.flush()
                _audit(
                    session, actor="system", at=now, action="account_created", entity="accounts",
                    entity_id=account.id, after={"username": username, "roles": "service", "kind": "service"},
                )  # fmt: skip
        except Exception:
            with store.session() as session:
                found = stored.find_account(session, username)
            if found is None:
                raise
            account = found
    return actor_of(account)
