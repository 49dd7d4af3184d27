"""Page and API response times of ``dosing web`` on PostgreSQL: 50 concurrent users on loopback.

    python benchmarks/bench_web.py [--users 50] [--requests 30] [--subjects 60] [--workers 2]

Creates a schema in the ``test`` database on 127.0.0.1:5432 (dropped afterwards), enrolls
``--subjects`` subjects (NCT05871463, anchors spread over the coming weeks), starts ``dosing web``
with ``--workers`` uvicorn workers, logs ``--users`` sessions in, and drives them with httpx (asyncio,
a bounded number of requests each): ward and coordinator pages, and the same reads through the API.
Prints p50/p95 for pages and API, first one user alone (the render time), then all users at once
(with queueing on this machine's cores, the load generator included), and the ratio of the single-user
page p95 to the 100 ms floor of the issue.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
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
#: The inputs of the inclusion criteria, given at enrollment (an eligible adult).
ELIGIBILITY = {
    "age": "50", "creatinine": "1.5 mg/dL", "bilirubin": "10 mg/dL", "inr": "1.8", "albumin": "3.0 g/dL",
    "ascites": "mild", "encephalopathy": "none",
}  # fmt: skip


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
            ctx,
            protocol_id="NCT05871463",
            subject_code=code,
            weight="70kg",
            anchor=anchor.isoformat(),
            **ELIGIBILITY,
        )
        codes.append(code)
    store.dispose()
    return codes


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run_users(base: str, users: int, requests: int, codes: list[str]) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"page": [], "api": []}
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        tokens = []
        for _ in range(users):
            response = await client.post("/api/session", json={"username": "bench", "password": PASSWORD})
            response.raise_for_status()
            tokens.append(response.json()["token"])

        async def user(index: int) -> None:
            headers = {"Authorization": f"Bearer {tokens[index]}"}
            code = codes[index % len(codes)]
            paths = [
                ("page", f"/ward?site={SITE}"),
                ("api", f"/api/ward/{SITE}"),
                ("page", f"/coordinator/subjects/{code}"),
                ("api", f"/api/subjects/{code}"),
                ("page", "/coordinator"),
                ("api", "/api/overdue"),
            ]
            for warm in paths[:2]:  # warm-up, not counted
                await client.get(warm[1], headers=headers)
            for number in range(requests):
                kind, path = paths[(number + index) % len(paths)]
                started = time.perf_counter()
                response = await client.get(path, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
                timings[kind].append(elapsed)

        await asyncio.gather(*(user(index) for index in range(users)))
    return timings


def report(label: str, timings: dict[str, list[float]]) -> float:
    for kind in ("page", "api"):
        values = timings[kind]
        print(
            f"{label:28} {kind:4}  n={len(values):5}  p50 {percentile(values, 0.5):7.1f} ms  "
            f"p95 {percentile(values, 0.95):7.1f} ms  mean {statistics.fmean(values):7.1f} ms"
        )
    return percentile(timings["page"], 0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--requests", type=int, default=30, help="requests per user")
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
        print(
            f"dosing web: {args.workers} workers on PostgreSQL; {args.users} users x {args.requests} requests"
        )
        alone = asyncio.run(run_users(base, 1, 60, codes))
        single_p95 = report("1 user (render time)", alone)
        crowd = asyncio.run(run_users(base, args.users, args.requests, codes))
        report(f"{args.users} concurrent users", crowd)
        print(f"page p95 alone / {FLOOR_MS:.0f} ms floor: {single_p95 / FLOOR_MS:.2f}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
