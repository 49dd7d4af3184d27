"""Prefect's temporary local server for ``dosing flows run`` (and ``dosing demo``), started sooner.

Left to itself, Prefect starts its temporary server only when the first flow runs: the client first
imports Prefect and Prefect's own server package (about 3.5 s here), then starts the server process
(about 4 s more) and waits for it. Each flow run then waits up to one more second at its end for its
heartbeat thread, which sleeps in 1 s steps. Measured on this 2-core machine, a no-op flow run in a
fresh process took 9.4-11 s.

Here the same server process (the command Prefect 3.8's ``SubprocessASGIServer`` runs: uvicorn with
``prefect.server.api.server:create_app``, the UI off, ephemeral mode) starts first, before Prefect is
even imported, so that the client's imports and the store's sign-in run while it starts; the client
then talks to it through ``PREFECT_API_URL`` and never imports the server package. Heartbeats, which
let a long-lived server mark a crashed run of a worker, are off for these runs: the server lives and
dies with this process, so nobody would read them. The same no-op run: 4.7-4.8 s
(``benchmarks/bench_flows.py`` prints the figure).

The server's database is Prefect's own (``$PREFECT_HOME``, migrated on first use); the server is
stopped when the run ends, is interrupted, or the process exits.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: uvicorn exits with 3 when it cannot start, e.g. when its port was taken between choosing it and
#: binding it: another port is tried, twice at most (a server that cannot start at all is refused).
_STARTUP_FAILURE = 3
_RESTARTS = 2
_DEFAULT_STARTUP_SECONDS = 120.0


class LocalServerError(RuntimeError):
    """The temporary server did not start."""


class LocalServer:
    """One temporary Prefect server process on a free loopback port."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> LocalServer:
        """Start the server process and return at once (``wait_until_ready`` waits for it); sets
        ``PREFECT_API_URL`` to its address for this process."""
        self.port = _free_port()
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn",
                "--app-dir", str(_prefect_parent()),
                "--factory", "prefect.server.api.server:create_app",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--log-level", "error", "--lifespan", "on",
            ],
            env={**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                 "PREFECT__SERVER_FINAL": "1"},
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        # Prefect reads its settings when it is first imported: the address must be known by then.
        os.environ["PREFECT_API_URL"] = self.api_url
        atexit.register(self.stop)
        return self

    def wait_until_ready(self, timeout: float | None = None) -> None:
        """Wait until the server answers its health check (at most
        ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``, 120 s by default); a server that exits
        first is started again on another port (twice at most) if it could not start, else refused."""
        limit = timeout if timeout is not None else _startup_seconds()
        deadline = time.monotonic() + limit
        restarts = 0
        while time.monotonic() < deadline:
            assert self.process is not None, "start() first"
            code = self.process.poll()
            if code == _STARTUP_FAILURE and restarts < _RESTARTS:
                restarts += 1
                self.start()
                continue
            if code is not None:
                self.process = None
                raise LocalServerError(
                    f"Prefect's temporary server exited with status {code}"
                    + (f" ({restarts + 1} tries)" if restarts else "")
                    + "; run with --verbose to see why"
                )
            if _healthy(self.api_url):
                return
            time.sleep(0.05)
        self.stop()
        raise LocalServerError(f"Prefect's temporary server did not answer within {limit:g} s")

    def stop(self) -> None:
        """Stop the server (at most 5 s for it to end, then killed); stopping twice is harmless."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def local_run_settings(server: LocalServer) -> Iterator[None]:
    """Flow runs against ``server`` without the heartbeat thread (each run would wait up to 1 s for
    it at its end)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(
        updates={PREFECT_API_URL: server.api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    ):
        yield


def _prefect_parent() -> Path:
    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        raise LocalServerError("Prefect is not installed")
    return Path(spec.origin).parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _startup_seconds() -> float:
    text = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "")
    try:
        return max(float(text), 1.0)
    except ValueError:
        return _DEFAULT_STARTUP_SECONDS
