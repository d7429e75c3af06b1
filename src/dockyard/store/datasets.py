"""The dataset interface: datasets, their versions, the runs that used them, their checks.

:class:`~dockyard.store.base.MetadataStore` inherits it. Implementations: the
SQL store (SQLite, PostgreSQL) and the REST store; ``tests/contract`` runs
the same suite against each.

Error contract, shared by all implementations:

* ``InvalidArgument``, raised before anything is written, for a version that
  :func:`~dockyard.entities.dataset.check_new_version` refuses, a bad name,
  version, context or ``max_results``;
* ``NotFound`` for an unknown dataset, version or run;
* ``ServerUnavailable`` / ``StoreError`` as for the rest of the store.

Versions are numbered 1, 2, 3 ... per dataset in the order they are created.
A dataset holds each content digest once: creating a version whose digest the
dataset already has returns that version and writes nothing, so logging the
same data twice, even from two processes at once, makes one version.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from dockyard.entities.dataset import (
    Dataset,
    DatasetCheck,
    DatasetInput,
    DatasetVersion,
    NewDatasetVersion,
)


class DatasetStore(ABC):
    """Datasets by name, their numbered versions, inputs of runs and check results."""

    @abstractmethod
    def create_dataset_version(self, new: NewDatasetVersion, user: str = "") -> DatasetVersion:
        """Number and store a version (the dataset is created with its first version).

        Returns the existing version when the dataset already has ``new.digest``.
        """

    @abstractmethod
    def get_dataset(self, name: str) -> Dataset:
        """Raises NotFound."""

    @abstractmethod
    def list_datasets(self, name_like: str | None = None,
                      max_results: int = 1000) -> list[Dataset]:
        """Datasets by name; ``name_like`` keeps those whose name contains it (any case)."""

    @abstractmethod
    def get_dataset_version(self, name: str, version: int | None = None) -> DatasetVersion:
        """One version, or the latest when ``version`` is None. Raises NotFound."""

    @abstractmethod
    def find_dataset_version(self, name: str, digest: str) -> DatasetVersion | None:
        """The version of ``name`` with this content digest, if there is one."""

    @abstractmethod
    def list_dataset_versions(self, name: str, max_results: int = 1000) -> list[DatasetVersion]:
        """The newest ``max_results`` versions of a dataset, newest first. Raises NotFound."""

    @abstractmethod
    def log_dataset_input(self, run_id: str, name: str, version: int,
                          context: str = "training") -> DatasetInput:
        """Record that a run used a dataset version; saying it again changes nothing."""

    @abstractmethod
    def list_run_inputs(self, run_id: str) -> list[DatasetInput]:
        """The dataset versions a run used. Raises NotFound for an unknown run."""

    @abstractmethod
    def list_dataset_runs(self, name: str, version: int | None = None) -> list[DatasetInput]:
        """The runs that used a dataset (or one version of it), newest first."""

    @abstractmethod
    def save_dataset_check(self, check: DatasetCheck, user: str = "") -> DatasetCheck:
        """Store the outcome of a suite run on a version; returns it with its id and time."""

    @abstractmethod
    def list_dataset_checks(self, name: str, version: int,
                            max_results: int = 100) -> list[DatasetCheck]:
        """A version's check results, newest first. Raises NotFound."""
