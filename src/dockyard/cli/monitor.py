"""``dockyard monitor``: create monitors, run them (for cron or CI), list their alerts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
import yaml

from dockyard.cli.common import JsonOption, UriOption, client, handle_errors, reference_data
from dockyard.cli.output import fmt_time, print_json, table
from dockyard.entities.monitoring import Cohort, MonitorSpec, Rule
from dockyard.errors import InvalidArgument

app = typer.Typer(
    help="Watch deployed models: drift, data quality, model quality with late labels, "
         "latency, and alerts.",
    no_args_is_help=True,
)

_WINDOW = re.compile(r"^\s*(\d+)\s*([mhd])\s*\Z")
_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def _window(text: str) -> int:
    match = _WINDOW.match(text)
    if not match:
        raise InvalidArgument(f"--window {text!r}: give a size such as 1h, 6h or 1d")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def _cohort(text: str) -> Cohort:
    """``plan`` (by value) or ``age:30,60`` (by bins)."""
    column, _, bins = text.partition(":")
    if not bins:
        return Cohort(column=column)
    try:
        return Cohort(column=column, bins=[float(b) for b in bins.split(",")])
    except ValueError:
        raise InvalidArgument(f"--cohort {text!r}: bins are numbers, as in age:30,60") from None


def _rules(path: Path | None) -> list[Rule]:
    if path is None:
        return []
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidArgument(f"cannot read the rules in {path}: {exc}") from None
    items = loaded.get("rules") if isinstance(loaded, dict) else loaded
    if not isinstance(items, list):
        raise InvalidArgument(f"{path}: give a list of rules (or a 'rules:' key holding one)")
    try:
        return [Rule(**item) for item in items]
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{path}: {exc}") from None


@app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="The monitor's name.", show_default=False),
    model: str = typer.Option(..., "--model", "-m", help="The model it watches.",
                              show_default=False),
    version: str = typer.Option(None, "--version", "-v", help="Only this version."),
    deployment: str = typer.Option(None, "--deployment", "-d",
                                   help="Only this deployment (as the server logs it)."),
    task: str = typer.Option(None, "--task",
                             help="classification or regression: the quality metrics to compute."),
    window: str = typer.Option("1h", "--window", help="Window size: 1h, 6h, 1d ..."),
    reference: str = typer.Option(None, "--reference",
                                  help="Reference data (.parquet or .csv, or a dataset version "
                                       "such as churn@2), e.g. the training set; profiled "
                                       "once and stored."),
    target: str = typer.Option(None, "--target", help="The reference's label column."),
    reference_prediction: str = typer.Option(
        None, "--reference-prediction",
        help="The reference's prediction column (with --target: the reference's quality)."),
    feature: list[str] = typer.Option(None, "--feature", "-f",
                                      help="A feature to watch (repeat; default: every "
                                           "column of the reference)."),
    categorical: list[str] = typer.Option(None, "--categorical", "-c",
                                          help="A categorical feature (repeat)."),
    prediction: str = typer.Option(None, "--prediction",
                                   help="The output to watch, if the model has several."),
    positive_class: str = typer.Option(None, "--positive-class",
                                       help="The positive class, for precision/recall."),
    cohort: list[str] = typer.Option(None, "--cohort",
                                     help="A cohort: a column (plan) or a column and bins "
                                          "(age:30,60). Repeat."),
    rules: Path = typer.Option(None, "--rules", help="A YAML list of rules (default: drift, "
                                                     "missing values, quality, latency)."),
    webhook: list[str] = typer.Option(None, "--webhook", help="A Slack-compatible webhook URL."),
    alertmanager: str = typer.Option(None, "--alertmanager",
                                     help="Alertmanager's URL (http://host:9093)."),
    email: list[str] = typer.Option(None, "--email", help="An address to email alerts to."),
    smtp: str = typer.Option("localhost:25", "--smtp", help="The SMTP server, host:port."),
    sender: str = typer.Option("dockyard@localhost", "--email-from",
                               help="The sender of alert emails."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a monitor for a model, with its reference and rules."""
    from dockyard.monitor.monitors import create_monitor

    channels: list[dict[str, Any]] = [{"type": "webhook", "url": u} for u in webhook or []]
    if alertmanager:
        channels.append({"type": "alertmanager", "url": alertmanager})
    if email:
        host, _, port = smtp.rpartition(":") if ":" in smtp else (smtp, "", "25")
        if not host or not port.isdigit():
            raise InvalidArgument(f"--smtp {smtp!r}: give host:port, as in smtp.example.org:587")
        channels.append({"type": "email", "host": host, "port": int(port),
                         "sender": sender, "recipients": list(email)})
    positive: Any = positive_class
    if positive_class is not None and re.fullmatch(r"-?\d+", positive_class):
        positive = int(positive_class)
    spec = MonitorSpec(
        name=name, model_name=model, model_version=version, deployment=deployment, task=task,
        window_seconds=_window(window), features=list(feature or []),
        categorical=list(categorical or []), prediction=prediction, positive_class=positive,
        cohorts=[_cohort(c) for c in cohort or []], rules=_rules(rules), channels=channels)
    with client(uri) as c:
        monitor = create_monitor(c, spec, reference_data(reference, "--reference"),
                                 target=target,
                                 prediction=reference_prediction)
    if as_json:
        print_json(monitor.model_dump(mode="json"))
        return
    typer.echo(f"monitor {monitor.name!r} ({monitor.id}) watches {monitor.model_name}"
               f"{' v' + monitor.model_version if monitor.model_version else ''}: "
               f"{len(monitor.features)} features, {len(monitor.rules)} rules, "
               f"{len(monitor.channels)} channels"
               + ("" if monitor.reference else "; no reference yet, so no drift"))


