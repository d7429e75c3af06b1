"""``dockyard ground-truth``: load the true outcomes of served predictions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from dockyard.cli.common import JsonOption, UriOption, client, handle_errors
from dockyard.cli.output import err_console, print_json
from dockyard.entities.monitoring import MAX_LABELS_PER_CALL, check_labels
from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    import pyarrow as pa

app = typer.Typer(
    help="Ground truth: the true outcomes of predictions, joined to them by prediction id.",
    no_args_is_help=True,
)

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "json",
            ".ndjson": "json", ".json": "json"}
_SHOWN_IDS = 5


def read_labels(path: Path, id_column: str = "prediction_id") -> pa.Table:
    """A Parquet, CSV or JSON-lines file as an Arrow table; InvalidArgument if it cannot be read.

    In a CSV file the ``id_column`` stays text even when it looks like numbers (``0012``).
    """
    import pyarrow as pa

    kind = _FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InvalidArgument(f"{path.name}: give a .parquet, .csv or .jsonl file")
    if not path.is_file():
        raise InvalidArgument(f"{path} does not exist")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if kind == "csv":
            import pyarrow.csv as pacsv

            # ids stay text even when they look like numbers
            return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                column_types={id_column: pa.string()}))
        import pyarrow.json as pajson

        return pajson.read_json(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgument(f"cannot read {path} as {kind}: {exc}") from None


def _column(table: pa.Table, name: str, option: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise InvalidArgument(f"the file has no column {name!r} (set it with {option}); "
                              f"its columns: {', '.join(table.column_names)}")
    return table.column(name)


def _times(column: pa.ChunkedArray) -> list[int]:
    """Label times as ms since the epoch, from timestamps or integers (ms)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count:
        raise InvalidArgument("the label time column has empty cells: fill them or leave the "
                              "column out (the time of loading is used)")
    if pa.types.is_timestamp(column.type):
        unit = column.type.unit
        column = pc.cast(column, pa.timestamp(unit))
        column = pc.divide(pc.cast(column, pa.int64()),
                           {"s": 1, "ms": 1, "us": 1000, "ns": 1_000_000}[unit]) \
            if unit != "s" else pc.multiply(pc.cast(column, pa.int64()), 1000)
    elif pa.types.is_string(column.type):
        import pandas as pd

        try:  # ISO 8601, with or without a zone (naive is UTC)
            stamps = pd.to_datetime(pd.Series(column.to_pylist()), utc=True, format="ISO8601")
        except (ValueError, TypeError):
            raise InvalidArgument("the label time column holds text that is not a time: use "
                                  "ISO 8601 (2026-11-20T08:00:00Z) or ms since the epoch") from None
        return [int(t) for t in stamps.astype("int64") // 1_000_000]
    elif not pa.types.is_integer(column.type):
        raise InvalidArgument(f"the label time column is {column.type}: use timestamps or "
                              "integers (ms since the epoch)")
    return [int(t) for t in column.to_pylist()]


@app.command("load")
@handle_errors
def load(
    path: Path = typer.Argument(..., help="A .parquet, .csv or .jsonl file of labels.",
                                show_default=False),
    id_column: str = typer.Option("prediction_id", "--id-column",
                                  help="The column of prediction ids."),
    label_column: str = typer.Option("label", "--label-column", help="The column of labels."),
    time_column: str = typer.Option(None, "--time-column",
                                    help="A column of when each outcome became known "
                                         "(timestamps, or ms since the epoch). Default: now."),
    replace: bool = typer.Option(False, "--replace",
                                 help="Replace labels already stored for these ids "
                                      "(otherwise they are kept and reported as duplicates)."),
    strict: bool = typer.Option(False, "--strict",
                                help="Exit 1 if any id was a duplicate or is not in the "
                                     "prediction log."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Load labels from a file and join them to their predictions by id.

    Labels may come days after the predictions; each joins its prediction's time window.
    Ids that already had a label, and ids not (yet) in the prediction log, are reported.
    """
    table = read_labels(path, id_column)
    ids = _column(table, id_column, "--id-column")
    labels = _column(table, label_column, "--label-column")
    if labels.null_count:
        raise InvalidArgument(f"{labels.null_count} rows have no label: remove them or fill "
                              "them in (a label cannot be empty)")
    times = _times(_column(table, time_column, "--time-column")) if time_column else None
    id_list, label_list = [str(i) if i is not None else i for i in ids.to_pylist()], \
        labels.to_pylist()
    for start in range(0, len(id_list), MAX_LABELS_PER_CALL):  # the whole file, before writing
        end = start + MAX_LABELS_PER_CALL
        check_labels(id_list[start:end], label_list[start:end])
    if any(isinstance(x, str) for x in label_list) and not all(
            isinstance(x, str) for x in label_list):
        raise InvalidArgument("the labels mix text and numbers: a model's labels are all class "
                              "names or all numbers")
    totals: dict[str, Any] = {"received": 0, "accepted": 0, "duplicate_ids": [],
                              "replaced_ids": [], "unknown_ids": []}
    with client(uri) as c, Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                                    TimeRemainingColumn(), console=err_console,
                                    disable=as_json, transient=True) as bar:
        task = bar.add_task("loading labels", total=len(id_list))
        for start in range(0, len(id_list), MAX_LABELS_PER_CALL):
            end = start + MAX_LABELS_PER_CALL
            report = c.log_ground_truth(id_list[start:end], label_list[start:end],
                                        label_time=times[start:end] if times else None,
                                        replace=replace)
            for key, value in report.model_dump().items():
                totals[key] += value
            bar.advance(task, end - start)
    if as_json:
        print_json(totals)
    else:
        _summary(totals)
    if strict and (totals["duplicate_ids"] or totals["unknown_ids"]):
        raise typer.Exit(1)


def _summary(totals: dict[str, Any]) -> None:
    typer.echo(f"{totals['accepted']:,} of {totals['received']:,} labels written"
               + (f" ({len(totals['replaced_ids']):,} replaced)" if totals["replaced_ids"] else ""))
    for key, what in (("duplicate_ids", "already had a label (kept; --replace replaces them)"),
                      ("unknown_ids", "are not in the prediction log yet (stored; they join "
                                      "their predictions once uploaded)")):
        found = totals[key]
        if found:
            shown = ", ".join(found[:_SHOWN_IDS]) + (" ..." if len(found) > _SHOWN_IDS else "")
            err_console.print(f"[yellow]{len(found):,} ids {what}:[/] {shown}", highlight=False)
