"""The monitoring interface: ground truth, monitors, their values per window, and alerts.

:class:`~dockyard.store.base.MetadataStore` inherits it. Implementations: the
SQL store (SQLite, PostgreSQL) and the REST store; ``tests/contract`` runs
the same suite against each.

Error contract, shared by all implementations:

* ``InvalidArgument``, raised before anything is written, for a malformed
  prediction id or label, lists of different lengths, an empty call or one
  over :data:`~dockyard.entities.monitoring.MAX_LABELS_PER_CALL` labels; for
  a monitor spec that :func:`~dockyard.entities.monitoring.check_monitor_spec`
  refuses (a bad name, rule, cohort, channel, window or limit); for a
  malformed monitor value, alert or alert event, or over
  :data:`~dockyard.entities.monitoring.MAX_VALUES_PER_CALL` values; for an
  unknown alert state in a filter or a bad ``max_results``;
* ``NotFound`` for an unknown monitor id or name (also when values or an
  alert name one) and an unknown alert id (also when an event names one);
* ``AlreadyExists`` for a monitor name that another monitor has;
* ``Conflict`` when a concurrent change got in the way (a monitor deleted
  while its values were written): nothing was written, and a retry sees
  the new state;
* ``ServerUnavailable`` / ``StoreError`` as for the rest of the store.

A failed call writes nothing. A label already stored is never overwritten
silently: it is reported as a duplicate, or replaced (and reported) when the
caller asks for that. Monitor values and alerts, by contrast, are the
latest word: writing one again with the same key replaces it. Alert events
are only ever appended.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from dockyard.entities import (
    Alert,
    AlertEvent,
    GroundTruth,
    GroundTruthResult,
    Monitor,
    MonitorSpec,
    MonitorValue,
)


class MonitoringStore(ABC):
    """Ground truth (keyed by prediction id), monitors, their values and their alerts."""

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
        one time for all, or one per label; it defaults to now. An id that
        already has a label keeps it and is listed in ``duplicate_ids`` (so is
        the second of an id given twice),
        unless ``replace`` is true: then the new label replaces it and the id
        is listed in ``replaced_ids``.
        """

    @abstractmethod
    def get_ground_truth(self, prediction_ids: Sequence[str]) -> list[GroundTruth]:
        """The labels stored for these ids, in no particular order; ids without one are left out."""

    # monitors ---------------------------------------------------------------------------
    @abstractmethod
    def create_monitor(self, spec: MonitorSpec) -> Monitor:
        """Store a new monitor; its id is 32 lowercase hex characters.

        The spec is checked whole by
        :func:`~dockyard.entities.monitoring.check_monitor_spec` (given a
        :class:`~dockyard.entities.Monitor`, only its spec is used). Raises
        AlreadyExists if a monitor has that name (names are case-sensitive).
        """

    @abstractmethod
    def get_monitor(self, monitor_id: str) -> Monitor:
        """Raises NotFound."""

    @abstractmethod
    def get_monitor_by_name(self, name: str) -> Monitor:
        """Raises NotFound."""

    @abstractmethod
    def list_monitors(self, model_name: str | None = None,
                      deployment: str | None = None) -> list[Monitor]:
        """Every monitor (of ``model_name``, of ``deployment``, when given), by name."""

    @abstractmethod
    def update_monitor(self, monitor_id: str, spec: MonitorSpec) -> Monitor:
        """Replace a monitor's spec, name included, and move ``updated_at`` forward.

        Its id, ``created_at``, ``last_run_at``, values and alerts stay.
        Raises NotFound, AlreadyExists for a name another monitor has,
        InvalidArgument as :meth:`create_monitor`.
        """

    @abstractmethod
    def set_monitor_run(self, monitor_id: str, time: int) -> None:
        """Record when the monitor was last evaluated (``last_run_at``, ms since the epoch).

        Leaves ``updated_at`` alone (that is for changes of the spec). Raises NotFound.
        """

    @abstractmethod
    def delete_monitor(self, monitor_id: str) -> Monitor:
        """Delete a monitor with its values, alerts and their events; returns it as it was.

        Raises NotFound.
        """

    # values per window --------------------------------------------------------------------
    @abstractmethod
    def log_monitor_values(self, values: Sequence[MonitorValue]) -> int:
        """Write values, replacing any stored with the same key; returns the rows written.

        The key is (monitor_id, window_start, metric, feature, cohort): a
        window computed again replaces what it said before (value, count,
        reference, status, window_end, computed_at). A key given twice in one
        call is written once, with the later value; the count returned is of
        distinct keys. Atomic: all values or none. Concurrent writers of the
        same keys both succeed, one after the other. Raises NotFound when a
        value names an unknown monitor, InvalidArgument for a malformed value
        (see :func:`~dockyard.entities.monitoring.check_monitor_values`).
        """

    @abstractmethod
    def get_monitor_values(self, monitor_id: str, since: int | None = None,
                           until: int | None = None, metric: str | None = None,
                           feature: str | None = None,
                           cohort: str | None = None) -> list[MonitorValue]:
        """A monitor's values with ``window_start`` in [``since``, ``until``).

        ``metric``, ``feature`` and ``cohort`` keep exact matches (``""`` is
        the value of the whole window, or of no cohort); None keeps every
        one. Ordered by window_start, metric, feature, cohort. Raises NotFound
        for an unknown monitor.
        """

    # alerts -----------------------------------------------------------------------------------
    @abstractmethod
    def save_alert(self, alert: Alert) -> Alert:
        """Insert an alert, or replace the one with its id (its events stay); returns it.

        Raises NotFound for an unknown monitor, InvalidArgument for a
        malformed alert (see :func:`~dockyard.entities.monitoring.check_alert`),
        Conflict when another open (pending or firing) alert of the monitor has
        the same fingerprint: a monitor has one open alert per fingerprint.
        """

    @abstractmethod
    def get_alert(self, alert_id: str) -> Alert:
        """Raises NotFound."""

    @abstractmethod
    def list_alerts(self, monitor_id: str | None = None, states: Sequence[str] | None = None,
                    max_results: int = 1000) -> list[Alert]:
        """Alerts (of one monitor; in one of ``states``), the most recently updated first.

        ``states`` (a list, or one state) holds values of
        :data:`~dockyard.entities.monitoring.ALERT_STATES`; None or empty keeps
        every state. ``max_results`` is 1 to 50,000. An unknown monitor has no
        alerts (no error).
        """

    @abstractmethod
    def record_alert_event(self, event: AlertEvent) -> AlertEvent:
        """Append a change of an alert's state; there is no way to change or delete one.

        Raises NotFound for an unknown alert, InvalidArgument for a malformed event.
        """

    @abstractmethod
    def list_alert_events(self, alert_id: str) -> list[AlertEvent]:
        """An alert's events, oldest first (by time, then by when they were recorded).

        Raises NotFound for an unknown alert.
        """
