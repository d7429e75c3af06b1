"""Identifiers are checked whole: a trailing newline is not a valid end of a key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dockyard.entities import validation as v
from dockyard.errors import InvalidArgument

CASES: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
    "tag key": (v.validate_key, ("tag", "team\n")),
    "alias": (v.validate_alias, ("champion\n",)),
    "digest": (v.validate_digest, ("ab" * 32 + "\n",)),
    "run source": (v.run_source, ("runs:/" + "0" * 32 + "\n/model",)),
}


@pytest.mark.parametrize("label", sorted(CASES))
def test_a_trailing_newline_is_refused(label: str) -> None:
    check, args = CASES[label]
    with pytest.raises(InvalidArgument):
        check(*args)
    fixed = tuple(a.replace("\n", "") for a in args)
    check(*fixed)
