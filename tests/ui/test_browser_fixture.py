"""The browser plugin itself: Chromium drives a page, screenshots land on disk,
and errors reported by a page are caught."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.services.browser import (
    allow_page_errors,
    check_page_errors,
    page_errors,
    screenshot,
)

pytestmark = pytest.mark.browser

CLICK_PAGE = """<!doctype html>
<html><body>
  <button id="go" onclick="this.textContent = 'Clicked'">Click me</button>
</body></html>"""

BROKEN_PAGE = """<!doctype html>
<html><body>
  <p>broken</p>
  <script>console.error("boom from the console");</script>
  <script>throw new Error("boom uncaught");</script>
</body></html>"""


def test_click_and_screenshot(page: Page) -> None:
    page.set_content(CLICK_PAGE)
    button = page.locator("#go")
    assert button.text_content() == "Click me"
    button.click()
    assert button.text_content() == "Clicked"
    path = screenshot(page, "browser-fixture-click")
    assert path.is_file()
    assert path.stat().st_size > 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_errors_are_caught(page: Page) -> None:
    page.set_content(BROKEN_PAGE)
    with pytest.raises(pytest.fail.Exception) as failure:
        check_page_errors(page)
    message = str(failure.value)
    assert "2 error(s)" in message
    assert "console.error: boom from the console" in message
    assert "uncaught Error: boom uncaught" in message
    page_errors(page).clear()  # handled here: the fixture's own check must pass


def test_expected_page_errors_can_be_allowed(page: Page) -> None:
    allow_page_errors(page, r"boom from the console", r"^uncaught Error: boom")
    page.set_content(BROKEN_PAGE)
    check_page_errors(page)
    assert page_errors(page) == []
