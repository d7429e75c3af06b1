"""Helpers shared by the SQL store's modules: paging and unique names."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError

from dockyard.errors import AlreadyExists, InvalidArgument
from dockyard.store.base import MAX_RESULTS_LIMIT


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset})).decode()


def decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = orjson.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if not isinstance(offset, int) or not 0 <= offset <= 10**12:
            raise ValueError
        return offset
    except Exception:
        raise InvalidArgument(
            "page_token is not valid; pass the next_page_token of a previous page unchanged"
        ) from None


def check_max_results(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_RESULTS_LIMIT:
        raise InvalidArgument(f"max_results must be an integer from 1 to {MAX_RESULTS_LIMIT}")
    return n


@contextmanager
def unique_name(message: str) -> Iterator[None]:
    """Report a unique-name violation as AlreadyExists.

    The unique constraint is the one check: unlike a SELECT before the insert,
    it also sees a concurrent writer's uncommitted row (PostgreSQL).
    """
    try:
        yield
    except IntegrityError as exc:
        raise AlreadyExists(message) from exc
