"""The identity interface: users, service accounts and their API tokens.

:class:`~dockyard.store.base.MetadataStore` inherits it. Implementations: the
SQL store (SQLite, PostgreSQL) and the REST store; ``tests/contract`` runs
the same suite against each.

Error contract, shared by all implementations:

* ``InvalidArgument``, raised before anything is written, for a malformed
  user name, kind, token id or name, or a lifetime that is not a positive
  number of seconds;
* ``NotFound`` for an unknown user or token id;
* ``AlreadyExists`` for a user name that is taken;
* ``InvalidArgument`` for a role that is not one of
  :data:`~dockyard.entities.identity.ROLES`, or a malformed scope;
* ``Unauthenticated`` from :meth:`IdentityStore.authenticate` for a secret
  that lets no one in: unknown, expired, revoked, or of a disabled user. The
  message is the same in every case, so that a caller learns nothing about
  which tokens exist;
* ``ServerUnavailable`` / ``StoreError`` as for the rest of the store.

A token's secret is returned once, by :meth:`IdentityStore.create_token`;
the store keeps only its SHA-256 digest
(:func:`~dockyard.entities.identity.secret_digest`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from dockyard.entities.identity import ApiToken, NewToken, RoleBinding, User

UNAUTHENTICATED_MESSAGE = ("the API token is not valid: it may be unknown, expired or revoked, "
                           "or its user disabled; ask an administrator for a new one")
"""The one message of every refused token."""


class IdentityStore(ABC):
    """Users and their API tokens."""

    @abstractmethod
    def create_user(self, name: str, kind: str = "user", display_name: str = "") -> User:
        """Store a new enabled user (``kind``: ``user`` or ``service``). Raises AlreadyExists."""

    @abstractmethod
    def get_user(self, name: str) -> User:
        """Raises NotFound."""

    @abstractmethod
    def list_users(self) -> list[User]:
        """Every user, by name."""

    @abstractmethod
    def set_user_disabled(self, name: str, disabled: bool = True) -> User:
        """Disable (or enable again) a user: a disabled user's tokens let no one in."""

    @abstractmethod
    def create_token(self, user: str, name: str = "",
                     expires_in_seconds: float | None = None) -> NewToken:
        """A new token for ``user``, with its secret (shown this once).

        ``expires_in_seconds`` (positive) sets when it stops working; None:
        never, until revoked. Raises NotFound for an unknown user.
        """

    @abstractmethod
    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        """Tokens, of one user or of all, oldest first; never a secret nor a digest."""

    @abstractmethod
    def revoke_token(self, token_id: str) -> ApiToken:
        """Stop a token working from now on. Revoking a revoked token changes nothing."""

    @abstractmethod
    def authenticate(self, secret: str) -> User:
        """The user a secret belongs to; records when the token was last used.

        Raises Unauthenticated, with :data:`UNAUTHENTICATED_MESSAGE`, for a
        secret that is malformed, unknown, expired or revoked, or whose user is
        disabled.
        """

    @abstractmethod
    def grant_role(self, user: str, role: str, scope: str = "*", *,
                   granted_by: str = "") -> RoleBinding:
        """Give ``user`` ``role`` on ``scope`` (``*``, ``project:<name>``, ``model:<name>``).

        A user holds one role per scope: granting again replaces it. Raises
        NotFound for an unknown user.
        """

    @abstractmethod
    def revoke_role(self, user: str, scope: str = "*") -> None:
        """Take back ``user``'s role on ``scope``. Raises NotFound when there is none."""

    @abstractmethod
    def list_roles(self, user: str | None = None, scope: str | None = None) -> list[RoleBinding]:
        """Role bindings, of one user and/or one scope, by user then scope."""
