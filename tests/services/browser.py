"""Chromium for the browser tests, driven by Playwright's sync API.

``browser`` launches Debian's Chromium (``/usr/bin/chromium``) once per
session, headless; Playwright never downloads a browser of its own. ``page``
gives each test a fresh context (1280x800, 10 s default timeout) and fails the
test at teardown when the page logged a ``console.error`` or raised an
uncaught exception, listing them; ``allow_page_errors(page, pattern)`` lets a
test expect some (a page it loads on purpose with a 4xx status logs one).
``screenshot(page, name)`` saves a full-page PNG to
``test-artifacts/screenshots/<name>.png`` at the repository root.

A missing Chromium fails the tests instead of skipping them: a skipped UI test
looks like a passing one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from weakref import WeakKeyDictionary

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Error,
    Page,
    ViewportSize,
    sync_playwright,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
DEFAULT_TIMEOUT_MS = 10_000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

INSTALL_HINT = (
    f"Chromium was not found at {CHROMIUM}. The browser tests drive Debian's `chromium` "
    "package through Playwright; install it with `apt-get install -y chromium` "
    "(or run `./dev test`, which installs it)."
)


@dataclass
class _ErrorLog:
    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def add(self, error: str) -> None:
        if not any(p.search(error) for p in self.allowed):
            self.errors.append(error)


_logs: WeakKeyDictionary[Page, _ErrorLog] = WeakKeyDictionary()


def page_errors(page: Page) -> list[str]:
    """The console errors and uncaught exceptions recorded on ``page`` so far (a live list)."""
    return _logs.setdefault(page, _ErrorLog()).errors


def allow_page_errors(page: Page, *patterns: str) -> None:
    """Expect errors on ``page`` that match any of these regular expressions: not recorded."""
    _logs.setdefault(page, _ErrorLog()).allowed.extend(re.compile(p) for p in patterns)


def record_errors(page: Page) -> None:
    """Record the console errors and uncaught exceptions of ``page`` from now on."""
    log = _logs.setdefault(page, _ErrorLog())

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location
            log.add(f"console.error: {message.text} "
                    f"({where.get('url') or 'page'}:{where.get('lineNumber', 0)})")

    def on_page_error(error: Error) -> None:
        log.add(f"uncaught {error.name or 'error'}: {error.message}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)


def record_dialogs(page: Page) -> list[str]:
    """Dismiss every dialog (``alert``, ``confirm``) ``page`` opens from now on; returns the
    live list of their messages (a script injected through user text would open one)."""
    messages: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        messages.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return messages


def check_page_errors(page: Page) -> None:
    """Fail the test if ``page`` logged a console error or raised an uncaught exception."""
    if not page.is_closed():
        try:
            page.evaluate("0")  # a round trip: events the page sent before it are delivered
        except Error:
            pass  # a crashed page: report what was recorded
    errors = page_errors(page)
    if errors:
        listing = "\n".join(f"  {e}" for e in errors)
        pytest.fail(f"the page reported {len(errors)} error(s):\n{listing}", pytrace=False)


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG of ``page`` as ``test-artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium for the whole session."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(INSTALL_HINT, pytrace=False)
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    playwright = sync_playwright().start()
    try:
        try:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        except Error as exc:
            pytest.fail(f"Chromium at {CHROMIUM} did not start:\n{exc.message}", pytrace=False)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context; the test fails if the page reports an error."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    tab = context.new_page()
    record_errors(tab)
    try:
        yield tab
        check_page_errors(tab)
    finally:
        context.close()
