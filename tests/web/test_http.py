"""The web application over HTTP (no browser): sessions, CSRF, roles, headers, pages and errors."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fastapi.testclient import TestClient

from dosing.app import reads
from tests.web.conftest import PASSWORD, SCANNED_BAG, World, api_token, log_in


def _dose_state(world: World, subject: str, sequence: int) -> str:
    view = reads.subject_view(world.ctx("coordinator"), subject)
    return next(d for d in view.doses if d.sequence == sequence).status.state.value


def test_unauthenticated_requests_are_refused(client: TestClient) -> None:
    page = client.get("/ward")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert client.get("/coordinator/overdue.csv").status_code == 303
    api = client.get("/api/me")
    assert api.status_code == 401 and api.json()["error"]["field"] == "session"
    assert client.get("/api/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401


def test_login_sets_a_strict_http_only_cookie_and_headers(client: TestClient) -> None:
    form = client.get("/login")
    csp = form.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert form.headers["x-frame-options"] == "DENY"
    from tests.web.conftest import csrf_of

    response = client.post(
        "/login", data={"username": "nurse", "password": PASSWORD, "csrf": csrf_of(form.text)}
    )
    cookie = response.headers["set-cookie"]
    assert "dosing_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie, "plain http on loopback"
    wrong = client.post("/login", data={"username": "nurse", "password": "wrong password here", "csrf": "x"})
    assert wrong.status_code == 403, "the login form has its own CSRF token"


def test_cookie_is_secure_behind_tls(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="https://ward.example", follow_redirects=False) as secure:
        from tests.web.conftest import csrf_of

        form = secure.get("/login")
        response = secure.post(
            "/login", data={"username": "nurse", "password": PASSWORD, "csrf": csrf_of(form.text)}
        )
        assert "Secure" in response.headers["set-cookie"]
        assert "max-age" in response.headers["strict-transport-security"]


def test_a_form_without_the_sessions_csrf_token_is_refused(client: TestClient, world: World) -> None:
    csrf = log_in(client, "nurse")
    form = {
        "site": "renji-shanghai",
        "subject_code": "S-001",
        "sequence": "2",
        "reason": "held",
        "password": PASSWORD,
    }
    missing = client.post("/ward/skip", data=form)
    assert missing.status_code == 403 and "CSRF" in missing.text
    forged = client.post("/ward/skip", data={**form, "csrf": "0" * 64})
    assert forged.status_code == 403
    assert _dose_state(world, "S-001", 2) == "window_open", "nothing was recorded"
    done = client.post("/ward/skip", data={**form, "csrf": csrf})
    assert done.status_code == 303
    assert _dose_state(world, "S-001", 2) == "skipped"


def test_a_role_is_refused_another_roles_action(client: TestClient, world: World) -> None:
    csrf = log_in(client, "nurse")
    enroll = client.post(
        "/coordinator/enroll",
        data={
            "csrf": csrf,
            "protocol_id": "NCT04822922",
            "subject_code": "S-099",
            "weight": "60kg",
            "arm": "low",
        },
    )
    assert enroll.status_code == 403 and "may not enroll" in enroll.text
    headers = api_token(client, "pharmacist")
    record = client.post(
        "/api/doses/S-001/2/given",
        json={"scanned_subject": "S-001", "bag": SCANNED_BAG, "password": PASSWORD},
        headers=headers,
    )
    assert record.status_code == 403 and record.json()["error"]["field"] == "authority"
    assert _dose_state(world, "S-001", 2) == "window_open"


def test_nurse_records_by_scanning_and_a_wrong_wristband_is_refused(client: TestClient, world: World) -> None:
    csrf = log_in(client, "nurse")
    ward = client.get("/ward?site=renji-shanghai")
    assert ward.status_code == 200 and "S-001" in ward.text and "UC-MSC infusion 2" in ward.text
    form = {
        "csrf": csrf,
        "site": "renji-shanghai",
        "subject_code": "S-001",
        "sequence": "2",
        "bag": SCANNED_BAG,
        "password": PASSWORD,
    }
    wrong = client.post("/ward/record", data={**form, "scanned_subject": "S-002"})
    assert wrong.status_code == 422 and "right patient" in wrong.text
    bad_signature = client.post(
        "/ward/record", data={**form, "scanned_subject": "S-001", "password": "no no no no no"}
    )
    assert bad_signature.status_code == 422
    assert _dose_state(world, "S-001", 2) == "window_open"
    done = client.post("/ward/record", data={**form, "scanned_subject": "S-001"})
    assert done.status_code == 303, done.text
    assert "recorded S-001 dose 2" in client.get(done.headers["location"]).text
    assert "Call" not in client.get("/ward?done=Call+this+number").text, "no words from a crafted link"
    view = reads.subject_view(world.ctx("coordinator"), "S-001")
    given = next(d for d in view.doses if d.sequence == 2).given
    assert given is not None and given.din == "G123498654321" and given.recorded_by == "nurse"


def test_the_session_ends_after_the_idle_timeout(client: TestClient, world: World) -> None:
    log_in(client, "coordinator")
    assert client.get("/coordinator").status_code == 200
    world.clock.set(world.clock.now() + timedelta(minutes=16))
    expired = client.get("/coordinator")
    assert expired.status_code == 303 and expired.headers["location"].startswith("/login")


def test_coordinator_pages_csv_and_swimmer_plot(client: TestClient, world: World) -> None:
    log_in(client, "coordinator")
    overdue = client.get("/coordinator")
    assert "S-001" in overdue.text and "missed" in overdue.text, "dose 1 of S-001 (2026-12-01) was missed"
    csv_text = client.get("/coordinator/overdue.csv?state=missed").text
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("subject_code,protocol_id,site,sequence")
    assert any(line.startswith("S-001,NCT04822922,renji-shanghai,1,") for line in lines[1:])
    plot = client.get("/coordinator/subjects/S-001/swimmer.svg")
    assert plot.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in plot.content and b"missed" in plot.content
    assert "style-src 'unsafe-inline'" in plot.headers["content-security-policy"]
    assert b"<svg" in client.get("/coordinator/study.svg").content
    subject = client.get("/coordinator/subjects/S-001")
    assert subject.status_code == 200 and "swimmer.svg" in subject.text
    audit = client.get("/coordinator/audit?verify=1")
    assert "The audit chain verifies" in audit.text


def test_enrollment_through_the_page_validates_like_the_cli(client: TestClient, world: World) -> None:
    csrf = log_in(client, "coordinator")
    bare = client.post(
        "/coordinator/enroll",
        data={
            "csrf": csrf,
            "protocol_id": "NCT04822922",
            "subject_code": "S-003",
            "weight": "62",
            "arm": "low",
        },
    )
    assert bare.status_code == 422 and "weight" in bare.text, "a bare number never crosses a boundary"
    without_age = client.post(
        "/coordinator/enroll",
        data={
            "csrf": csrf,
            "protocol_id": "NCT04822922",
            "subject_code": "S-003",
            "weight": "62kg",
            "arm": "low",
        },
    )
    assert without_age.status_code == 422 and "age" in without_age.text, "the inclusion inputs are asked for"
    done = client.post(
        "/coordinator/enroll",
        data={
            "csrf": csrf,
            "protocol_id": "NCT04822922",
            "subject_code": "S-003",
            "weight": "62kg",
            "arm": "low",
            "age": "50",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/coordinator/subjects/S-003"


def test_reschedule_preview_then_signed_apply(client: TestClient, world: World) -> None:
    csrf = log_in(client, "coordinator")
    data = {"csrf": csrf, "sequence": "2", "given_on": "2026-12-06"}
    preview = client.post("/coordinator/subjects/S-001/reschedule", data=data)
    assert preview.status_code == 200 and "Reschedule preview" in preview.text
    unsigned = client.post(
        "/coordinator/subjects/S-001/reschedule", data={**data, "apply": "1", "password": ""}
    )
    assert unsigned.status_code == 422
    applied = client.post(
        "/coordinator/subjects/S-001/reschedule", data={**data, "apply": "1", "password": PASSWORD}
    )
    assert applied.status_code == 200 and "Rescheduled" in applied.text


def test_pharmacy_queue_with_worksheet_and_label_pdfs(client: TestClient, world: World) -> None:
    log_in(client, "pharmacist")
    queue = client.get("/pharmacy?site=renji-shanghai&day=2026-12-04&shift=day")
    assert queue.status_code == 200 and "S-001" in queue.text and "G123498654321" in queue.text
    worksheet = client.get("/pharmacy/worksheet/S-001/2.pdf")
    label = client.get("/pharmacy/label/S-001/2.pdf")
    assert worksheet.content.startswith(b"%PDF") and label.content.startswith(b"%PDF")
    assert "G123498654321" in client.get("/pharmacy/lots").text


def test_api_round_trip_with_a_bearer_token(client: TestClient, world: World) -> None:
    nurse = api_token(client, "nurse")
    day = client.get("/api/ward/renji-shanghai", headers=nurse).json()
    assert [(d["subject_code"], d["dose"]["sequence"]) for d in day["doses"]][:1] == [("S-001", 2)]
    recorded = client.post(
        "/api/doses/S-001/2/given",
        json={"scanned_subject": "S-001", "bag": SCANNED_BAG, "password": PASSWORD},
        headers=nurse,
    )
    assert recorded.status_code == 200, recorded.text
    coordinator = api_token(client, "coordinator")
    subject = client.get("/api/subjects/S-001", headers=coordinator).json()
    assert subject["doses"][1]["status"]["state"] == "given_on_time"
    missed = client.get("/api/overdue?state=missed", headers=coordinator).json()
    assert ("S-001", 1) in {(row["subject_code"], row["sequence"]) for row in missed}
    cookie_post = client.post("/api/feeds", json={"scope": "ward", "target": "renji-shanghai"})
    assert cookie_post.status_code == 401


def test_demo_accounts_only_on_an_empty_store(tmp_path, web_clock) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from dosing.app.demo import DEMO_ACCOUNTS, create_demo
    from dosing.errors import DosingError
    from dosing.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'demo.db'}")
    passwords = create_demo(store)
    assert set(passwords) == set(DEMO_ACCOUNTS) and len(set(passwords.values())) == len(passwords)
    from dosing.app import accounts

    _token, nurse = accounts.login(store, "demo-nurse", passwords["demo-nurse"])
    assert {role.value for role in nurse.roles} == {"nurse"}
    with pytest.raises(DosingError):
        create_demo(store)
    store.dispose()


def test_api_cohort_review_is_signed_by_an_investigator(client: TestClient, world: World) -> None:
    nurse = api_token(client, "nurse")
    body = {"cohort": 1, "safe": True, "reviewed_on": "2026-12-04", "password": PASSWORD}
    refused = client.post("/api/cohorts/NCT04822922/reviews", json=body, headers=nurse)
    assert refused.status_code == 403
    coordinator = api_token(client, "coordinator")  # holds the investigator role too
    unsigned = client.post(
        "/api/cohorts/NCT04822922/reviews", json={**body, "password": "not my password"}, headers=coordinator
    )
    assert unsigned.status_code == 422
    lots = client.get("/api/lots", headers=nurse).json()
    assert [lot["identifier"] for lot in lots] == ["G123498654321"]


def test_a_misspelled_api_field_is_refused_not_ignored(client: TestClient, world: World) -> None:
    """{"Arm": "low"} would have enrolled by randomization, {"dose_per_kilo": ...} at a default dose,
    {"scaned_subject": ...} without the bedside check's input: a name the request does not have is
    refused with the name, and nothing is written."""
    coordinator = api_token(client, "coordinator")
    enrollment = {
        "protocol_id": "NCT04822922", "subject_code": "S-009", "weight": "62kg", "site": "renji-shanghai",
        "age": "50", "creatinine": "1.5 mg/dL", "bilirubin": "10 mg/dL", "inr": "1.8", "albumin": "3.0 g/dL",
        "ascites": "mild", "encephalopathy": "none",
    }  # fmt: skip
    refused = client.post("/api/enrollments", json={**enrollment, "Arm": "low"}, headers=coordinator)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "Arm"
    assert "'Arm' is not a field of this request" in refused.json()["error"]["message"]
    assert client.get("/api/subjects/S-009", headers=coordinator).status_code != 200, "nothing enrolled"
    nurse = api_token(client, "nurse")
    given = {"scanned_subject": "S-001", "bag": SCANNED_BAG, "password": PASSWORD}
    typo = client.post(
        "/api/doses/S-001/2/given", json={**given, "started_at_local": "2026-12-04T09:00"}, headers=nurse
    )
    assert typo.status_code == 422 and typo.json()["error"]["field"] == "started_at_local"
    assert _dose_state(world, "S-001", 2) != "given_on_time", "nothing recorded"
    login = client.post("/api/session", json={"username": "nurse", "password": PASSWORD, "otp": "1"})
    assert login.status_code == 422


def _released_bag(world: World, subject: str, sequence: int) -> str:
    """A bag the pharmacy prepared, verified (a second pharmacist) and released for the dose."""
    from decimal import Decimal

    from dosing.app import preparation, stock
    from dosing.units import Volume

    if not stock.lot_stock(world.ctx("pharmacist"), SCANNED_BAG).containers[0].thawed_at:
        stock.thaw(world.ctx("pharmacist"), SCANNED_BAG, 1)
    bag = preparation.prepare(world.ctx("pharmacist"), subject, sequence, PASSWORD)
    drawn = Volume(value=Decimal(bag.preparation.volume_to_draw_ml))
    preparation.verify(world.ctx("checker"), bag.bag_id, drawn, SCANNED_BAG, PASSWORD)
    preparation.release(world.ctx("checker"), bag.bag_id, PASSWORD)
    return bag.bag_id


def test_on_the_ward_page_a_prepared_bag_is_scanned_and_checked_at_the_bedside(
    client: TestClient, world: World
) -> None:
    """The bag number on the pharmacy's label runs the bedside check and marks the bag given; the lot's
    DIN scanned instead is refused while the bag is on the shelf (it would stay there, ready to be given
    again, and another subject's bag of the same lot would pass)."""
    from datetime import datetime

    from dosing.app import preparation

    # The last morning of S-001's dose 2 window (days 4-5), the first of S-002's (anchored a day later).
    world.clock.set(datetime.fromisoformat("2026-12-05T08:30+08:00"))
    mine = _released_bag(world, "S-001", 2)
    theirs = _released_bag(world, "S-002", 2)
    csrf = log_in(client, "nurse")
    ward = client.get("/ward?site=renji-shanghai").text
    # S-001's dose 2 was planned yesterday (2026-12-04); its window is open until today.
    assert "2026-12-04 09:00" in ward and f"{mine} ready</strong>, use by" in ward
    assert f"{theirs} ready" in ward
    form = {
        "csrf": csrf,
        "site": "renji-shanghai",
        "subject_code": "S-001",
        "sequence": "2",
        "scanned_subject": "S-001",
        "password": PASSWORD,
    }
    by_din = client.post("/ward/record", data={**form, "bag": SCANNED_BAG})
    assert by_din.status_code == 422 and f"has bag {mine} (released); scan its label" in by_din.text
    wrong = client.post("/ward/record", data={**form, "bag": theirs})
    assert wrong.status_code == 422 and f"{theirs} is for S-002 dose 2, not S-001 dose 2" in wrong.text
    assert _dose_state(world, "S-001", 2) == "window_open"
    done = client.post("/ward/record", data={**form, "bag": f" {mine.lower()} "})
    assert done.status_code == 303, done.text
    assert preparation.bag(world.ctx("nurse"), mine).state == "administered"
    assert preparation.bag(world.ctx("nurse"), theirs).state == "released"
    view = reads.subject_view(world.ctx("coordinator"), "S-001")
    given = next(d for d in view.doses if d.sequence == 2).given
    assert given is not None and given.din == "G123498654321"
    again = client.post(
        "/api/doses/S-001/2/given",
        json={"scanned_subject": "S-001", "bag": mine, "password": PASSWORD},
        headers=api_token(client, "nurse"),
    )
    assert again.status_code == 422 and again.json()["error"]["field"] == "bag"
    assert reads.verify_audit(world.ctx("admin")).problems == []


def test_a_bag_is_prepared_verified_by_a_second_pharmacist_and_released_on_the_pharmacy_pages(
    client: TestClient, world: World
) -> None:
    from dosing.app import preparation

    queue_url = "/pharmacy?site=renji-shanghai&day=2026-12-04&shift=day"
    back = {"site": "renji-shanghai", "day": "2026-12-04", "shift": "day"}
    csrf = log_in(client, "pharmacist")
    thawed = client.post("/pharmacy/thaw", data={"csrf": csrf, "lot": "G123498654321", "container": "1"})
    assert thawed.status_code == 303, thawed.text
    assert "thawed G123498654321 container 1" in client.get(thawed.headers["location"]).text
    assert "Sign: prepared" in client.get(queue_url).text
    crafted = client.post(
        "/pharmacy/prepare",
        data={**back, "day": "soon", "csrf": csrf, "subject_code": "S-001", "sequence": "2",
              "password": PASSWORD},
    )
    assert crafted.status_code == 422 and "Sign: prepared" in client.get(queue_url).text, "nothing prepared"
    prepared = client.post(
        "/pharmacy/prepare",
        data={**back, "csrf": csrf, "subject_code": "S-001", "sequence": "2", "password": PASSWORD},
    )
    assert prepared.status_code == 303, prepared.text
    shown = client.get(prepared.headers["location"]).text
    assert "prepared B0000001 for S-001 dose 2" in shown
    assert "Figures hidden until bag B0000001 is verified" in shown and "13.1 mL" not in shown
    assert "B0000001 prepared, <span class=\"muted\">not yet released" in client.get("/ward").text
    # 62 kg x 4 x10^5 viable cells/kg / (2 x10^6 cells/mL x 95% viable) = 13.05 mL, drawn as 13.1 mL.
    verify = {**back, "bag_id": "B0000001", "scanned_lot": SCANNED_BAG, "password": PASSWORD}
    own = client.post("/pharmacy/verify", data={**verify, "csrf": csrf, "drawn": "13.1 mL"})
    assert own.status_code == 422, "the pharmacist who prepared a bag does not verify it"

    csrf = log_in(client, "checker")
    for drawn, why in (("131 mL", "a tenfold typo"), ("13.1", "a bare number"), ("13.1 L", "litres")):
        refused = client.post("/pharmacy/verify", data={**verify, "csrf": csrf, "drawn": drawn})
        assert refused.status_code == 422, why
    other_lot = client.post(
        "/pharmacy/verify", data={**verify, "csrf": csrf, "drawn": "13.1 mL", "scanned_lot": "L999"}
    )
    assert other_lot.status_code == 422
    assert preparation.bag(world.ctx("checker"), "B0000001").state == "prepared"
    verified = client.post("/pharmacy/verify", data={**verify, "csrf": csrf, "drawn": "13.1mL"})
    assert verified.status_code == 303, verified.text
    assert "Sign: released to the ward" in client.get(verified.headers["location"]).text
    released = client.post(
        "/pharmacy/release", data={**back, "csrf": csrf, "bag_id": "B0000001", "password": PASSWORD}
    )
    assert released.status_code == 303, released.text
    assert "B0000001</strong> released, use by" in client.get(released.headers["location"]).text
    assert "Call" not in client.get("/pharmacy?done=Call+this+number").text, "no words from a crafted link"

    csrf = log_in(client, "nurse")
    nurse_prepares = client.post(
        "/pharmacy/prepare",
        data={**back, "csrf": csrf, "subject_code": "S-002", "sequence": "2", "password": PASSWORD},
    )
    assert nurse_prepares.status_code == 403
    given = client.post(
        "/ward/record",
        data={
            "csrf": csrf,
            "site": "renji-shanghai",
            "subject_code": "S-001",
            "sequence": "2",
            "scanned_subject": "S-001",
            "bag": "B0000001",
            "password": PASSWORD,
        },
    )
    assert given.status_code == 303, given.text
    assert preparation.bag(world.ctx("nurse"), "B0000001").state == "administered"
    assert reads.verify_audit(world.ctx("admin")).problems == []


def test_the_api_prepares_verifies_and_releases_a_bag_with_the_same_rules(
    client: TestClient, world: World
) -> None:
    pharmacist, checker = api_token(client, "pharmacist"), api_token(client, "checker")
    nurse = api_token(client, "nurse")
    thawed = client.post("/api/lots/G123498654321/containers/1/thawed", headers=pharmacist)
    assert thawed.status_code == 200, thawed.text
    again = client.post("/api/lots/G123498654321/containers/1/thawed", headers=pharmacist)
    assert again.status_code == 422, "a container is thawed once"
    body = {"subject_code": "S-001", "sequence": 2, "password": PASSWORD}
    assert client.post("/api/bags", json=body, headers=nurse).status_code == 403
    misspelled = client.post("/api/bags", json={**body, "Sequence": 3}, headers=pharmacist)
    assert misspelled.status_code == 422
    prepared = client.post("/api/bags", json=body, headers=pharmacist)
    assert prepared.status_code == 200, prepared.text
    bag_id = prepared.json()["bag_id"]
    assert prepared.json()["state"] == "prepared" and "volume" not in prepared.text
    twice = client.post("/api/bags", json=body, headers=pharmacist)
    assert twice.status_code == 422 and f"already has bag {bag_id}" in twice.text
    verify = {"drawn": "13.1 mL", "scanned_lot": SCANNED_BAG, "password": PASSWORD}
    own = client.post(f"/api/bags/{bag_id}/verified", json=verify, headers=pharmacist)
    assert own.status_code == 422
    typo = client.post(f"/api/bags/{bag_id}/verified", json={**verify, "drawn": "1.31 mL"}, headers=checker)
    assert typo.status_code == 422 and typo.json()["error"]["field"] == "drawn volume"
    verified = client.post(f"/api/bags/{bag_id}/verified", json=verify, headers=checker)
    assert verified.status_code == 200 and verified.json()["state"] == "verified", verified.text
    released = client.post(f"/api/bags/{bag_id}/released", json={"password": PASSWORD}, headers=checker)
    assert released.json()["state"] == "released"
    assert client.get(f"/api/bags/{bag_id}", headers=nurse).json()["state"] == "released"
    given = client.post(
        "/api/doses/S-001/2/given",
        json={"scanned_subject": "S-001", "bag": bag_id, "password": PASSWORD},
        headers=nurse,
    )
    assert given.status_code == 200, given.text
    assert client.get(f"/api/bags/{bag_id}", headers=nurse).json()["state"] == "administered"
    assert client.get("/api/bags/B9999999", headers=nurse).status_code in (404, 422)


def test_a_bag_stopped_early_is_recorded_as_the_partial_dose_it_was_on_the_ward_page(
    client: TestClient, world: World
) -> None:
    """The page used to offer the whole dose or nothing: an infusion stopped after a third of the bag
    went into the ledger as the full dose."""
    view = reads.subject_view(world.ctx("coordinator"), "S-001")
    dose = next(d for d in view.doses if d.sequence == 2)
    assert dose.final_volume is not None and dose.ordered_dose is not None
    third = (dose.final_volume.value / 3).quantize(Decimal("0.1"))
    csrf = log_in(client, "nurse")
    form = {
        "csrf": csrf,
        "site": "renji-shanghai",
        "subject_code": "S-001",
        "sequence": "2",
        "scanned_subject": "S-001",
        "bag": SCANNED_BAG,
        "password": PASSWORD,
        "infusion_reaction": "rigors at 20 minutes; infusion stopped",
    }
    unconfirmed = client.post("/ward/record", data={**form, "volume": f"{third} mL"})
    assert unconfirmed.status_code == 422 and "partial" in unconfirmed.text
    tenfold = client.post(
        "/ward/record", data={**form, "volume": f"{dose.final_volume.value * 10} mL", "partial": "true"}
    )
    assert tenfold.status_code == 422
    bare = client.post("/ward/record", data={**form, "volume": str(third), "partial": "true"})
    assert bare.status_code == 422, "a volume without its unit"
    slip = client.post("/ward/record", data={**form, "volume": "0.006 mL", "partial": "true"})
    assert slip.status_code == 422 and "cannot have been measured" in slip.text
    assert _dose_state(world, "S-001", 2) == "window_open"
    done = client.post("/ward/record", data={**form, "volume": f"{third} mL", "partial": "true"})
    assert done.status_code == 303, done.text
    given = next(d for d in reads.subject_view(world.ctx("coordinator"), "S-001").doses if d.sequence == 2)
    assert given.given is not None and given.given.partial
    assert given.given.volume is not None and given.given.volume.value == third
    # Delivered pro rata: the ordered amount times the part of the bag given.
    expected = dose.ordered_dose.value * third / dose.final_volume.value
    assert given.given.amount is not None
    assert abs(given.given.amount.value - expected) <= expected * Decimal("0.001")
    assert given.given.infusion_reaction == "rigors at 20 minutes; infusion stopped"


def test_the_api_records_a_partial_dose_only_when_it_is_confirmed(client: TestClient, world: World) -> None:
    nurse = api_token(client, "nurse")
    body = {"scanned_subject": "S-001", "bag": SCANNED_BAG, "password": PASSWORD, "volume": "5 mL"}
    unconfirmed = client.post("/api/doses/S-001/2/given", json=body, headers=nurse)
    assert unconfirmed.status_code == 422 and "partial" in unconfirmed.text
    unitless = client.post("/api/doses/S-001/2/given", json={**body, "volume": "5"}, headers=nurse)
    assert unitless.status_code == 422 and unitless.json()["error"]["field"] == "volume"
    done = client.post("/api/doses/S-001/2/given", json={**body, "partial": True}, headers=nurse)
    assert done.status_code == 200, done.text
    given = next(d for d in reads.subject_view(world.ctx("nurse"), "S-001").doses if d.sequence == 2).given
    assert given is not None and given.partial and given.volume is not None and given.volume.value == 5


def test_a_record_is_corrected_on_the_ward_page_with_a_reason_and_a_signature(
    client: TestClient, world: World
) -> None:
    csrf = log_in(client, "nurse")
    base = {"csrf": csrf, "site": "renji-shanghai", "subject_code": "S-001", "sequence": "2"}
    recorded = client.post(
        "/ward/record",
        data={**base, "scanned_subject": "S-001", "bag": SCANNED_BAG, "password": PASSWORD},
    )
    assert recorded.status_code == 303, recorded.text
    assert "/ward/dose/S-001/2" in client.get("/ward?site=renji-shanghai").text  # the Correct link
    first = next(d for d in reads.subject_view(world.ctx("nurse"), "S-001").doses if d.sequence == 2)
    assert first.given is not None and first.final_volume is not None
    page = client.get("/ward/dose/S-001/2?site=renji-shanghai").text
    assert "Correct this record" in page and f'name="record_id" value="{first.given.record_id}"' in page
    third = (first.final_volume.value / 3).quantize(Decimal("0.1"))
    correction = {
        **base,
        "record_id": str(first.given.record_id),
        "reason": "infusion stopped at a third of the bag (rigors); recorded as whole in error",
        "volume": f"{third} mL",
        "partial": "yes",
        "password": PASSWORD,
    }
    no_reason = client.post("/ward/correct", data={**correction, "reason": " "})
    assert no_reason.status_code == 422
    for field, odd in (("partial", "maybe"), ("becomes", "given twice")):
        refused = client.post("/ward/correct", data={**correction, field: odd})
        assert refused.status_code == 422 and field in refused.text
    tenfold = client.post("/ward/correct", data={**correction, "volume": f"{third * 100} mL"})
    assert tenfold.status_code == 422
    done = client.post("/ward/correct", data=correction)
    assert done.status_code == 303, done.text
    assert "corrected S-001 dose 2" in client.get(done.headers["location"]).text
    now = next(d for d in reads.subject_view(world.ctx("nurse"), "S-001").doses if d.sequence == 2)
    assert now.given is not None and now.given.partial and now.given.volume is not None
    assert now.given.volume.value == third and now.given.record_id != first.given.record_id
    stale = client.post("/ward/correct", data={**correction, "partial": "no", "volume": ""})
    assert stale.status_code == 422, "the record corrected must still be the dose's effective record"
    void = client.post(
        "/ward/correct",
        data={**correction, "record_id": str(now.given.record_id), "becomes": "void", "volume": ""},
    )
    assert void.status_code == 303, void.text
    assert _dose_state(world, "S-001", 2) == "window_open"
    assert reads.verify_audit(world.ctx("admin")).problems == []


def test_the_api_corrects_a_record_naming_it(client: TestClient, world: World) -> None:
    nurse = api_token(client, "nurse")
    given = {"scanned_subject": "S-001", "bag": SCANNED_BAG, "password": PASSWORD}
    first = client.post("/api/doses/S-001/2/given", json=given, headers=nurse).json()["record_id"]
    body = {"record_id": first, "reason": "given from the wrong bag entry", "password": PASSWORD}
    misspelled = client.post(
        "/api/doses/S-001/2/corrections", json={**body, "Becomes": "void"}, headers=nurse
    )
    assert misspelled.status_code == 422, "a misspelled field is refused, never ignored"
    voided = client.post("/api/doses/S-001/2/corrections", json={**body, "becomes": "void"}, headers=nurse)
    assert voided.status_code == 200, voided.text
    assert _dose_state(world, "S-001", 2) == "window_open"
    again = client.post("/api/doses/S-001/2/corrections", json={**body, "becomes": "void"}, headers=nurse)
    assert again.status_code == 422, "the record corrected is no longer the effective one"
