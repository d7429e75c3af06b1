"""The monitoring interface: ground truth (and, with it, what monitors record).

:class:`~dockyard.store.base.MetadataStore` inherits it. Implementations: the
SQL store (SQLite, PostgreSQL) and the REST store; ``tests/contract`` runs
the same suite against each.

Error contract, shared by all implementations:

* ``InvalidArgument`` for a malformed prediction id or label, lists of
  different lengths, an empty call or one over
  :data:`~dockyard.entities.monitoring.MAX_LABELS_PER_CALL` labels, raised
  before anything is written;
* ``ServerUnavailable`` / ``StoreError`` as for the rest of the store.

A failed call writes nothing. A label already stored is never overwritten
silently: it is reported as a duplicate, or replaced (and reported) when the
caller asks for that.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from dockyard.entities import GroundTruth, GroundTruthResult


class MonitoringStore(ABC):
    """Ground truth, keyed by prediction id."""

    @abstractmethod
    def log_ground_truth(
        self,
        prediction_ids: Sequence[str],
        labels: Sequence[Any],
        label_time: int | Sequence[int] | None = None,
        replace: bool = False,
    ) -> GroundTruthResult:
        """Store the labels of predictions, one per id, atomically.

        ``label_time`` (ms since the epoch) is when the outcomes became known:
        one time for all, or one per label; it defaults to now. An id that already has a label keeps it and is
        listed in ``duplicate_ids`` (so is the second of an id given twice),
        unless ``replace`` is true: then the new label replaces it and the id
        is listed in ``replaced_ids``.
        """

    @abstractmethod
    def get_ground_truth(self, prediction_ids: Sequence[str]) -> list[GroundTruth]:
        """The labels stored for these ids, in no particular order; ids without one are left out."""