@app.command("list")
@handle_errors
def list_monitors(uri: str = UriOption, as_json: bool = JsonOption) -> None:
    """Every monitor, with its model and when it last ran."""
    with client(uri) as c:
        monitors = c.list_monitors()
    if as_json:
        print_json([m.model_dump(mode="json") for m in monitors])
        return
    table(None, ["name", "model", "version", "deployment", "window", "rules", "last run"],
          [[m.name, m.model_name, m.model_version or "any", m.deployment or "any",
            f"{m.window_seconds // 60} min", len(m.rules), fmt_time(m.last_run_at)]
           for m in monitors])


@app.command("run")
@handle_errors
def run(
    names: list[str] = typer.Argument(None, help="Monitors to run (default: every one).",
                                      show_default=False),
    since: str = typer.Option(None, "--since", help="With --until: judge exactly this period "
                                                    "(ISO time, or 2h / 7d back from now)."),
    until: str = typer.Option(None, "--until", help="The end of that period."),
    fail_on_alert: bool = typer.Option(False, "--fail-on-alert",
                                       help="Exit 1 if an alert is firing (for CI)."),
    alert: bool = typer.Option(True, "--alert/--no-alert",
                               help="Move alerts and notify (--no-alert: compute and store "
                                    "values only, to backfill an old period)."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Run monitors once: compute their windows, update alerts, send notifications."""
    from dockyard.cli.predictions import _when
    from dockyard.monitor.monitors import run_monitor

    start, end = _when(since, "--since"), _when(until, "--until")
    bounds = {"since": int(start.timestamp() * 1000) if start else None,
              "until": int(end.timestamp() * 1000) if end else None}
    firing = 0
    report = []
    with client(uri) as c:
        for monitor in names or [m.name for m in c.list_monitors()]:
            done = run_monitor(c, monitor, alert=alert, **bounds)
            firing += len(done.firing)
            report.append({
                "monitor": done.monitor.name, "windows": len(done.windows),
                "values": len(done.values),
                "drifted": sorted({v.feature for v in done.values if v.metric == "drifted"
                                   and v.value == 1.0 and (v.window_start, v.window_end)
                                   == (done.windows[-1] if done.windows else None)}),
                "alerts": [{"rule": a.rule, "state": a.state, "severity": a.severity,
                            "summary": a.summary} for a in done.alerts]})
    if as_json:
        print_json(report)
    else:
        for item in report:
            typer.echo(f"{item['monitor']}: {item['windows']} windows, "
                       f"drifted: {', '.join(item['drifted']) or 'none'}")
            for a in item["alerts"]:
                typer.echo(f"  [{a['state'].upper()}] {a['severity']}: {a['rule']}: "
                           f"{a['summary']}")
    if fail_on_alert and firing:
        raise typer.Exit(1)


@app.command("alerts")
@handle_errors
def alerts(
    name: str = typer.Argument(None, help="Only this monitor's alerts.", show_default=False),
    state: list[str] = typer.Option(None, "--state", help="pending, firing or resolved "
                                                          "(repeat; default: all)."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Alerts, newest first."""
    with client(uri) as c:
        monitor_id = c.get_monitor_by_name(name).id if name else None
        found = c.list_alerts(monitor_id=monitor_id, states=state or None)
    if as_json:
        print_json([a.model_dump(mode="json") for a in found])
        return
    table(None, ["state", "severity", "rule", "summary", "since"],
          [[a.state, a.severity, a.rule, a.summary, fmt_time(a.fired_at or a.started_at)]
           for a in found])


@app.command("show")
@handle_errors
def show(
    name: str = typer.Argument(..., help="The monitor.", show_default=False),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """A monitor's state: open alerts, conditions that hold, its latest window."""
    from dockyard.monitor.overview import status_of

    with client(uri) as c:
        status = status_of(c, c.get_monitor_by_name(name))
    if as_json:
        print_json(status.model_dump(mode="json"))
        return
    m = status.monitor
    typer.echo(f"{m.name}: {status.status}"
               + (f" ({status.severity})" if status.severity else "")
               + f" | {m.model_name} {m.model_version or 'any version'}"
               + f" on {m.deployment or 'any deployment'} | {m.window_seconds // 60} min windows"
               + f" | last run {fmt_time(m.last_run_at)}")
    if status.window_start is not None:
        coverage = ("-" if status.label_coverage is None else f"{status.label_coverage:.0%}")
        typer.echo(f"latest window {fmt_time(status.window_start)}: {status.rows} rows, "
                   f"labels {coverage}, drifted: {', '.join(status.drifted) or 'none'}")
    for alert in status.alerts:
        typer.echo(f"  [{alert.state.upper()}] {alert.severity}: {alert.rule}: {alert.summary}")
    for line in status.degraded:
        typer.echo(f"  holds: {line}")


@app.command("reference")
@handle_errors
def reference(
    name: str = typer.Argument(..., help="The monitor.", show_default=False),
    path: Path = typer.Argument(..., help="Reference data, .parquet or .csv.",
                                show_default=False),
    target: str = typer.Option(None, "--target", help="The reference's label column."),
    reference_prediction: str = typer.Option(None, "--reference-prediction",
                                             help="The reference's prediction column."),
    uri: str = UriOption,
) -> None:
    """Replace a monitor's reference: profiled once here, only the profile is stored."""
    from dockyard.monitor.monitors import set_reference

    with client(uri) as c:
        monitor = set_reference(c, c.get_monitor_by_name(name), path, target=target,
                                prediction=reference_prediction)
    typer.echo(f"monitor {monitor.name!r}: new reference of {len(monitor.features)} features")


@app.command("delete")
@handle_errors
def delete(
    name: str = typer.Argument(..., help="The monitor.", show_default=False),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    uri: str = UriOption,
) -> None:
    """Delete a monitor with its values and alerts (the prediction log stays)."""
    with client(uri) as c:
        monitor = c.get_monitor_by_name(name)
        if not yes:
            typer.confirm(f"delete monitor {name!r} with its values and alerts?", abort=True)
        c.delete_monitor(monitor.id)
    typer.echo(f"deleted monitor {name!r}")
