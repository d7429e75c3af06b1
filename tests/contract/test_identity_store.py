"""The identity contract (IdentityStore): users and API tokens, on every backend.

Names carry a random part, so backends that share one database (the REST
server) keep the tests apart; lists are filtered to what the test created.
"""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import text

from dockyard.entities.identity import ApiToken, check_lifetime, secret_digest
from dockyard.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from dockyard.store.base import MetadataStore
from dockyard.store.identity import UNAUTHENTICATED_MESSAGE
from tests.contract.backends import (
    InMemorySqliteBackend,
    PostgresBackend,
    RestBackend,
    SqliteBackend,
)
from tests.contract.test_metadata_store import assert_each_raises


def _name(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class IdentityStoreContract:
    def test_users(self, store: MetadataStore) -> None:
        ana = store.create_user(_name("ana"), display_name="Ana Lima")
        bot = store.create_user(_name("ci"), kind="service")
        assert (ana.kind, ana.display_name, ana.disabled) == ("user", "Ana Lima", False)
        assert bot.kind == "service"
        assert store.get_user(ana.name) == ana
        mine = [u for u in store.list_users() if u.name in (ana.name, bot.name)]
        assert mine == sorted([ana, bot], key=lambda u: u.name)
        off = store.set_user_disabled(ana.name)
        assert off.disabled and store.get_user(ana.name).disabled
        assert not store.set_user_disabled(ana.name, False).disabled

    def test_user_name_is_unique(self, store: MetadataStore) -> None:
        name = _name()
        store.create_user(name)
        with pytest.raises(AlreadyExists, match="already exists"):
            store.create_user(name, kind="service")

    def test_bad_input_is_refused(self, store: MetadataStore) -> None:
        user = store.create_user(_name()).name
        assert_each_raises(InvalidArgument, {
            "empty name": lambda: store.create_user(""),
            "slash": lambda: store.create_user("a/b"),
            "space": lambda: store.create_user("a b"),
            "long": lambda: store.create_user("a" * 251),
            "kind": lambda: store.create_user(_name(), kind="admin"),
            "zero lifetime": lambda: store.create_token(user, expires_in_seconds=0),
            "negative": lambda: store.create_token(user, expires_in_seconds=-5),
            "nan": lambda: store.create_token(user, expires_in_seconds=float("nan")),
            "bool": lambda: store.create_token(user, expires_in_seconds=True),
            "token name": lambda: store.create_token(user, name="a\nb"),
            "token id": lambda: store.revoke_token("../x"),
        })
        assert [t for t in store.list_tokens(user)] == []

    def test_unknown_names(self, store: MetadataStore) -> None:
        missing = _name("nobody")
        assert_each_raises(NotFound, {
            "get": lambda: store.get_user(missing),
            "disable": lambda: store.set_user_disabled(missing),
            "token": lambda: store.create_token(missing),
            "tokens": lambda: store.list_tokens(missing),
            "revoke": lambda: store.revoke_token(uuid.uuid4().hex),
        })

    def test_create_authenticate_and_list_tokens(self, store: MetadataStore) -> None:
        user = store.create_user(_name(), kind="service")
        made = store.create_token(user.name, name="ci deploys", expires_in_seconds=3600)
        assert made.secret.startswith("dky_") and len(made.secret) == 47
        assert made.prefix == made.secret[:8] and made.user == user.name
        assert made.expires_at == made.created_at + 3_600_000
        assert made.active(made.created_at) and not made.active(made.expires_at or 0)
        assert made.last_used_at is None and made.revoked_at is None
        assert store.authenticate(made.secret) == user
        [listed] = store.list_tokens(user.name)
        assert type(listed) is ApiToken and "secret" not in listed.model_dump()
        assert listed.model_dump(exclude={"last_used_at"}) == made.token().model_dump(
            exclude={"last_used_at"})
        assert listed.last_used_at is not None and listed.last_used_at >= made.created_at
        assert listed in store.list_tokens()
        other = store.create_token(user.name)
        assert other.secret != made.secret and other.expires_at is None
        assert [t.id for t in store.list_tokens(user.name)] == [made.id, other.id]

    def test_refused_secrets_all_say_the_same(self, store: MetadataStore) -> None:
        user = store.create_user(_name())
        revoked = store.create_token(user.name)
        store.revoke_token(revoked.id)
        expiring = store.create_token(user.name, expires_in_seconds=0.05)
        disabled = store.create_user(_name())
        of_disabled = store.create_token(disabled.name)
        store.set_user_disabled(disabled.name)
        time.sleep(0.1)
        refused = {
            "unknown": "dky_" + "A" * 43,
            "malformed": "not-a-token",
            "empty": "",
            "revoked": revoked.secret,
            "expired": expiring.secret,
            "disabled user": of_disabled.secret,
        }
        for label, secret in refused.items():
            with pytest.raises(Unauthenticated) as caught:
                store.authenticate(secret)
            assert caught.value.message == UNAUTHENTICATED_MESSAGE, label
            assert caught.value.http_status == 401, label
        store.set_user_disabled(disabled.name, False)
        assert store.authenticate(of_disabled.secret).name == disabled.name

    def test_revoke(self, store: MetadataStore) -> None:
        user = store.create_user(_name())
        made = store.create_token(user.name)
        keep = store.create_token(user.name)
        gone = store.revoke_token(made.id)
        assert gone.revoked_at is not None and not gone.active(gone.revoked_at)
        assert store.revoke_token(made.id) == gone  # a second revoke changes nothing
        assert store.authenticate(keep.secret) == user
        listed = {t.id: t for t in store.list_tokens(user.name)}
        assert listed[made.id].revoked_at == gone.revoked_at
        assert listed[keep.id].revoked_at is None

    def test_roles(self, store: MetadataStore) -> None:
        ana, bob = store.create_user(_name("ana")), store.create_user(_name("bob"))
        project = f"project:{_name('p')}"
        made = store.grant_role(ana.name, "editor", project, granted_by="root")
        assert (made.user, made.scope, made.role) == (ana.name, project, "editor")
        store.grant_role(ana.name, "viewer")
        store.grant_role(bob.name, "deployer", project)
        again = store.grant_role(ana.name, "approver", project)  # one role per scope: replaced
        assert again.role == "approver"
        assert [(b.scope, b.role) for b in store.list_roles(ana.name)] == [
            ("*", "viewer"), (project, "approver")]
        assert {(b.user, b.role) for b in store.list_roles(scope=project)} == {
            (ana.name, "approver"), (bob.name, "deployer")}
        store.revoke_role(ana.name, project)
        assert [b.scope for b in store.list_roles(ana.name)] == ["*"]
        with pytest.raises(NotFound, match="no role"):
            store.revoke_role(ana.name, project)
        with pytest.raises(NotFound):
            store.grant_role(_name("nobody"), "viewer")
        assert_each_raises(InvalidArgument, {
            "unknown role": lambda: store.grant_role(ana.name, "owner"),
            "unknown scope kind": lambda: store.grant_role(ana.name, "viewer", "team:x"),
            "empty scope name": lambda: store.grant_role(ana.name, "viewer", "project:"),
            "scope filter": lambda: store.list_roles(scope="everything"),
            "user name": lambda: store.revoke_role("bad name!", "*"),
        })


class DigestOnly:
    """SQL backends: the table holds the digest, never the secret."""

    def test_only_the_digest_is_stored(self, store: MetadataStore) -> None:
        user = store.create_user(_name())
        made = store.create_token(user.name)
        with store.engine.connect() as conn:  # type: ignore[attr-defined]
            row = conn.execute(text("SELECT * FROM api_tokens WHERE id = :id"),
                               {"id": made.id}).mappings().one()
        assert row["digest"] == secret_digest(made.secret)
        assert made.secret not in {str(value) for value in row.values()}


def test_lifetimes() -> None:
    assert check_lifetime(None) is None and check_lifetime(30) == 30.0
    for bad in (0, -1, float("inf"), 10**12, "30"):
        with pytest.raises(InvalidArgument):
            check_lifetime(bad)


class TestSqliteIdentity(SqliteBackend, IdentityStoreContract, DigestOnly):
    pass


class TestInMemoryIdentity(InMemorySqliteBackend, IdentityStoreContract, DigestOnly):
    pass


class TestPostgresIdentity(PostgresBackend, IdentityStoreContract, DigestOnly):
    pass


class TestRestIdentity(RestBackend, IdentityStoreContract):
    pass
