"""Calendar feeds: the export's calendar at a secret URL, read by ical.js and libical, with ETag/304,
refresh hints, and 404 for a revoked or unknown token; ``dosing feeds`` from the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from calendars.ics import to_ical
from calendars.views import subject_view_events
from dosing.app import feeds, reads
from tests.calendars.conftest import Reader
from tests.web.conftest import World, api_token, log_in

HINTS = re.compile(rb"REFRESH-INTERVAL;VALUE=DURATION:PT15M\r\nX-PUBLISHED-TTL:PT15M\r\n")


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1].removesuffix(".ics")


def test_a_subject_feed_is_the_export_with_refresh_hints_and_etag(
    client: TestClient, world: World, reader: Reader
) -> None:
    headers = api_token(client, "coordinator")
    created = client.post("/api/feeds", json={"scope": "subject", "target": "S-001"}, headers=headers).json()
    assert created["webcal"].startswith("webcal://testserver/feeds/") and created["url"].startswith("http://")
    token = _token(created["url"])
    response = client.get(f"/feeds/{token}.ics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
    body = response.content
    assert HINTS.search(body), "refresh hints in the VCALENDAR header"
    # Exactly the export of the same events once the two hints are taken out.
    view = reads.subject_view(world.ctx("coordinator"), "S-001")
    assert HINTS.sub(b"", body) == to_ical(subject_view_events(view), name="NCT04822922 S-001")
    parsed = reader(body)
    summaries = [event["summary"] for event in parsed["events"]]
    assert any("UC-MSC infusion 2" in summary for summary in summaries)
    assert not any("Nora" in summary or "low" in summary.split() for summary in summaries), "no names, no arm"
    assert client.head(f"/feeds/{token}.ics").headers["etag"] == response.headers["etag"]
    again = client.get(f"/feeds/{token}.ics", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_the_feed_changes_its_etag_when_a_dose_is_recorded(client: TestClient, world: World) -> None:
    new = feeds.create(world.ctx("nurse"), feeds.FeedScope.WARD, "renji-shanghai")
    first = client.get(f"/feeds/{new.token}.ics")
    assert first.status_code == 200 and b"S-002" in first.content
    from dosing.app import ward
    from tests.web.conftest import PASSWORD, SCANNED_BAG

    ward.record_scanned(world.ctx("nurse"), "S-001", 2, "S-001", SCANNED_BAG, world.clock.now(), PASSWORD)
    second = client.get(f"/feeds/{new.token}.ics", headers={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 200 and second.headers["etag"] != first.headers["etag"]


def test_revoked_and_unknown_tokens_get_the_same_404(client: TestClient, world: World) -> None:
    csrf = log_in(client, "nurse")
    page = client.post("/feeds", data={"csrf": csrf, "scope": "ward", "target": "renji-shanghai"})
    assert page.status_code == 200
    https = re.search(r'id="https">([^<]+)<', page.text)
    assert https and re.search(r'id="webcal">webcal://', page.text)
    token = _token(https.group(1))
    assert client.get(f"/feeds/{token}.ics").status_code == 200
    feed_id = feeds.mine(world.ctx("nurse"))[0].id
    refused = client.post(f"/feeds/{feed_id}/revoke", data={})
    assert refused.status_code == 403, "revoking is a form: CSRF-protected"
    assert client.post(f"/feeds/{feed_id}/revoke", data={"csrf": csrf}).status_code == 303
    revoked = client.get(f"/feeds/{token}.ics")
    unknown = client.get("/feeds/" + "x" * 43 + ".ics")
    assert revoked.status_code == unknown.status_code == 404
    assert revoked.content == unknown.content and "etag" not in revoked.headers
    other = feeds.create(world.ctx("coordinator"), feeds.FeedScope.SITE, "renji-shanghai")
    assert client.post(f"/feeds/{other.feed.id}/revoke", data={"csrf": csrf}).status_code == 422, "not yours"


def test_unknown_site_or_subject_is_refused_not_published_empty(client: TestClient) -> None:
    headers = api_token(client, "nurse")
    site = client.post("/api/feeds", json={"scope": "ward", "target": "renji-shanghia"}, headers=headers)
    subject = client.post("/api/feeds", json={"scope": "subject", "target": "S-404"}, headers=headers)
    assert site.status_code == subject.status_code == 422


def test_dosing_feeds_create_list_revoke(tmp_path: Path) -> None:
    from tests.dosing_cli import DosingCLI

    dosing = DosingCLI(tmp_path)
    clock = "2026-12-01T11:00+08:00"
    dosing("enroll", "NCT04822922", "--subject", "S-001", "--weight", "62kg", "--arm", "low", clock=clock)
    created = json.loads(dosing("feeds", "create", "--subject", "S-001", "--json", clock=clock).stdout)
    assert created["webcal"].startswith("webcal://127.0.0.1:8000/feeds/")
    listed = json.loads(dosing("feeds", "list", "--json", clock=clock).stdout)
    assert [(row["id"], row["scope"], row["revoked_at"]) for row in listed] == [
        (created["id"], "subject", None)
    ]
    assert "token" not in json.dumps(listed)
    dosing("feeds", "revoke", str(created["id"]), clock=clock)
    listed = json.loads(dosing("feeds", "list", "--json", clock=clock).stdout)
    assert listed[0]["revoked_at"] is not None
    refused = dosing("feeds", "create", "--ward", "nowhere", ok=False, clock=clock)
    assert refused.returncode == 2 and "error: site: unknown site 'nowhere'" in refused.stderr
