"""The audit page in Chromium: reached from the navigation, filtered by user with the form.

Saves a screenshot under ``test-artifacts/screenshots``.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.services.browser import screenshot
from tests.services.server import ServerProcess
from tests.ui.test_audit_pages import SeededAudit, seed_audit

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def seeded(ui_server: ServerProcess) -> SeededAudit:
    return seed_audit(ui_server)


def test_filter_the_trail_by_user(page: Page, seeded: SeededAudit) -> None:
    page.goto(f"{seeded.url}/experiments")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Audit").click()
    expect(page.locator("h1")).to_have_text("Audit")
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("Audit")

    page.get_by_label("User").fill(seeded.bob)
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{seeded.url}/audit?resource_type=&resource_id=&actor="
                             f"{seeded.bob}&since=&until=&size=50")
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(seeded.bob)
    expect(rows.first).to_contain_text("create_deployment")

    page.get_by_label("User").fill(seeded.ana)
    page.get_by_label("Resource id").fill(seeded.first)
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("update_deployment")
    expect(rows.first.locator("code.before")).to_contain_text("revision=1")
    expect(rows.nth(1).locator("td").last).to_have_text("-")
    screenshot(page, "audit-by-user")
