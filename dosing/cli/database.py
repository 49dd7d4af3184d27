"""``dosing db``: create or upgrade the store's schema, and show where it stands."""

from __future__ import annotations

import click

from dosing.cli.output import emit_json, json_option
from dosing.cli.params import database_url_option


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.group()
def db() -> None:
    """Database setup and migrations (DOSING_DATABASE_URL chooses the database)."""


#: Not the store option (``--database-url``): the schema owner's login, which only migrations use.
_OWNER_URL = click.option(
    "--owner-database-url",
    "owner_url",
    envvar="DOSING_OWNER_DATABASE_URL",
    default=None,
    metavar="URL",
    help="The schema owner's database URL (default: $DOSING_OWNER_DATABASE_URL, else $DOSING_DATABASE_URL). "
    "On PostgreSQL the application's own role cannot migrate.",
)


@db.command()
@_OWNER_URL
@json_option
def upgrade(owner_url: str | None, as_json: bool) -> None:
    """Create the schema or upgrade it to the newest revision (no record is ever dropped)."""
    from dosing.store import open_store

    store = open_store(owner_url)
    result = {"database": _safe_url(store.url), "revision": store.current_revision()}
    if as_json:
        emit_json(result)
    else:
        click.echo(f"{result['database']}: at revision {result['revision']} (head)")


@db.command()
@database_url_option
@json_option
def current(database_url: str | None, as_json: bool) -> None:
    """The database in use and its schema revision, without changing anything."""
    from dosing.store import open_store

    store = open_store(database_url, upgrade=False)
    current_revision = store.current_revision()
    head = store.head_revision()
    result = {
        "database": _safe_url(store.url),
        "revision": current_revision,
        "head": head,
        "up_to_date": current_revision == head,
    }
    if as_json:
        emit_json(result)
        return
    state = "up to date" if current_revision == head else "needs `dosing db upgrade`"
    click.echo(f"{result['database']}: revision {current_revision or 'none'}, head {head} ({state})")


@db.command()
@click.argument("role")
@_OWNER_URL
def grant(role: str, owner_url: str | None) -> None:
    """PostgreSQL: let ROLE (the application's database login) read and insert ledger rows, nothing
    more."""
    from dosing.store import open_store
    from dosing.store.grants import grant_application_role

    statements = grant_application_role(open_store(owner_url), role)
    click.echo(f"granted {role}: {len(statements)} statements (SELECT and INSERT on ledger tables)")
