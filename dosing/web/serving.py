"""Serving the web application with uvicorn, one worker or several.

With ``--workers`` > 1, uvicorn's supervisor binds the listening socket itself and leaves its
``proto`` at 0 (uvicorn issue 3149, open in 0.54). Accepted connections inherit it, asyncio then
does not set ``TCP_NODELAY`` on them, Nagle's algorithm stays on, and every keep-alive request after
the first waits for the client's delayed ACK: measured here, an empty application answered in 1 ms
with one worker and in 44 ms with two; every page of ``dosing web --workers 2`` paid the same ~40 ms.
:class:`NoDelayConfig` binds the same socket, marked as TCP.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

APPLICATION = "dosing.web.app:app_from_environment"


class NoDelayConfig(uvicorn.Config):
    """uvicorn's configuration, whose listening TCP socket says it is TCP (so connections get TCP_NODELAY)."""

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto != socket.IPPROTO_TCP:
            return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        return sock


def serve(*, workers: int, **settings: Any) -> None:
    """Serve the application as ``uvicorn.run`` would (``settings`` are uvicorn's), several workers
    included."""
    if workers == 1:
        uvicorn.run(APPLICATION, factory=True, workers=1, **settings)
        return
    config = NoDelayConfig(APPLICATION, factory=True, workers=workers, **settings)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[config.bind_socket()]).run()
