"""Each role's main path in Debian's Chromium, driven by Playwright, against uvicorn on loopback.

Chromium runs headless with no network beyond loopback (the flags below; a fresh profile each time).
Each path saves a screenshot, checked to be a rendered page (not blank). Skipped when Chromium or
Playwright is missing on a workstation; CI installs both (.ci/run), and fails instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import PASSWORD, SCANNED_BAG, World

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
TABLET = {"width": 800, "height": 1100}

pytestmark = pytest.mark.slow


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and /usr/bin/chromium is missing")
        pytest.skip("Debian's chromium is not installed")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=TABLET,
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def _log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _screenshot_is_not_blank(page: Any, path: Path) -> None:
    from PIL import Image, ImageStat

    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as image:
        grey = image.convert("L")
        colours = grey.getcolors(maxcolors=256 * 256)
        spread = ImageStat.Stat(grey).stddev[0]
        width, height = image.size
    assert width >= 600 and height >= 400
    assert colours is None or len(colours) > 8, "a page with text, not one flat colour"
    assert spread > 5, "the screenshot is blank"


def _state_in_row(page: Any, subject: str, dose: int) -> str:
    return str(page.locator(f"#doses tr[data-dose='{dose}'] td.state").inner_text()).strip()


def test_nurse_scans_and_records_a_dose(
    live_server: str, world: World, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    _log_in(page, live_server, "nurse")
    assert page.url.endswith("/ward"), "a nurse lands on the ward"
    row = page.locator("#doses tr[data-subject='S-001'][data-dose='2']")
    assert "window open" in row.inner_text()
    # Another nurse records S-002's dose as not given; Refresh updates the list in place (htmx, served
    # from this origin under the strict content security policy).
    from dosing.app import ward

    ward.skip(world.ctx("nurse"), "S-002", 2, "held", PASSWORD)
    with page.expect_response(lambda response: "/ward?site=" in response.url) as refreshed:
        page.get_by_role("button", name="Refresh").click()
    assert refreshed.value.request.headers.get("hx-request") == "true"
    page.wait_for_function(
        "document.querySelector(\"#doses tr[data-subject='S-002'] td.state\").innerText.includes('skipped')"
    )
    row.get_by_role("link", name="Record or skip").click()
    # A keyboard-wedge scanner types into the focused field and presses Enter; here: type, then Tab.
    page.locator("input[name=scanned_subject]").press_sequentially("S-001")
    page.locator("input[name=bag]").press_sequentially(SCANNED_BAG)
    page.locator("#record input[name=password]").fill(PASSWORD)
    page.locator("#record button[type=submit]").click()
    page.wait_for_load_state()
    assert "recorded S-001 dose 2" in page.locator("p.done").inner_text()
    assert "given" in page.locator("#doses tr[data-subject='S-001'][data-dose='2'] td.state").inner_text()
    _screenshot_is_not_blank(page, tmp_path / "nurse.png")


def test_coordinator_sees_a_dose_given_and_a_missed_dose_appear(
    live_server: str, world: World, browser_page: Any, tmp_path: Path
) -> None:
    from dosing.app import ward

    page = browser_page
    _log_in(page, live_server, "coordinator")
    page.goto(f"{live_server}/coordinator/subjects/S-001")
    assert _state_in_row(page, "S-001", 2) == "window open"
    ward.record_scanned(world.ctx("nurse"), "S-001", 2, "S-001", SCANNED_BAG, world.clock.now(), PASSWORD)
    page.reload()
    assert _state_in_row(page, "S-001", 2) == "given on time"
    assert page.locator("img.plot").evaluate("img => img.complete && img.naturalWidth > 0")
    _screenshot_is_not_blank(page, tmp_path / "subject.png")
    page.goto(f"{live_server}/coordinator?state=missed")
    missed_before = page.locator("#overdue tbody tr").all_inner_texts()
    assert not any("UC-MSC infusion 3" in row for row in missed_before)
    # Dose 3 (2026-12-07, window to 12-08) passes its window with nothing recorded.
    world.clock.set(datetime.fromisoformat("2026-12-09T10:00+08:00"))
    _log_in(page, live_server, "coordinator")  # five idle days ended the session
    page.goto(f"{live_server}/coordinator?state=missed")
    rows = page.locator("#overdue tbody tr").all_inner_texts()
    assert any("S-001" in row and "UC-MSC infusion 3" in row for row in rows), rows
    _screenshot_is_not_blank(page, tmp_path / "coordinator.png")


def test_pharmacist_sees_the_queue_and_prints(
    live_server: str, world: World, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    _log_in(page, live_server, "pharmacist")
    assert page.url.endswith("/pharmacy")
    page.goto(f"{live_server}/pharmacy?site=renji-shanghai&day=2026-12-04&shift=day")
    queue = page.locator("#queue tbody").inner_text()
    assert "S-001" in queue and "G123498654321" in queue
    link = page.get_by_role("link", name="Worksheet").first.get_attribute("href")
    response = page.request.get(f"{live_server}{link}")
    assert response.ok and response.body().startswith(b"%PDF")
    # The container is thawed on the lot register, then the dose's bag prepared and signed in the queue.
    page.goto(f"{live_server}/pharmacy/lots")
    page.get_by_role("button", name="Thawed now").first.click()
    assert "thawed G123498654321 container 1" in page.locator("[role=status]").inner_text()
    page.goto(f"{live_server}/pharmacy?site=renji-shanghai&day=2026-12-04&shift=day")
    prepare = page.locator("form[action='/pharmacy/prepare']").first
    prepare.locator("input[name=password]").fill(PASSWORD)
    prepare.get_by_role("button", name="Sign: prepared").click()
    assert "prepared B0000001 for S-001 dose 2" in page.locator("[role=status]").inner_text()
    assert page.locator("form[action='/pharmacy/verify'] input[name=drawn]").count() == 1
    _screenshot_is_not_blank(page, tmp_path / "pharmacy.png")
    # The pharmacist may not enroll: the coordinator's pages refuse.
    page.goto(f"{live_server}/coordinator/enroll")
    assert "may not enroll" in page.content()
    assert (
        timedelta(0)
        <= world.clock.now() - datetime.fromisoformat("2026-12-04T09:30+08:00")
        < timedelta(hours=1)
    )
