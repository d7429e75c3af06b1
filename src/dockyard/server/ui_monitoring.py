"""The monitoring pages: what needs attention, one monitor over time, one feature.

The same pattern as :mod:`dockyard.server.ui`: every page reads through the
client the REST API uses and the functions its monitoring routes call
(:func:`~dockyard.monitor.overview.overview`,
:func:`~dockyard.monitor.monitors.feature_histogram`), keeps its state in the
query string, and raises the errors of :mod:`dockyard.errors` for bad input.

Tables are rendered here and work without JavaScript. The charts over time
carry their few hundred numbers in the page and are drawn with uPlot; a
feature's histograms are inline SVG drawn on the server
(:mod:`dockyard.server.ui_histogram`). A value the monitor could not
compute (``value`` None) shows its status ("no_data: 12 rows, 30 needed") in
tables and is a gap in charts, never a zero.

Channels are shown by type only: their settings hold URLs, addresses and
passwords, which a page must not show to everyone who can read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dockyard.client import Client
from dockyard.entities import now_ms
from dockyard.entities.monitoring import PREDICTION, AlertEvent, Monitor, MonitorValue
from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.monitor.monitors import feature_histogram, load_reference
from dockyard.monitor.overview import MonitorStatus, latest_window, overview, status_of
from dockyard.server.deps import client_of
from dockyard.server.ui import query_url, render, templates
from dockyard.server.ui_histogram import histogram_view
from dockyard.server.ui_models import model_url

router = APIRouter(include_in_schema=False)

WINDOW_CHOICES = (24, 72, 168, 720)
DEFAULT_WINDOWS = 24
ALERTS_SHOWN = 50
"""The most recently updated alerts whose events make up a monitor's alert history."""
STATUS_TEXT = {"firing": "firing", "degraded": "degraded", "no_data": "no data", "ok": "ok"}
DRIFT_METRICS = ("drift_score", "drifted", "psi", "wasserstein", "ks", "chi_square_p")
DATA_QUALITY_METRICS = ("null_rate", "out_of_range", "unseen_categories")
TASK_METRICS = {"classification": ("accuracy", "f1"), "regression": ("mae", "r2")}
METRIC_NAMES = {
    "drift_score": "drift score", "psi": "PSI", "ks": "KS", "chi_square_p": "χ² p",
    "wasserstein": "Wasserstein", "null_rate": "null rate", "out_of_range": "out of range",
    "unseen_categories": "unseen categories", "f1": "F1", "mae": "MAE", "r2": "R²",
    "label_coverage": "label coverage", "latency_p50": "p50", "latency_p95": "p95",
    "latency_p99": "p99", "share_drifted": "share drifted", "roc_auc": "ROC AUC",
}
SHARES = frozenset({"null_rate", "out_of_range", "unseen_categories", "label_coverage",
                    "share_drifted", "type_error_rate"})


def metric_name(metric: str) -> str:
    """A metric as a column heading: ``null_rate`` is "null rate", ``r2`` is "R²"."""
    return METRIC_NAMES.get(metric, metric.replace("_", " "))


def fmt_metric(value: float | None, metric: str) -> str:
    """A value as its metric reads best: shares in %, latency in ms, the drift flag as yes/no."""
    if value is None:
        return ""
    if metric == "drifted":
        return "yes" if value >= 0.5 else "no"
    if metric in SHARES:
        return f"{value:.1%}"
    if metric.startswith("latency_"):
        return f"{value:.3g} ms"
    if metric == "throughput":
        return f"{value:.3g}/s"
    if metric == "rows":
        return f"{int(value):,}"
    return f"{value:.4g}"


def other_conditions(state: MonitorStatus) -> list[str]:
    """The conditions that hold in the latest window but have no open alert (yet)."""
    alerted = {f"{a.rule}: {a.summary}" for a in state.alerts}
    return [d for d in state.degraded if d not in alerted]


def monitor_url(name: str) -> str:
    """The page of the monitor named ``name``."""
    return f"/monitoring/{quote(name, safe='')}"


def feature_url(name: str, feature: str, **params: Any) -> str:
    """The drill-down of one feature of a monitor, with the non-empty query ``params``."""
    return query_url(f"{monitor_url(name)}/features/{quote(feature, safe='')}", params)


