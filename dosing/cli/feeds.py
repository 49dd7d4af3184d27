"""``dosing feeds``: calendar subscription URLs (a secret token each) for a ward, a site or a subject.

    dosing feeds create --ward renji-shanghai      # prints the https:// and webcal:// URLs, once
    dosing feeds list
    dosing feeds revoke 3                          # the URL answers 404 from now on
    dosing feeds revoke 3 --regenerate             # and a new URL for the same calendar

The token is shown only when created: the store keeps its hash. The URLs use the web application's
public address, ``DOSING_WEB_URL`` (default http://127.0.0.1:8000).
"""

from __future__ import annotations

import os

import click

from dosing.cli.output import emit_json, json_option, table
from dosing.cli.params import database_url_option, known_site, site_option


def _base_url(given: str | None) -> str:
    return given or os.environ.get("DOSING_WEB_URL") or "http://127.0.0.1:8000"


def _show_new(new: object, base_url: str, as_json: bool) -> None:
    from dosing.app.feeds import NewFeed, urls

    assert isinstance(new, NewFeed)
    https, webcal = urls(base_url, new.token)
    if as_json:
        emit_json(
            {
                "id": new.feed.id,
                "scope": new.feed.scope,
                "target": new.feed.target,
                "url": https,
                "webcal": webcal,
            }
        )
        return
    click.echo(f"feed {new.feed.id}: {new.feed.scope} {new.feed.target}")
    click.echo(f"  subscribe: {webcal}")
    click.echo(f"  or:        {https}")
    click.echo(
        f"The URL is a secret: it is shown only now. Revoke it with: dosing feeds revoke {new.feed.id}"
    )


@click.group()
def feeds() -> None:
    """Calendar subscription URLs (create, list, revoke)."""


@feeds.command("create")
@click.option(
    "--ward", "ward", metavar="SITE", callback=known_site,
    help="A ward's calendar: the site's doses, yesterday to 4 weeks on.",
)  # fmt: skip
@site_option("Every dose of every subject at the site, all dates.")
@click.option("--subject", "subject", metavar="CODE", help="One subject's doses and checks.")
@click.option(
    "--base-url", metavar="URL",
    help="The web application's public address in the links (default: $DOSING_WEB_URL, else "
    "http://127.0.0.1:8000).",
)  # fmt: skip
@database_url_option
@json_option
def create_command(
    ward: str | None,
    site: str | None,
    subject: str | None,
    base_url: str | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """A new subscription URL for you (exactly one of --ward, --site, --subject)."""
    from dosing.app import feeds as use_case
    from dosing.cli.session import signed_in
    from dosing.errors import DosingError
    from dosing.store import open_store

    chosen = [
        (scope, value) for scope, value in (("ward", ward), ("site", site), ("subject", subject)) if value
    ]
    if len(chosen) != 1:
        raise DosingError("scope", "exactly one of --ward, --site, --subject", f"{len(chosen)} given")
    ctx = signed_in(open_store(database_url), "read_ledger")
    scope, target = chosen[0]
    _show_new(use_case.create(ctx, use_case.parse_scope(scope), target), _base_url(base_url), as_json)


@feeds.command("list")
@database_url_option
@json_option
def list_command(database_url: str | None, as_json: bool) -> None:
    """Your feeds (tokens are not shown: only their hashes are kept)."""
    from dosing.app import feeds as use_case
    from dosing.cli.session import signed_in
    from dosing.store import open_store

    rows = use_case.mine(signed_in(open_store(database_url), "read_ledger"))
    if as_json:
        emit_json(
            [
                {
                    "id": r.id,
                    "scope": r.scope,
                    "target": r.target,
                    "created_at": r.created_at.isoformat(),
                    "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
                }
                for r in rows
            ]
        )
        return
    click.echo(
        table(
            ["id", "scope", "target", "created", "revoked"],
            [
                (
                    r.id,
                    r.scope,
                    r.target,
                    r.created_at.isoformat(timespec="seconds"),
                    r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "",
                )
                for r in rows
            ],
        )
    )


@feeds.command("revoke")
@click.argument("feed_id", type=int)
@click.option("--regenerate", is_flag=True, help="Create a new URL for the same calendar.")
@click.option(
    "--base-url", metavar="URL",
    help="The web application's public address in the links (default: $DOSING_WEB_URL, else "
    "http://127.0.0.1:8000).",
)  # fmt: skip
@database_url_option
@json_option
def revoke_command(
    feed_id: int, regenerate: bool, base_url: str | None, database_url: str | None, as_json: bool
) -> None:
    """Revoke your feed FEED_ID (its number in dosing feeds list): its URL answers 404 from now on."""
    from dosing.app import feeds as use_case
    from dosing.cli.session import signed_in
    from dosing.store import open_store

    ctx = signed_in(open_store(database_url), "read_ledger")
    if regenerate:
        _show_new(use_case.regenerate(ctx, feed_id), _base_url(base_url), as_json)
        return
    row = use_case.revoke(ctx, feed_id)
    if as_json:
        emit_json({"id": row.id, "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None})
        return
    click.echo(f"revoked feed {row.id} ({row.scope} {row.target})")
