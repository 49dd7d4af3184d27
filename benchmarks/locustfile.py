"""Locust users for ``benchmarks/bench_web.py``: people at ward tablets and coordinators' desks.

Each user logs in once through the API (``POST /api/session``; a bearer token, as a script or the
ward's tablet app would hold), then, with a think time of 1-3 s between clicks, opens the ward's day,
a subject's page with its swimmer plot, the coordinator's overdue list, and reads the same through the
JSON API. Requests are named ``page`` or ``api`` so that Locust's statistics give the p50/p95 of each.

Read from the environment (bench_web.py sets them): ``BENCH_PASSWORD``, ``BENCH_SITE`` and
``BENCH_SUBJECTS`` (comma-separated subject codes).
"""

from __future__ import annotations

import itertools
import os

from locust import HttpUser, between, task

SITE = os.environ.get("BENCH_SITE", "rigld-tehran")
SUBJECTS = os.environ.get("BENCH_SUBJECTS", "B-0001").split(",")
_numbers = itertools.count()


class ClinicalUser(HttpUser):
    wait_time = between(1, 3)

    def on_start(self) -> None:
        response = self.client.post(
            "/api/session",
            json={"username": "bench", "password": os.environ["BENCH_PASSWORD"]},
            name="login",
        )
        response.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {response.json()['token']}"
        self.subject = SUBJECTS[next(_numbers) % len(SUBJECTS)]

    @task(3)
    def ward_page(self) -> None:
        self.client.get(f"/ward?site={SITE}", name="page")

    @task(2)
    def subject_page(self) -> None:
        self.client.get(f"/coordinator/subjects/{self.subject}", name="page")

    @task(1)
    def coordinator_page(self) -> None:
        self.client.get("/coordinator", name="page")

    @task(3)
    def ward_api(self) -> None:
        self.client.get(f"/api/ward/{SITE}", name="api")

    @task(2)
    def subject_api(self) -> None:
        self.client.get(f"/api/subjects/{self.subject}", name="api")

    @task(1)
    def overdue_api(self) -> None:
        self.client.get("/api/overdue", name="api")
