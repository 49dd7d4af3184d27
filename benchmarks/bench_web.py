"""Page and API response times of ``dosing web`` on PostgreSQL: one user alone, then 50 Locust users.

    .venv/bin/pip install -e ".[dev,bench]"        # Locust (the load tool), once
    python benchmarks/bench_web.py [--users 50] [--seconds 60] [--requests 120] [--subjects 60] [--workers 2]

Creates a schema in the ``test`` database on 127.0.0.1:5432 (dropped afterwards), enrolls
``--subjects`` subjects (NCT05871463, anchors spread over the coming weeks), starts ``dosing web``
with ``--workers`` uvicorn workers, then measures:

- one user alone, clicking without pause (httpx, ``--requests`` requests after each page was opened
  twice): the time a page or an API read takes to render, once warm;
- ``--users`` concurrent Locust users (``benchmarks/locustfile.py``: ward, subject and coordinator pages
  and the same reads through ``/api``, 1-3 s of think time between clicks, as people at tablets and
  desks) for ``--seconds`` after all have started; Locust runs on the same 2 cores as the server.

Prints p50/p95 for pages and API in both, and the page p95 against the issue's 100 ms target, with the
load average (figures from a loaded machine say so).
"""

from __future__ import annotations

import argparse
import csv
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("DOSING_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "a long load-test password"
SITE = "rigld-tehran"
FLOOR_MS = 100.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(url: str, subjects: int) -> list[str]:
    from dosing.app import accounts
    from dosing.app.context import Context
    from dosing.app.enrollment_entry import enroll_typed
    from dosing.store import open_store

    store = open_store(url)
    admin = accounts.bootstrap_admin(store, "admin", "Bench Admin", "admin", PASSWORD)
    bench = accounts.add_user(Context(store, admin), "bench", "Bench User", "nurse,coordinator", PASSWORD)
    ctx = Context(store, bench)
    codes = []
    for number in range(1, subjects + 1):
        code = f"B-{number:04d}"
        # Anchors from three weeks ago to three weeks ahead: some doses given late or missed, some today.
        anchor = date.today() + timedelta(days=(number % 42) - 21)
        enroll_typed(
            ctx, protocol_id="NCT05871463", subject_code=code, weight="70kg", anchor=anchor.isoformat(),
            # The inclusion inputs NCT05871463 asks for (age; Child-Pugh class B: 9 points).
            age="50", bilirubin="2.5 mg/dL", albumin="3.0 g/dL", inr="1.8",
            ascites="mild", encephalopathy="none",
        )  # fmt: skip
        codes.append(code)
    store.dispose()
    return codes


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


PATHS = [
    ("page", f"/ward?site={SITE}"),
    ("api", f"/api/ward/{SITE}"),
    ("page", "/coordinator/subjects/{code}"),
    ("api", "/api/subjects/{code}"),
    ("page", "/coordinator"),
    ("api", "/api/overdue"),
]


def one_user(base: str, requests: int, codes: list[str]) -> dict[str, list[float]]:
    """One user alone, clicking without pause: each figure is a page's (or a read's) time to render."""
    timings: dict[str, list[float]] = {"page": [], "api": []}
    with httpx.Client(base_url=base, timeout=60) as client:
        response = client.post("/api/session", json={"username": "bench", "password": PASSWORD})
        response.raise_for_status()
        client.headers["Authorization"] = f"Bearer {response.json()['token']}"
        for number in range(len(PATHS) * 2 + requests):
            kind, path = PATHS[number % len(PATHS)]
            path = path.format(code=codes[number % len(codes)])
            started = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
            if number >= len(PATHS) * 2:  # each path twice first, on each worker: warm-up, not counted
                timings[kind].append(elapsed)
    return timings


def report(label: str, timings: dict[str, list[float]]) -> float:
    for kind in ("page", "api"):
        values = timings[kind]
        print(
            f"{label:30} {kind:4}  n={len(values):5}  p50 {percentile(values, 0.5):7.1f} ms  "
            f"p95 {percentile(values, 0.95):7.1f} ms  mean {statistics.fmean(values):7.1f} ms"
        )
    return percentile(timings["page"], 0.95)


def locust_users(
    base: str, users: int, seconds: int, codes: list[str], scratch: Path
) -> dict[str, dict[str, str]]:
    """``users`` Locust users (1-3 s think time) for ``seconds``, after a warm-up: Locust's own statistics
    by request name (``page``, ``api``, ``login``)."""
    locust = Path(sys.executable).parent / "locust"
    if not locust.exists():
        raise SystemExit('bench_web.py needs Locust: .venv/bin/pip install -e ".[dev,bench]"')
    env = {
        **os.environ, "BENCH_PASSWORD": PASSWORD, "BENCH_SITE": SITE, "BENCH_SUBJECTS": ",".join(codes),
    }  # fmt: skip
    prefix = scratch / "locust"
    subprocess.run(
        [
            str(locust), "-f", str(Path(__file__).with_name("locustfile.py")), "--headless",
            "--host", base, "--users", str(users), "--spawn-rate", str(max(1, users // 5)),
            "--run-time", f"{seconds}s", "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
            "--reset-stats",  # statistics from the moment every user has spawned (warm), not before
        ],
        env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with (scratch / "locust_stats.csv").open(newline="") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def report_locust(label: str, stats: dict[str, dict[str, str]]) -> float:
    for kind in ("page", "api"):
        row = stats[kind]
        print(
            f"{label:30} {kind:4}  n={int(row['Request Count']):5}  p50 {float(row['50%']):7.1f} ms  "
            f"p95 {float(row['95%']):7.1f} ms  mean {float(row['Average Response Time']):7.1f} ms  "
            f"{float(row['Requests/s']):5.1f} req/s  failures {row['Failure Count']}"
        )
    return float(stats["page"]["95%"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--requests", type=int, default=120, help="requests of the user alone")
    parser.add_argument("--seconds", type=int, default=60, help="how long the Locust users run")
    parser.add_argument("--subjects", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    schema = f"bench_web_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
    server = None
    try:
        started = time.perf_counter()
        codes = seed(url, args.subjects)
        print(f"seeded {len(codes)} subjects in {time.perf_counter() - started:.1f} s (schema {schema})")
        port = _free_port()
        env = {**os.environ, "DOSING_DATABASE_URL": url, "DO_NOT_TRACK": "1"}
        dosing = str(Path(sys.executable).parent / "dosing")
        server = subprocess.Popen(
            [dosing, "web", "--port", str(port), "--workers", str(args.workers)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("dosing web did not start")
            time.sleep(0.3)
        print(f"dosing web: {args.workers} workers on PostgreSQL")
        alone = one_user(base, args.requests, codes)
        single_p95 = report("1 user alone (render time)", alone)
        with tempfile.TemporaryDirectory() as scratch:
            crowd = locust_users(base, args.users, args.seconds, codes, Path(scratch))
        crowd_p95 = report_locust(f"{args.users} users, 1-3 s think time", crowd)
        load = " ".join(f"{value:.2f}" for value in os.getloadavg())
        print(
            f"page p95 / {FLOOR_MS:.0f} ms target: alone {single_p95 / FLOOR_MS:.2f}, "
            f"{args.users} users {crowd_p95 / FLOOR_MS:.2f}  (load average {load})"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
