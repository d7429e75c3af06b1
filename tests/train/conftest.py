"""Fixtures shared by the training tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import dockyard


@pytest.fixture
def autologging() -> Iterator[None]:
    """Autologging on for the test, off again after it."""
    dockyard.autolog()
    yield
    dockyard.autolog(disable=True)
