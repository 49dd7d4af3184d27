"""``dosing web --workers N``: connections accepted on the supervisor's socket get TCP_NODELAY.

uvicorn binds that socket with ``proto`` 0 (uvicorn issue 3149); asyncio sets TCP_NODELAY only on
sockets that say they are TCP, so every keep-alive request after the first waited ~40 ms for the
client's delayed ACK. Checked here on the accepted socket itself, not by timing.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import sys
from pathlib import Path

import pytest
import uvicorn

from dosing.web.serving import APPLICATION, NoDelayConfig


async def _accepted_no_delay(listening: socket.socket) -> int:
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Report(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Report, sock=listening)
    port = listening.getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(seen, timeout=10)
    finally:
        writer.close()
        server.close()


@pytest.mark.parametrize(
    ("config_class", "no_delay"),
    [(NoDelayConfig, True), (uvicorn.Config, False)],  # uvicorn's own: the bug this works around
    ids=["dosing", "uvicorn"],
)
def test_connections_on_the_workers_socket_get_tcp_nodelay(config_class: type, no_delay: bool) -> None:
    config = config_class(APPLICATION, factory=True, host="127.0.0.1", port=0, workers=2)
    listening = config.bind_socket()
    assert (listening.proto == socket.IPPROTO_TCP) is no_delay
    assert bool(asyncio.run(_accepted_no_delay(listening))) is no_delay


def test_a_worker_keeps_what_it_built_at_start_up_out_of_the_collectors_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Full collections walked everything a worker had built (130-160 ms each, every 15-30 requests).
    monkeypatch.setenv("DOSING_DATABASE_URL", f"sqlite:///{tmp_path / 'd.db'}")
    from dosing.web.app import app_from_environment

    gc.unfreeze()
    try:
        app_from_environment()
        assert gc.get_freeze_count() > 100_000  # modules, routes, templates, models: not collected again
        assert "matplotlib" in sys.modules  # the plots' library, loaded before the freeze
    finally:
        gc.unfreeze()
