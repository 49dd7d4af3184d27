"""The JSON API against its own OpenAPI document (schemathesis): no input, however odd, is a server error.

Bounded: a few examples per operation, as the coordinator (who may do most), so that it runs in CI.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.web.conftest import PASSWORD


@pytest.fixture
def coordinator_headers(app: Any) -> dict[str, str]:
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        token = client.post("/api/session", json={"username": "coordinator", "password": PASSWORD}).json()[
            "token"
        ]
    return {"Authorization": f"Bearer {token}"}


def test_no_request_is_a_server_error(app: Any, coordinator_headers: dict[str, str]) -> None:
    # schemathesis' pytest fixture loader does not run under pytest 9 here: drive hypothesis directly,
    # one bounded property per operation of the document.
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        if operation.path == "/api/session" and operation.method.upper() == "DELETE":
            continue  # logging out would end the session every other example uses

        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case: Any) -> None:
            case.call_and_validate(headers=coordinator_headers, checks=[not_a_server_error])

        no_server_error()


def test_the_document_describes_the_use_cases(app: Any) -> None:
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        document = client.get("/api/openapi.json").json()
    paths = set(document["paths"])
    for expected in (
        "/api/session",
        "/api/ward/{site}",
        "/api/doses/{subject_code}/{sequence}/given",
        "/api/overdue",
        "/api/enrollments",
        "/api/feeds",
        "/api/audit/verify",
    ):
        assert expected in paths
    assert not any(path.startswith(("/ward", "/coordinator", "/feeds/")) for path in paths), (
        "pages are not API"
    )
