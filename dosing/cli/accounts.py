"""Accounts and sessions: ``dosing users ...``, ``dosing login``, ``logout``, ``whoami``."""

from __future__ import annotations

import click

from dosing.cli.output import emit_json, json_option, table
from dosing.cli.params import database_url_option, ledger_store
from dosing.cli.session import (
    forget_token,
    load_token,
    password_stdin_option,
    read_password,
    save_token,
    signed_in,
)


@click.group()
def users() -> None:
    """Accounts: add, list, disable, reset a password (an admin's work)."""


@users.command("add")
@click.argument("username")
@click.option("--name", "full_name", required=True, help='The printed name on signatures ("Li Na").')
@click.option(
    "--role", "roles", multiple=True, required=True,
    help="nurse, pharmacist, coordinator, investigator, data-manager or admin; repeat or comma-separate.",
)  # fmt: skip
@password_stdin_option
@database_url_option
def add_user_command(
    username: str, full_name: str, roles: tuple[str, ...], password_stdin: bool, database_url: str | None
) -> None:
    """Add the account USERNAME (its login name). On an empty store the first account is created as
    admin without a login."""
    from dosing.app import accounts

    store = ledger_store(database_url)
    role_text = ",".join(roles)
    if accounts.needs_bootstrap(store):
        password = read_password(password_stdin, f"Password for {username}")
        actor = accounts.bootstrap_admin(store, username, full_name, role_text, password)
        click.echo(
            f"created {actor.username} ({actor.full_name}): {','.join(sorted(actor.roles))} (first account)"
        )
        return
    ctx = signed_in(store, "manage_accounts")
    password = read_password(password_stdin, f"Password for {username}")
    actor = accounts.add_user(ctx, username, full_name, role_text, password)
    click.echo(f"created {actor.username} ({actor.full_name}): {','.join(sorted(actor.roles))}")


@users.command("list")
@database_url_option
@json_option
def list_users_command(database_url: str | None, as_json: bool) -> None:
    """Every account, enabled or not (accounts are never deleted)."""
    from dosing.app import accounts

    ctx = signed_in(ledger_store(database_url), "manage_accounts")
    rows = accounts.list_users(ctx)
    records = [
        {
            "username": row.username, "name": row.full_name, "roles": row.roles, "kind": row.kind,
            "state": "disabled" if row.disabled else "locked" if row.locked else "enabled",
            "created_at": row.created_at, "created_by": row.created_by,
        }
        for row in rows
    ]  # fmt: skip
    if as_json:
        emit_json(records)
        return
    click.echo(table(["username", "name", "roles", "state"], [
        [r["username"], r["name"], r["roles"], r["state"]] for r in records
    ]))  # fmt: skip


@users.command("disable")
@click.argument("username")
@click.option("--reason", required=True, help="Why (audited).")
@database_url_option
def disable_user_command(username: str, reason: str, database_url: str | None) -> None:
    """Disable the account USERNAME: it can no longer log in or sign; its records and history stay."""
    from dosing.app import accounts

    ctx = signed_in(ledger_store(database_url), "manage_accounts")
    accounts.disable_user(ctx, username, reason)
    click.echo(f"disabled {username.lower()}")


@users.command("reset-password")
@click.argument("username")
@password_stdin_option
@database_url_option
def reset_password_command(username: str, password_stdin: bool, database_url: str | None) -> None:
    """Set a new password for the account USERNAME (unlocks it and ends its sessions)."""
    from dosing.app import accounts

    ctx = signed_in(ledger_store(database_url), "manage_accounts")
    password = read_password(password_stdin, f"New password for {username}")
    accounts.reset_password(ctx, username, password)
    click.echo(f"password reset for {username.lower()}; the account is unlocked")


@click.command()
@click.argument("username")
@password_stdin_option
@database_url_option
def login(username: str, password_stdin: bool, database_url: str | None) -> None:
    """Log in as USERNAME: opens a session for this store (ends after the idle timeout, 15 minutes by
    default)."""
    from dosing.app import accounts

    store = ledger_store(database_url)
    password = read_password(password_stdin)
    token, actor = accounts.login(store, username, password)
    save_token(actor.username, token, store.url)
    click.echo(f"logged in as {actor.describe()}: {','.join(sorted(actor.roles))}")


@click.command()
@database_url_option
def logout(database_url: str | None) -> None:
    """End this store's session."""
    from dosing.app import accounts

    store = ledger_store(database_url)
    token = load_token(store.url)
    username = accounts.logout(store, token) if token else None
    forget_token(store.url)
    click.echo(f"logged out {username}" if username else "no open session")


@click.command()
@database_url_option
@json_option
def whoami(database_url: str | None, as_json: bool) -> None:
    """The account of this store's session, and its roles."""
    from dosing.app.accounts import resume
    from dosing.errors import DosingError

    store = ledger_store(database_url)
    token = load_token(store.url)
    if token is None:
        raise DosingError("session", "log in first: dosing login USERNAME", "not logged in")
    actor = resume(store, token)
    if as_json:
        emit_json({"username": actor.username, "name": actor.full_name, "roles": sorted(actor.roles)})
        return
    click.echo(f"{actor.describe()}: {','.join(sorted(actor.roles))}")
