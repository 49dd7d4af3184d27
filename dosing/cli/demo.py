"""``dosing demo``: the quick start on a fresh machine: demo accounts on an empty store, then the
example roster enrolled through the Prefect flow as the demo coordinator.

The accounts get random passwords, printed once (write them down to log in as each role). On a store
that already has accounts no account is made: the roster runs as the person logged in.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from dosing.cli.params import database_url_option

#: username -> (printed name, roles)
DEMO_ACCOUNTS = {
    "demo-admin": ("Demo Admin", "admin"),
    "demo-coordinator": ("Demo Coordinator", "coordinator,investigator"),
    "demo-nurse": ("Demo Nurse", "nurse"),
    "demo-pharmacist": ("Demo Pharmacist", "pharmacist"),
    "demo-checker": ("Demo Checker", "pharmacist"),
    "demo-data": ("Demo Data Manager", "data-manager"),
}


@click.command()
@click.argument(
    "roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("examples/roster.csv"),
)
@click.option(
    "--calendars", "calendar_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Also write each subject's and each site's .ics into this folder.",
)  # fmt: skip
@database_url_option
@click.pass_context
def demo(ctx: click.Context, roster: Path, calendar_dir: Path | None, database_url: str | None) -> None:
    """Demo accounts on an empty store (passwords printed once), then enroll ROSTER (a CSV file; default
    examples/roster.csv) as the coordinator."""
    from dosing.app import accounts
    from dosing.app.context import Context
    from dosing.cli.flows import enroll_roster_command
    from dosing.cli.params import ledger_store
    from dosing.cli.session import save_token

    store = ledger_store(database_url)
    if accounts.needs_bootstrap(store):
        passwords = {username: secrets.token_urlsafe(12) for username in DEMO_ACCOUNTS}
        name, roles = DEMO_ACCOUNTS["demo-admin"]
        admin = accounts.bootstrap_admin(store, "demo-admin", name, roles, passwords["demo-admin"])
        as_admin = Context(store=store, actor=admin)
        for username, (name, roles) in DEMO_ACCOUNTS.items():
            if username != "demo-admin":
                accounts.add_user(as_admin, username, name, roles, passwords[username])
        click.echo("demo accounts (passwords shown once; log in with `dosing login USERNAME`):")
        for username, (_name, roles) in DEMO_ACCOUNTS.items():
            click.echo(f"  {username:<17} {passwords[username]}  {roles}")
        token, actor = accounts.login(store, "demo-coordinator", passwords["demo-coordinator"])
        save_token(actor.username, token, store.url)
        click.echo(f"logged in as {actor.describe()}")
    ctx.invoke(
        enroll_roster_command, roster=roster, database_url=database_url, calendar_dir=calendar_dir,
        batch_size=500, allow_pounds=False, verbose=False, as_json=False,
    )  # fmt: skip
