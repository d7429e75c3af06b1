"""The model registry interface.

:class:`~dockyard.store.base.MetadataStore` inherits it, so one store object
holds runs and the models registered from them. Implementations: the SQL
store (SQLite, PostgreSQL) and the REST store; ``tests/contract`` runs the
same suite against each.

Error contract, shared by all implementations:

* ``InvalidArgument`` for a malformed model name, alias, version number,
  stage, digest, source, tag, text or paging argument, and for
  ``archive_existing`` with a stage other than Staging or Production;
* ``NotFound`` for an unknown model, version or alias, and for the run a
  source names;
* ``AlreadyExists`` for a duplicate model name;
* ``InvalidState`` for deleting a version in Production, or a model that
  has one;
* ``ValidationRequired`` (an ``InvalidState``) when the model's policy gates
  a promotion and the version has no passing validation under it (see
  :meth:`RegistryStore.set_model_policy`);
* ``ServerUnavailable`` / ``StoreError`` as for the rest of the store.

A failed call writes nothing. The package fields of a version (``source``,
``run_id``, ``package_digest``, ``signature``) are set at registration and
never change: no operation takes them. Version numbers are never reused
within a model, even after a delete.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from dockyard.entities import (
    AliasChange,
    ModelStage,
    ModelValidation,
    ModelVersion,
    NewModelValidation,
    Page,
    RegisteredModel,
    StageTransition,
)


class RegistryStore(ABC):
    """Registered models, their versions, aliases and stages."""

    # registered models ---------------------------------------------------------
    @abstractmethod
    def create_registered_model(
        self,
        name: str,
        description: str = "",
        tags: dict[str, str] | None = None,
        owner: str = "",
        task: str = "",
    ) -> RegisteredModel:
        """Raises AlreadyExists if a model has that name, InvalidArgument for a bad one.

        A name is at most 200 characters, without ``/`` or ``@`` and without
        leading or trailing whitespace (it appears in ``models:/`` URIs).
        Names are permanent: there is no rename.
        """

    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel:
        """The model with its tags, aliases and latest version number. Raises NotFound."""

    @abstractmethod
    def search_registered_models(
        self,
        name_like: str | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        """Models by name; ``name_like`` is a SQL LIKE pattern (case-sensitive)."""

    @abstractmethod
    def update_registered_model(
        self,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        owner: str | None = None,
        task: str | None = None,
    ) -> RegisteredModel:
        """Change the fields given (tags are merged). Raises NotFound."""

    @abstractmethod
    def set_model_policy(
        self,
        name: str,
        policy: dict[str, Any] | None,
        policy_digest: str | None,
        protected_aliases: list[str],
    ) -> RegisteredModel:
        """Set (or, with ``policy=None``, clear) the validation policy that gates promotions.

        ``policy`` is the policy as ``Policy.to_dict()`` gives it and
        ``policy_digest`` its ``Policy.digest``: the digest must come with a
        policy, and only with one. The store keeps both as given (it does not
        parse policies; the client and the server do, and the server refuses a
        digest that does not match). ``protected_aliases`` are the aliases that
        need a passing validation, like a move to Production; an empty list
        protects none.

        While a model has a policy, :meth:`transition_stage` to Production and
        :meth:`set_alias` of a protected alias raise ValidationRequired unless
        the latest validation of that version whose ``policy_digest`` is the
        model's current one passed. A new policy (another digest) thus needs
        new validations. Raises NotFound, InvalidArgument.
        """

    @abstractmethod
    def delete_registered_model(self, name: str) -> RegisteredModel:
        """Delete a model with its versions and aliases; returns it as it was.

        Raises InvalidState while any version is in Production (move it to
        Archived first), NotFound for an unknown model.
        """

    # versions --------------------------------------------------------------------
    @abstractmethod
    def create_model_version(
        self,
        name: str,
        source: str,
        package_digest: str | None = None,
        signature: dict[str, Any] | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
        card: str = "",
    ) -> ModelVersion:
        """Register the package at ``source`` (``runs:/<run_id>/<path>``) as the next version.

        The number is one more than the highest ever given in this model,
        assigned atomically: concurrent registrations get distinct numbers.
        ``package_digest`` is the sha256 of the package manifest (64
        lowercase hex characters), so that a load can check the package did
        not change. Raises NotFound for an unknown model or run.
        """

    @abstractmethod
    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """Raises NotFound."""

    @abstractmethod
    def search_model_versions(
        self,
        name: str | None = None,
        run_id: str | None = None,
        stage: ModelStage | str | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        """Versions of one model (newest first), or of every model (by name, then newest first).

        ``run_id`` keeps the versions registered from that run; ``stage``
        those in that stage. Raises NotFound for an unknown ``name``.
        """

    @abstractmethod
    def update_model_version(
        self,
        name: str,
        version: int,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        card: str | None = None,
    ) -> ModelVersion:
        """Change the description, merge tags, replace the Markdown card.

        Allowed in every stage (the server records each edit in the audit
        trail); the package fields cannot be changed at all. Raises NotFound.
        """

    @abstractmethod
    def delete_model_version(self, name: str, version: int) -> ModelVersion:
        """Delete a version and the aliases that point at it; returns it as it was.

        Raises InvalidState for a version in Production, NotFound.
        """

    # validations -----------------------------------------------------------------------
    @abstractmethod
    def record_validation(self, name: str, version: int, validation: NewModelValidation,
                          user: str = "") -> ModelValidation:
        """Record a validation of a version (who: ``user``); returns it with its id and time.

        Raises NotFound for an unknown model or version, InvalidArgument for a
        bad field (``passed`` and ``policy_digest`` go together; values are
        finite numbers). Deleting the version deletes its validations. Over
        REST, the server records the user it identifies instead of ``user``.
        """

    @abstractmethod
    def list_validations(self, name: str, version: int | None = None,
                         max_results: int = 100) -> list[ModelValidation]:
        """Validations of one version, or of every version of the model, newest first.

        Raises NotFound for an unknown model or version.
        """

    # aliases -------------------------------------------------------------------------
    @abstractmethod
    def set_alias(self, name: str, alias: str, version: int,
                  override_reason: str | None = None, user: str = "") -> AliasChange:
        """Point ``alias`` at ``version``, creating or moving it in one transaction.

        The result says which version it pointed at before. Raises NotFound
        for an unknown model or version, InvalidArgument for a bad alias.

        A protected alias of a model with a policy is gated (see
        :meth:`set_model_policy`): ValidationRequired without a passing
        validation. A non-empty ``override_reason`` lets the change through
        anyway, and the store records an ``override_validation_gate`` audit
        event (actor: ``user``) in the same transaction; a blank reason is
        InvalidArgument. Any caller may override for now (role checks come with
        governance); every override is audited. Over REST the server records
        the user it identifies. Pointing an alias at the version it already
        names changes nothing and is not gated.
        """

    @abstractmethod
    def delete_alias(self, name: str, alias: str) -> AliasChange:
        """Remove an alias; the result holds the version it pointed at. Raises NotFound."""

    @abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at. Raises NotFound for an unknown model or alias."""

    # stages ---------------------------------------------------------------------------
    @abstractmethod
    def transition_stage(
        self,
        name: str,
        version: int,
        stage: ModelStage | str,
        archive_existing: bool = False,
        override_reason: str | None = None,
        user: str = "",
    ) -> StageTransition:
        """Move a version to ``stage`` (None, Staging, Production, Archived; any case).

        With ``archive_existing`` (only for Staging and Production), the
        other versions in that stage move to Archived in the same
        transaction. Moving a version to the stage it is in changes nothing.
        Raises NotFound, InvalidArgument.

        A move to Production of a version of a model with a policy is gated,
        and ``override_reason`` and ``user`` work, as for :meth:`set_alias`.
        """
