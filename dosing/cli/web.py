"""``dosing web``: serve the web application (pages for each role, calendar feeds, the JSON API).

    dosing web --demo                      # embedded SQLite store, demo accounts printed once
    dosing web --host 127.0.0.1 --port 8000 --workers 4 --proxy-headers   # at a site, behind TLS

The store is ``--database-url`` or ``DOSING_DATABASE_URL`` (default: the per-user SQLite file).
Behind a reverse proxy that terminates TLS, pass ``--proxy-headers`` (and ``--forwarded-allow-ips``
for the proxy's address) so that the session cookie is marked Secure; or set ``DOSING_WEB_SECURE=1``.
"""

from __future__ import annotations

import os

import click

from dosing.cli.params import database_url_option


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port to listen on."
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--proxy-headers", is_flag=True, help="Trust X-Forwarded-* from the reverse proxy (TLS).")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True, help="The proxy's addresses.")
@click.option(
    "--demo", is_flag=True, help="On an empty store: create demo accounts (passwords printed) and data."
)
@database_url_option
def web(
    host: str,
    port: int,
    workers: int,
    proxy_headers: bool,
    forwarded_allow_ips: str,
    demo: bool,
    database_url: str | None,
) -> None:
    """Serve the web application (ward, pharmacy, coordinator pages, calendar feeds, /api)."""
    import socket

    from dosing.errors import DosingError

    # Checked before the store is opened and the server starts: uvicorn would fail after the banner.
    rule = "an address of this machine to listen on, e.g. 127.0.0.1 or 0.0.0.0"
    if not host.strip():
        raise DosingError("host", rule, "no address given")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise DosingError("host", rule, f"{host!r} is not an address ({error})") from error

    from dosing.store import open_store

    if database_url:
        # The application (and each worker process) reads the store's URL from its environment.
        os.environ["DOSING_DATABASE_URL"] = database_url
    store = open_store(database_url)
    if demo:
        from dosing.app.accounts import needs_bootstrap
        from dosing.app.demo import create_demo

        if needs_bootstrap(store):
            passwords = create_demo(store)
            click.echo("Demo accounts (passwords shown once):")
            for username, password in passwords.items():
                click.echo(f"  {username:12} {password}")
        else:
            click.echo("The store already has accounts: no demo accounts created.")
    store.dispose()
    click.echo(f"Serving on http://{host}:{port}/ (store {store.url.split('@')[-1]})")
    from dosing.web.serving import serve

    serve(
        host=host,
        port=port,
        workers=workers,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level="info",
    )