def fmt_span(seconds: int) -> str:
    """A window size as people say it: ``1h``, ``30m``, ``1d 12h``."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, sec = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (sec, "s"))
             if n]
    return " ".join(parts) or "0s"


templates.env.filters.update(metric=fmt_metric, metric_name=metric_name, span=fmt_span,
                             heading=lambda name: name[:1].upper() + name[1:])
templates.env.globals.update(monitor_url=monitor_url, feature_url=feature_url, model_url=model_url,
                             status_text=STATUS_TEXT, default_windows=DEFAULT_WINDOWS,
                             other_conditions=other_conditions)


# values over windows ---------------------------------------------------------------------
class Values:
    """A monitor's values of some windows, by window, metric, feature and cohort."""

    def __init__(self, values: Sequence[MonitorValue]) -> None:
        self.items = list(values)
        self._by_key = {(v.window_start, v.metric, v.feature, v.cohort): v for v in values}
        self.features = list(dict.fromkeys(v.feature for v in values if v.feature))
        # "plan=*" is the marker of a cohort column the log lacks, not a cohort
        self.cohorts = sorted({v.cohort for v in values if v.cohort and
                               not v.cohort.endswith("=*")})

    def get(self, start: int, metric: str, feature: str = "",
            cohort: str = "") -> MonitorValue | None:
        """The value of one window, or None when the window has no such value stored."""
        return self._by_key.get((start, metric, feature, cohort))

    def line(self, starts: Iterable[int], metric: str, feature: str = "",
             cohort: str = "") -> list[float | None]:
        """The metric in each window: None where it has no value (a gap in the chart)."""
        found = (self.get(s, metric, feature, cohort) for s in starts)
        return [v.value if v is not None else None for v in found]


def recent_windows(client: Client, monitor: Monitor, count: int) -> list[tuple[int, int]]:
    """The last ``count`` windows the monitor has values for, oldest first."""
    size = monitor.window_seconds * 1000
    anchor = max(now_ms(), monitor.last_run_at or 0)
    rows = client.get_monitor_values(monitor.id, since=anchor - (count + 1) * size,
                                     metric="rows", feature="", cohort="")
    if len({v.window_start for v in rows}) < count:
        # a backfill, or a monitor that stopped running: its windows are older
        rows = client.get_monitor_values(monitor.id, metric="rows", feature="", cohort="")
    return sorted({(v.window_start, v.window_end) for v in rows})[-count:]


def values_of(client: Client, monitor: Monitor, windows: Sequence[tuple[int, int]]) -> Values:
    """Every value the monitor stored for ``windows`` (a run of consecutive windows)."""
    if not windows:
        return Values([])
    return Values(client.get_monitor_values(monitor.id, since=windows[0][0],
                                            until=windows[-1][0] + 1))


def watched_features(monitor: Monitor, values: Values, extra: Iterable[str] = ()) -> list[str]:
    """The monitor's features in its own order, the prediction, then any others with values."""
    return list(dict.fromkeys([*monitor.features, *(f for f in values.features
                                                     if f != PREDICTION), *extra,
                               PREDICTION]))


def _check_windows(windows: int) -> None:
    if windows not in WINDOW_CHOICES:
        raise InvalidArgument(
            f"windows must be one of {', '.join(map(str, WINDOW_CHOICES))}; got {windows}")


# charts ----------------------------------------------------------------------------------
@dataclass
class Chart:
    """One uPlot chart: values per window start, one series per label."""

    id: str
    title: str
    metric: str
    """Decides the axis format: a share (%), latency (ms), throughput (/s) or a plain number."""
    x: list[float]
    series: list[dict[str, Any]] = field(default_factory=list)

    def add(self, label: str, values: list[float | None]) -> None:
        """Add a line: one value (or None, a gap) per window."""
        self.series.append({"label": label, "values": values})

    @property
    def empty(self) -> bool:
        return not any(v is not None for s in self.series for v in s["values"])

    def data(self) -> dict[str, Any]:
        """What ``app.js`` draws: x (window starts in seconds), the unit and the series."""
        unit = ("share" if self.metric in SHARES else "ms" if self.metric.startswith("latency_")
                else "per_second" if self.metric == "throughput" else "")
        return {"x": self.x, "unit": unit, "series": self.series}


