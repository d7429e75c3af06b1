"""Users and API tokens on SQL: the identity half of SqlMetadataStore.

A token row holds the SHA-256 digest of its secret, under a unique index:
:meth:`SqlIdentityMixin.authenticate` finds a token by the digest of what it
was given, so no secret is ever compared with a stored value.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from dockyard.entities import now_ms
from dockyard.entities import validation as v
from dockyard.entities.identity import (
    PREFIX_LENGTH,
    ApiToken,
    NewToken,
    RoleBinding,
    User,
    check_kind,
    check_role,
    check_scope,
    check_lifetime,
    check_token_id,
    check_token_name,
    check_user_name,
    looks_like_secret,
    new_secret,
    secret_digest,
)
from dockyard.errors import InvalidArgument, NotFound, Unauthenticated
from dockyard.store.identity import UNAUTHENTICATED_MESSAGE, IdentityStore
from dockyard.store.sql.common import unique_name
from dockyard.store.sql.schema import api_tokens, role_bindings, users

_LAST_USED_STEP_MS = 60_000
"""last_used_at is rewritten at most once a minute per token: a busy client does not
turn every request into a write."""


def _user(row: Any) -> User:
    return User(name=row["name"], kind=row["kind"], display_name=row["display_name"],
                created_at=row["created_at"], disabled=bool(row["disabled"]))


def _token(row: Any) -> ApiToken:
    return ApiToken(id=row["id"], user=row["user_name"], name=row["name"], prefix=row["prefix"],
                    created_at=row["created_at"], expires_at=row["expires_at"],
                    revoked_at=row["revoked_at"], last_used_at=row["last_used_at"])


def _binding(row: Any) -> RoleBinding:
    return RoleBinding(user=row["user_name"], scope=row["scope"], role=row["role"],
                       created_at=row["created_at"], created_by=row["created_by"])


_TOKEN_COLUMNS = [c for c in api_tokens.c if c.name != "digest"]


class SqlIdentityMixin(IdentityStore):
    """Users and API tokens in the SQL store's tables."""

    if TYPE_CHECKING:
        def _read(self) -> AbstractContextManager[Connection]: ...

        def _write(self) -> AbstractContextManager[Connection]: ...

    def create_user(self, name: str, kind: str = "user", display_name: str = "") -> User:
        row = {"name": check_user_name(name), "kind": check_kind(kind),
               "display_name": v.validate_text("display_name", display_name or "", 1000),
               "created_at": now_ms(), "disabled": False}
        with self._write() as conn:
            with unique_name(f"a user named {name!r} already exists; see dockyard users list"):
                conn.execute(users.insert().values(**row))
        return _user(row)

    def get_user(self, name: str) -> User:
        with self._read() as conn:
            return _user(self._user_row(conn, name))

    def list_users(self) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).mappings()
            return [_user(r) for r in rows]

    def set_user_disabled(self, name: str, disabled: bool = True) -> User:
        if not isinstance(disabled, bool):
            raise InvalidArgument(f"disabled must be true or false, got {disabled!r:.40}")
        with self._write() as conn:
            row = self._user_row(conn, name)
            conn.execute(users.update().where(users.c.name == name).values(disabled=disabled))
        return _user({**row, "disabled": disabled})

    def create_token(self, user: str, name: str = "",
                     expires_in_seconds: float | None = None) -> NewToken:
        name = check_token_name(name)
        lifetime = check_lifetime(expires_in_seconds)
        secret = new_secret()
        now = now_ms()
        row = {"id": uuid.uuid4().hex, "user_name": check_user_name(user), "name": name,
               "prefix": secret[:PREFIX_LENGTH], "digest": secret_digest(secret),
               "created_at": now,
               "expires_at": None if lifetime is None else now + int(lifetime * 1000),
               "revoked_at": None, "last_used_at": None}
        with self._write() as conn:
            self._user_row(conn, user)
            conn.execute(api_tokens.insert().values(**row))
        return NewToken(**_token(row).model_dump(), secret=secret)

    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        query = select(*_TOKEN_COLUMNS).order_by(api_tokens.c.created_at, api_tokens.c.id)
        with self._read() as conn:
            if user is not None:
                self._user_row(conn, user)
                query = query.where(api_tokens.c.user_name == user)
            return [_token(r) for r in conn.execute(query).mappings()]

    def revoke_token(self, token_id: str) -> ApiToken:
        check_token_id(token_id)
        with self._write() as conn:
            row = self._token_row(conn, token_id)
            if row["revoked_at"] is not None:
                return _token(row)
            now = max(now_ms(), row["created_at"])
            conn.execute(api_tokens.update().where(api_tokens.c.id == token_id)
                         .values(revoked_at=now))
        return _token({**row, "revoked_at": now})

    def authenticate(self, secret: str) -> User:
        if not looks_like_secret(secret):
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
        digest = secret_digest(secret)
        now = now_ms()
        # A read, and a write only when last_used_at is due: authentication stays cheap
        # when every request of a busy client carries the token.
        with self._read() as conn:
            found = conn.execute(
                select(api_tokens.c.id, api_tokens.c.expires_at, api_tokens.c.revoked_at,
                       api_tokens.c.last_used_at, users)
                .join(users, users.c.name == api_tokens.c.user_name)
                .where(api_tokens.c.digest == digest)).mappings().first()
        if (found is None or found["disabled"] or found["revoked_at"] is not None
                or (found["expires_at"] is not None and now >= found["expires_at"])):
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
        last = found["last_used_at"]
        if last is None or now - last >= _LAST_USED_STEP_MS:
            with self._write() as conn:
                conn.execute(api_tokens.update().where(api_tokens.c.id == found["id"])
                             .values(last_used_at=now))
        return _user(found)

    def grant_role(self, user: str, role: str, scope: str = "*", *,
                   granted_by: str = "") -> RoleBinding:
        row = {"user_name": check_user_name(user), "scope": check_scope(scope),
               "role": check_role(role), "created_at": now_ms(),
               "created_by": v.validate_text("granted_by", granted_by or "", 250)}
        key = (role_bindings.c.user_name == user) & (role_bindings.c.scope == scope)
        with self._write() as conn:
            self._user_row(conn, user)
            conn.execute(role_bindings.delete().where(key))
            conn.execute(role_bindings.insert().values(**row))
        return _binding(row)

    def revoke_role(self, user: str, scope: str = "*") -> None:
        check_user_name(user)
        check_scope(scope)
        key = (role_bindings.c.user_name == user) & (role_bindings.c.scope == scope)
        with self._write() as conn:
            if conn.execute(role_bindings.delete().where(key)).rowcount == 0:
                raise NotFound(f"{user!r} has no role on {scope!r}; see dockyard roles list")

    def list_roles(self, user: str | None = None, scope: str | None = None) -> list[RoleBinding]:
        query = select(role_bindings).order_by(role_bindings.c.user_name, role_bindings.c.scope)
        if user is not None:
            query = query.where(role_bindings.c.user_name == check_user_name(user))
        if scope is not None:
            query = query.where(role_bindings.c.scope == check_scope(scope))
        with self._read() as conn:
            return [_binding(r) for r in conn.execute(query).mappings()]

    # helpers ---------------------------------------------------------------------------
    @staticmethod
    def _user_row(conn: Connection, name: str) -> Any:
        check_user_name(name)
        row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"no user is named {name!r}; see dockyard users list")
        return row

    @staticmethod
    def _token_row(conn: Connection, token_id: str) -> Any:
        row = conn.execute(select(*_TOKEN_COLUMNS).where(api_tokens.c.id == token_id)
                           ).mappings().first()
        if row is None:
            raise NotFound(f"no API token has the id {token_id!r}; see dockyard tokens list")
        return row
