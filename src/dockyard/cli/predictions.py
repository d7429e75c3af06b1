"""``dockyard predictions``: read the prediction log that ``dockyard serve`` writes."""

from __future__ import annotations

import datetime as dt
import re
import sys
from typing import TYPE_CHECKING, Any

import typer

from dockyard.cli.common import handle_errors
from dockyard.cli.output import print_json, table

if TYPE_CHECKING:
    import pyarrow as pa

app = typer.Typer(
    help="Read the prediction log: what the model servers predicted, for whom and how fast.",
    no_args_is_help=True,
)

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SHOWN = ("time", "prediction_id", "model_name", "model_version", "deployment", "latency_ms")
_WIDE = 40
_LABELS = {"model_name": "model", "model_version": "version"}

StoreOption = typer.Option(
    None, "--artifacts", envvar="DOCKYARD_ARTIFACTS",
    help="Artifact root the servers log to: a folder or s3://bucket/prefix "
         "(default: $DOCKYARD_HOME/artifacts).")
PrefixOption = typer.Option("predictions", "--prefix",
                            help="The log's folder in the artifact root.")
ModelOption = typer.Option(None, "--model", "-m", help="Only this model.")
VersionOption = typer.Option(None, "--version", "-v", help="Only this model version.")
DeploymentOption = typer.Option(None, "--deployment", "-d", help="Only this deployment.")
FormatOption = typer.Option("table", "--format", "-f", help="table, json or csv.")


def _when(text: str | None, option: str) -> dt.datetime | None:
    """An ISO 8601 time (naive is UTC) or a duration back from now: 30m, 2h, 7d."""
    if text is None:
        return None
    match = _RELATIVE.match(text)
    if match:
        amount, unit = match.groups()
        return dt.datetime.now(dt.UTC) - dt.timedelta(**{_UNITS[unit]: float(amount)})
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a time (2026-05-01T12:00) nor a duration (30m, 2h, 7d)",
            param_hint=option) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _show(result: pa.Table, fmt: str, all_columns: bool) -> None:
    if fmt == "json":
        print_json(result.to_pylist())
        return
    if fmt == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(result, sys.stdout.buffer)
        return
    if all_columns:
        names = result.column_names
        rows = [[_cell(v) for v in row]
                for row in zip(*(result.column(n).to_pylist() for n in names))]
    else:  # the fixed columns, then each row's inputs and outputs folded into one cell each
        names = [n for n in _SHOWN if n in result.column_names]
        folded = {kind: [n for n in result.column_names if n.startswith(f"{kind}.")]
                  for kind in ("input", "output")}
        data = result.to_pylist()
        rows = [[_cell(row[n]) for n in names]
                + [_fold(row, folded["input"]), _fold(row, folded["output"])] for row in data]
        names = [_LABELS.get(n, n) for n in names] + ["inputs", "outputs"]
    table(None, names, rows)
    if not result.num_rows:
        typer.echo("no predictions match")


def _fold(row: dict[str, Any], columns: list[str]) -> str:
    parts = [f"{name.split('.', 1)[1]}={_cell(row[name])}" for name in columns
             if row[name] is not None]
    return _cell(", ".join(parts))


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        value = str(value)
    if isinstance(value, str) and len(value) > _WIDE:
        return value[: _WIDE - 1] + "…"
    return value


def _format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter("give table, json or csv", param_hint="--format")
    return fmt


@app.command("tail")
@handle_errors
def tail(
    n: int = typer.Option(10, "-n", "--lines", min=1, help="How many of the newest predictions."),
    model: str = ModelOption,
    version: str = VersionOption,
    deployment: str = DeploymentOption,
    fmt: str = FormatOption,
    artifacts: str = StoreOption,
    prefix: str = PrefixOption,
) -> None:
    """The newest predictions, oldest first.

    Example: dockyard predictions tail -n 20 --model churn
    """
    from dockyard.monitor.predictions import PredictionStore

    fmt = _format(fmt)
    store = PredictionStore(artifacts, prefix=prefix)
    result = store.tail(n, model=model, version=version, deployment=deployment)
    _show(result, fmt, all_columns=False)


@app.command("query")
@handle_errors
def query(
    sql: str = typer.Argument(
        None, metavar="SQL",
        help='A SELECT over the log, read as "predictions"; without it, the filters below.'),
    model: str = ModelOption,
    version: str = VersionOption,
    deployment: str = DeploymentOption,
    since: str = typer.Option(None, "--since", help="From this time (ISO 8601, UTC) or this "
                              "long ago (30m, 2h, 7d)."),
    until: str = typer.Option(None, "--until", help="Before this time or this long ago."),
    limit: int = typer.Option(100, "--limit", "-l", min=0, help="Most rows shown."),
    columns: str = typer.Option(None, "--columns", "-c",
                                help="Comma-separated columns (default: all)."),
    fmt: str = FormatOption,
    artifacts: str = StoreOption,
    prefix: str = PrefixOption,
) -> None:
    """Predictions by model, version, deployment and time, or any SELECT over them.

    Examples:

      dockyard predictions query --model churn --since 2h

      dockyard predictions query "SELECT model, count(*) FROM predictions GROUP BY model"
    """
    from dockyard.monitor.predictions import PredictionStore

    fmt = _format(fmt)
    store = PredictionStore(artifacts, prefix=prefix)
    if sql is not None:
        if any(v is not None for v in (model, version, deployment, since, until, columns)):
            raise typer.BadParameter("with SQL, put the filters in its WHERE clause",
                                     param_hint="SQL")
        _show(store.sql(sql), fmt, all_columns=True)
        return
    picked = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    result = store.query(
        model=model, version=version, deployment=deployment,
        since=_when(since, "--since"), until=_when(until, "--until"),
        columns=picked, limit=limit,
    )
    _show(result, fmt, all_columns=picked is not None)