def monitor_charts(monitor: Monitor, values: Values, starts: list[int]) -> list[Chart]:
    """Drift per feature, quality overall and per cohort, label coverage, latency, throughput."""
    x = [s / 1000 for s in starts]
    drift = Chart("chart-drift", "Drift score per feature", "drift_score", x)
    for feature in watched_features(monitor, values):
        drift.add(feature, values.line(starts, "drift_score", feature))
    charts = [drift]
    for metric in TASK_METRICS.get(monitor.task or "", ()):
        chart = Chart(f"chart-{metric}", f"Model quality: {metric_name(metric)}", metric, x)
        chart.add("overall", values.line(starts, metric))
        for cohort in values.cohorts:
            chart.add(cohort, values.line(starts, metric, cohort=cohort))
        charts.append(chart)
    coverage = Chart("chart-coverage", "Label coverage", "label_coverage", x)
    coverage.add("overall", values.line(starts, "label_coverage"))
    for cohort in values.cohorts:
        coverage.add(cohort, values.line(starts, "label_coverage", cohort=cohort))
    latency = Chart("chart-latency", "Latency", "latency_p99", x)
    for metric in ("latency_p50", "latency_p95", "latency_p99"):
        latency.add(metric_name(metric), values.line(starts, metric))
    throughput = Chart("chart-throughput", "Throughput", "throughput", x)
    throughput.add("predictions per second", values.line(starts, "throughput"))
    return [*charts, coverage, latency, throughput]


def feature_charts(feature: str, values: Values, starts: list[int]) -> list[Chart]:
    """Drift score, PSI (on a scale of its own) and data quality of one feature."""
    x = [s / 1000 for s in starts]
    drift = Chart("chart-feature-drift", f"Drift score of {feature}", "drift_score", x)
    drift.add("drift score", values.line(starts, "drift_score", feature))
    psi = Chart("chart-feature-psi", f"PSI of {feature}", "psi", x)  # another scale
    psi.add("PSI", values.line(starts, "psi", feature))
    checks = Chart("chart-feature-quality", f"Data quality of {feature}", "null_rate", x)
    for metric in DATA_QUALITY_METRICS:
        checks.add(metric_name(metric), values.line(starts, metric, feature))
    return [drift, psi, checks]


# the pages -------------------------------------------------------------------------------
@router.get("/monitoring")
def needs_attention(request: Request) -> Response:
    """Every monitor, worst first: firing (by severity), degraded, no data, ok."""
    found = overview(client_of(request))
    return render(request, "monitoring.html", "monitoring", items=found.items,
                  counts=found.counts)


@dataclass
class HistoryRow:
    """One change of an alert's state, with the alert it belongs to."""

    event: AlertEvent
    rule: str
    feature: str
    cohort: str
    severity: str
    deliveries: list[tuple[str, bool]]
    """(channel type, delivered) per channel: the channel's name holds its address."""


def alert_history(client: Client, monitor: Monitor) -> list[HistoryRow]:
    """The events of the monitor's most recently updated alerts, newest first."""
    rows: list[tuple[int, int, HistoryRow]] = []
    for alert in client.list_alerts(monitor_id=monitor.id, max_results=ALERTS_SHOWN):
        for order, event in enumerate(client.list_alert_events(alert.id)):
            sent = [(str(d.get("channel") or "channel").split(" ", 1)[0], bool(d.get("ok")))
                    for d in event.deliveries]
            rows.append((event.time, order, HistoryRow(event, alert.rule, alert.feature,
                                                       alert.cohort, alert.severity, sent)))
    # an alert that fires at once is pending and firing at the same time: firing is newer
    rows.sort(key=lambda r: r[:2], reverse=True)
    return [row for _, _, row in rows]


def _channel_types(monitor: Monitor) -> list[str]:
    return [str(c.get("type") or "unknown") for c in monitor.channels]


