"""Monitor values as Prometheus metrics, for an existing Prometheus and Grafana.

``dockyard server`` serves them on ``/metrics``. Each scrape reads every
monitor's latest window (the newest with enough rows) from the store, so
the gauges always match what the UI shows. Labels are bounded: monitor, model,
version (``any`` for a monitor of every version), and feature (the
monitor's own list) or metric name; cohorts are left out, since their
values are data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dockyard.entities.monitoring import SEVERITIES
from dockyard.monitor.overview import latest_values

if TYPE_CHECKING:
    from prometheus_client import Metric

    from dockyard.client import Client

__all__ = ["MonitorCollector"]

_FEATURE_GAUGES = {
    "drift_score": "Jensen-Shannon distance of the feature from the reference (0 same, 1 disjoint)",
    "drifted": "1 when the feature drifted by its default test, else 0",
    "psi": "Population stability index of the feature against the reference",
    "null_rate": "Share of null values of the feature",
    "out_of_range": "Share of values outside the reference's range",
    "unseen_categories": "Share of values in categories the reference never had",
}
_WINDOW_GAUGES = {
    "rows": "Predictions in the latest window",
    "label_coverage": "Share of the latest window's predictions that have a label",
    "share_drifted": "Share of the monitored features that drifted",
    "latency_p99": "99th percentile of prediction latency in the latest window, ms",
}
_QUALITY = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "mae", "rmse",
            "mape", "r2")


class MonitorCollector(Collector):
    """Yields the gauges of every monitor's latest window at each scrape."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def collect(self) -> Iterator[Metric]:
        base = ["monitor", "model", "version"]
        features = {m: GaugeMetricFamily(f"dockyard_monitor_{m}", h, labels=[*base, "feature"])
                    for m, h in _FEATURE_GAUGES.items()}
        windows = {m: GaugeMetricFamily(f"dockyard_monitor_{m}", h, labels=base)
                   for m, h in _WINDOW_GAUGES.items()}
        quality = GaugeMetricFamily("dockyard_monitor_quality",
                                    "Model quality in the latest window (when it had enough labels)",
                                    labels=[*base, "metric"])
        firing = GaugeMetricFamily("dockyard_monitor_alerts_firing", "Alerts firing now",
                                   labels=[*base, "severity"])
        last_run = GaugeMetricFamily("dockyard_monitor_last_run_timestamp_seconds",
                                     "When the monitor last ran", labels=base)
        for monitor in self.client.list_monitors():
            labels = [monitor.name, monitor.model_name, monitor.model_version or "any"]
            for value in latest_values(self.client, monitor):
                if value.value is None or value.cohort:
                    continue
                if value.feature and value.metric in features:
                    features[value.metric].add_metric([*labels, value.feature], value.value)
                elif not value.feature and value.metric in windows:
                    windows[value.metric].add_metric(labels, value.value)
                elif not value.feature and value.metric in _QUALITY:
                    quality.add_metric([*labels, value.metric], value.value)
            alerts = self.client.list_alerts(monitor_id=monitor.id, states=("firing",))
            for severity in SEVERITIES:
                firing.add_metric([*labels, severity],
                                  sum(1 for a in alerts if a.severity == severity))
            if monitor.last_run_at is not None:
                last_run.add_metric(labels, monitor.last_run_at / 1000)
        yield from features.values()
        yield from windows.values()
        yield from (quality, firing, last_run)
