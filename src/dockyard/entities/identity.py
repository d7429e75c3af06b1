"""Identities and API tokens: who may call a Dockyard server.

A :class:`User` is a person (``kind="user"``) or a machine (``kind="service"``).
An :class:`ApiToken` lets its user in until it expires or is revoked.

The token scheme is pure and lives here too: a secret is ``dky_`` followed by
32 random bytes in URL-safe base64 (:func:`secrets.token_urlsafe`). Only its
SHA-256 digest is stored. A random 256-bit secret cannot be guessed or found
by brute force from its digest, so it needs no slow, salted password hash
(bcrypt, scrypt): those defend low-entropy passwords. A presented secret is
checked by looking its digest up in a unique index, so no stored value is
ever compared byte by byte with what the caller sent: the comparison is
constant-time by construction. The secret itself is never stored or logged.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from dockyard.errors import InvalidArgument

SECRET_PREFIX = "dky_"
SECRET_BYTES = 32
PREFIX_LENGTH = 8
"""How much of a secret is kept in the clear (``dky_`` and 4 characters), to recognise it."""
MAX_USER_NAME = 250
MAX_TOKEN_NAME = 250
KINDS = ("user", "service")
MAX_LIFETIME_SECONDS = 100 * 366 * 86400
"""The longest lifetime a token can be given (100 years); None means no expiry."""

_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*\Z")
_TOKEN_ID = re.compile(r"^[0-9a-f]{32}\Z")
_SECRET = re.compile(r"^dky_[A-Za-z0-9_-]{43}\Z")


def check_user_name(name: Any) -> str:
    """A user name: letters, digits and ``. _ @ + -``, starting with a letter or digit.

    Raises InvalidArgument. E-mail addresses and service names (``ci-bot``) fit.
    """
    if not isinstance(name, str):
        raise InvalidArgument(f"user name must be a string, got {type(name).__name__}")
    if not name or len(name) > MAX_USER_NAME or not _USER_NAME.match(name):
        raise InvalidArgument(
            f"user name {name!r:.80} is not valid: use 1 to {MAX_USER_NAME} letters, digits "
            "and . _ @ + -, starting with a letter or a digit")
    return name


def check_token_id(token_id: Any) -> str:
    """A token id: 32 lowercase hex characters. Raises InvalidArgument."""
    if not isinstance(token_id, str) or not _TOKEN_ID.match(token_id):
        raise InvalidArgument(f"token id {token_id!r:.80} is not valid: it is 32 hex characters "
                              "(see dockyard tokens list)")
    return token_id


def check_token_name(name: Any) -> str:
    """A token's label: free text without control characters, at most 250 characters."""
    if name is None:
        return ""
    if not isinstance(name, str):
        raise InvalidArgument(f"token name must be a string, got {type(name).__name__}")
    if len(name) > MAX_TOKEN_NAME or any(ord(c) < 32 for c in name):
        raise InvalidArgument(f"token name must be at most {MAX_TOKEN_NAME} characters, "
                              "without control characters")
    return name


def check_kind(kind: Any) -> str:
    """``user`` or ``service``. Raises InvalidArgument."""
    if kind not in KINDS:
        raise InvalidArgument(f"user kind {kind!r:.40} is not one of {', '.join(KINDS)}")
    return str(kind)


def check_lifetime(seconds: Any) -> float | None:
    """A token's lifetime in seconds: None, or a positive number up to 100 years."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
            0 < seconds <= MAX_LIFETIME_SECONDS and math.isfinite(seconds)):
        raise InvalidArgument(f"expires_in_seconds must be a positive number of seconds up to "
                              f"{MAX_LIFETIME_SECONDS:,}, got {seconds!r:.40}")
    return float(seconds)


_LIFETIME = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*\Z")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_lifetime(text: str) -> int:
    """A lifetime such as ``90``, ``45m``, ``12h``, ``30d`` or ``2w``, in seconds.

    A bare number is seconds. Raises InvalidArgument for anything else, or for
    a lifetime that :func:`check_lifetime` refuses.
    """
    found = _LIFETIME.match(text) if isinstance(text, str) else None
    if found is None:
        raise InvalidArgument(f"lifetime {text!r:.40} is not understood: give a whole number "
                              "with an optional unit s, m, h, d or w (30d, 12h)")
    seconds = int(found[1]) * _UNIT_SECONDS[found[2]]
    check_lifetime(seconds)
    return seconds


def new_secret() -> str:
    """A fresh token secret: ``dky_`` and 43 URL-safe characters (256 random bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def looks_like_secret(secret: Any) -> bool:
    """Whether ``secret`` has the shape of a token secret (before any lookup)."""
    return isinstance(secret, str) and bool(_SECRET.match(secret))


def secret_digest(secret: str) -> str:
    """The SHA-256 hex digest of a secret: the only form in which it is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


class User(BaseModel):
    """A person or a service that can hold API tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Literal["user", "service"] = "user"
    display_name: str = ""
    created_at: int
    disabled: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_user_name(value)


class ApiToken(BaseModel):
    """What is known of a token: never its secret nor the secret's digest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    user: str
    name: str = ""
    prefix: str
    """The first 8 characters of the secret, to recognise it in a list."""
    created_at: int
    expires_at: int | None = None
    revoked_at: int | None = None
    last_used_at: int | None = None

    def active(self, now: int) -> bool:
        """Whether the token lets its user in at ``now`` (ms): not revoked, not expired."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or now < self.expires_at


ROLES = ("viewer", "editor", "deployer", "approver", "admin")
"""The roles, each allowed everything the roles before it are."""
GLOBAL_SCOPE = "*"
SCOPE_KINDS = ("project", "model")
_SCOPE = re.compile(r"^(project|model):[^\x00-\x1f]{1,250}\Z")


def role_rank(role: str) -> int:
    """The position of ``role`` in :data:`ROLES` (viewer 1 ... admin 5); 0 for None."""
    return ROLES.index(role) + 1 if role in ROLES else 0


def check_role(role: Any) -> str:
    """One of :data:`ROLES`. Raises InvalidArgument."""
    if role not in ROLES:
        raise InvalidArgument(f"role {role!r:.40} is not one of {', '.join(ROLES)}")
    return str(role)


def check_scope(scope: Any) -> str:
    """``*`` (every project and model), ``project:<name>`` or ``model:<name>``."""
    if scope != GLOBAL_SCOPE and not (isinstance(scope, str) and _SCOPE.match(scope)):
        raise InvalidArgument(f"scope {scope!r:.80} is not valid: use * (everything), "
                              "project:<name> or model:<name>")
    return str(scope)


class RoleBinding(BaseModel):
    """A role granted to a user on a scope: ``*``, ``project:<name>`` or ``model:<name>``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str
    scope: str = GLOBAL_SCOPE
    role: Literal["viewer", "editor", "deployer", "approver", "admin"]
    created_at: int
    created_by: str = ""


class NewToken(ApiToken):
    """A token just created, with its secret: the only time the secret is shown."""

    secret: str

    def token(self) -> ApiToken:
        """The token without its secret."""
        return ApiToken(**self.model_dump(exclude={"secret"}))