@router.get("/monitoring/{name}")
def monitor_page(request: Request, name: str, windows: int = DEFAULT_WINDOWS) -> Response:
    """A monitor: settings, alerts, charts of its last ``windows`` windows, the latest one."""
    _check_windows(windows)
    client = client_of(request)
    monitor = client.get_monitor_by_name(name)
    spans = recent_windows(client, monitor, windows)
    values = values_of(client, monitor, spans)
    starts = [s for s, _ in spans]
    latest = latest_window(monitor, values.items)
    latest_values = Values(latest)
    start = latest[0].window_start if latest else None
    features = watched_features(monitor, values)
    rows = {f: {m: latest_values.get(start, m, f) for m in (*DRIFT_METRICS, *DATA_QUALITY_METRICS)}
            for f in features} if start is not None else {}
    per_cohort = ("rows", "label_coverage", *TASK_METRICS.get(monitor.task or "", ()))
    overall = (*per_cohort, "share_drifted", "latency_p50", "latency_p99", "throughput")
    return render(
        request, "monitoring_monitor.html", "monitoring", monitor=monitor,
        state=status_of(client, monitor), windows=windows, window_choices=WINDOW_CHOICES,
        spans=spans, charts=monitor_charts(monitor, values, starts) if spans else [],
        latest=latest[0] if latest else None, feature_rows=rows,
        overall=[(m, latest_values.get(start, m)) for m in overall] if latest else [],
        cohorts=[(c, [(m, latest_values.get(start, m, cohort=c)) for m in per_cohort])
                 for c in latest_values.cohorts] if latest else [],
        drift_metrics=DRIFT_METRICS, quality_metrics=DATA_QUALITY_METRICS,
        channels=_channel_types(monitor), history=alert_history(client, monitor))


# one feature -----------------------------------------------------------------------------
def _window_choice(spans: list[tuple[int, int]], latest: list[MonitorValue], window: str,
                   size: int) -> tuple[int, int]:
    """The window a drill-down shows: the one asked for, else the latest with enough rows."""
    if window:
        try:
            start = int(window)
        except ValueError:
            raise InvalidArgument(f"window {window!r:.40} is not a window start (ms)") from None
        for span in spans:
            if span[0] == start:
                return span
        raise InvalidArgument(f"the monitor has no window starting at {start}: choose one "
                              "from the list")
    if latest:
        return latest[0].window_start, latest[0].window_end
    if spans:
        return spans[-1]
    now = now_ms()
    return now - size, now


@router.get("/monitoring/{name}/features/{feature:path}")
def feature_page(request: Request, name: str, feature: str, window: str = "",
                 windows: int = DEFAULT_WINDOWS) -> Response:
    """One feature (or the prediction) of a monitor: histograms of ``window`` against the
    reference, and its drift and data quality over the last ``windows`` windows."""
    _check_windows(windows)
    client = client_of(request)
    monitor = client.get_monitor_by_name(name)
    reference = load_reference(client, monitor)
    spans = recent_windows(client, monitor, windows)
    values = values_of(client, monitor, spans)
    profiled = list(reference.profile.columns) if reference else []
    known = watched_features(monitor, values, profiled)
    if feature not in known:
        raise NotFound(f"monitor {monitor.name!r} does not watch {feature!r}; it watches "
                       f"{', '.join(known)}")
    since, until = _window_choice(spans, latest_window(monitor, values.items), window,
                                  monitor.window_seconds * 1000)
    histogram, problem = None, ""
    if reference is None:
        problem = "no_reference"
    elif feature not in profiled:
        problem = "not_profiled"
    else:
        try:
            histogram = histogram_view(feature_histogram(client, monitor, feature, since=since,
                                                         until=until))
        except DockyardError as exc:
            problem = exc.message
    starts = [s for s, _ in spans]
    metrics = (*DRIFT_METRICS, *DATA_QUALITY_METRICS)
    table = [(span, {m: values.get(span[0], m, feature) for m in metrics})
             for span in reversed(spans)]
    return render(
        request, "monitoring_feature.html", "monitoring", monitor=monitor, feature=feature,
        features=known, histogram=histogram, problem=problem, since=since, until=until,
        stored=(since, until) in spans, spans=spans, windows=windows,
        window_choices=WINDOW_CHOICES, charts=feature_charts(feature, values, starts),
        table=table, metrics=metrics)
