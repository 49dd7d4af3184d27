"""The fixed start of a local flow run: a fresh process that runs one no-op flow on a temporary server.

    python benchmarks/bench_flow_start.py [--runs 5]

Two ways, each in its own fresh Python process, alternated, with the same (already migrated)
``PREFECT_HOME``:

- prefect:  what Prefect does left to itself (and ``dosing flows run`` did before): the first flow
            call imports Prefect and its server package, starts the temporary server, waits for it;
            the run waits for its heartbeat thread at the end;
- dosing:   ``flows.local_server`` (what ``dosing flows run`` and ``dosing demo`` do now): the
            server process starts before Prefect is imported, the client never imports the server
            package, and runs have no heartbeat thread.

Prints the median wall time of each (process start to exit) and their ratio, with the load
average; also once the first start on a fresh ``PREFECT_HOME`` (Prefect migrates its database).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PREFECT_WAY = """
from dosing.cli.flows import prepare_prefect_environment
prepare_prefect_environment()
from prefect import flow

@flow(persist_result=False)
def no_op() -> int:
    return 1

assert no_op() == 1
"""

DOSING_WAY = """
from dosing.cli.flows import prepare_prefect_environment
prepare_prefect_environment()
from flows.local_server import LocalServer, local_run_settings
server = LocalServer().start()
from prefect import flow

@flow(persist_result=False)
def no_op() -> int:
    return 1

server.wait_until_ready()
with local_run_settings(server):
    assert no_op() == 1
"""


def run(script: str, home: Path) -> float:
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=ROOT, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "prefect-home"
        fresh = run(DOSING_WAY, home)  # also migrates the home both ways then share
        times: dict[str, list[float]] = {"prefect": [], "dosing": []}
        for _ in range(args.runs):
            times["prefect"].append(run(PREFECT_WAY, home))
            times["dosing"].append(run(DOSING_WAY, home))
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"fixed start of a local flow run: one no-op flow in a fresh process, median of {args.runs}")
    print(f"  (load average {load}; PREFECT_HOME already migrated)")
    prefect, dosing = (statistics.median(times[way]) for way in ("prefect", "dosing"))
    print(f"  Prefect's own temporary server, heartbeats on     {prefect:6.2f} s")
    print(f"  flows.local_server (dosing flows run, dosing demo) {dosing:6.2f} s")
    print(f"  ratio dosing / prefect                            {dosing / prefect:6.2f}")
    print(f"  first start on a fresh PREFECT_HOME (migrations)  {fresh:6.2f} s")


if __name__ == "__main__":
    main()
