from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dockyard.cli.common import JsonOption, UriOption, client, handle_errors
from dockyard.cli.output import console, fmt_duration, fmt_time, fmt_value, print_json, table
from dockyard.client import Client
from dockyard.entities import Run

app = typer.Typer(help="List, show, search, compare, diff and reproduce runs.",
                  no_args_is_help=True)

ExperimentOption = typer.Option(
    ..., "--experiment", "-e", help="Experiment name (repeat for several).")


def _experiment_ids(c: Client, names: list[str]) -> list[str]:
    return [c.get_experiment_by_name(n).id for n in names]


def _runs_table(title: str, runs: list[Run]) -> None:
    metric_keys = sorted({k for r in runs for k in r.metrics})[:6]
    param_keys = sorted({k for r in runs for k in r.params})[:4]
    rows = [
        [r.id[:8], r.name, r.status.value, fmt_time(r.start_time), fmt_duration(r.duration_ms)]
        + [r.params.get(k) for k in param_keys]
        + [r.metrics[k].value if k in r.metrics else None for k in metric_keys]
        for r in runs
    ]
    cols = ["id", "name", "status", "start", "duration"] + [f"params.{k}" for k in param_keys] + [
        f"metrics.{k}" for k in metric_keys]
    table(title, cols, rows)


def _search(uri: str | None, experiments: list[str], filter: str | None, order_by: list[str] | None,
            max_results: int, as_json: bool, title: str) -> None:
    c = client(uri)
    page = c.search_runs(_experiment_ids(c, experiments), filter, order_by, max_results)
    if as_json:
        print_json({"runs": [r.model_dump(mode="json") for r in page.items],
                    "next_page_token": page.next_page_token})
        return
    _runs_table(title, page.items)
    if page.next_page_token:
        console.print(f"[dim]more runs: raise --max-results (showing {len(page.items)})[/]")


@app.command("list")
@handle_errors
def list_runs(
    experiment: list[str] = ExperimentOption,
    max_results: int = typer.Option(100, "--max-results", "-n"),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """List the newest runs of one or more experiments."""
    _search(uri, experiment, None, None, max_results, as_json, "Runs")


@app.command("search")
@handle_errors
def search_runs(
    experiment: list[str] = ExperimentOption,
    filter: str = typer.Option(None, "--filter", "-f",
                               help="e.g. \"metrics.auc > 0.8 and params.max_depth = '8'\""),
    order_by: list[str] = typer.Option(None, "--order-by", "-o", help="e.g. 'metrics.auc DESC' (repeatable)."),
    max_results: int = typer.Option(100, "--max-results", "-n"),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Search runs with the filter grammar (see docs/tracking.md)."""
    _search(uri, experiment, filter, order_by, max_results, as_json, "Matching runs")


@app.command("show")
@handle_errors
def show_run(
    run_id: str = typer.Argument(..., help="Run id."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a run: attributes, source, params, latest metrics and tags."""
    run = client(uri).get_run(run_id)
    if as_json:
        print_json(run)
        return
    about = Table.grid(padding=(0, 2))
    for label, value in [
        ("id", run.id), ("name", run.name), ("experiment", run.experiment_id),
        ("status", run.status.value), ("start", fmt_time(run.start_time)),
        ("end", fmt_time(run.end_time)), ("duration", fmt_duration(run.duration_ms)),
        ("user", run.user), ("parent", run.parent_id or "-"), ("entry point", run.entry_point),
        ("git commit", (run.git_commit or "-") + (" (dirty)" if run.git_dirty else "")),
        ("python", run.python_version),
    ]:
        about.add_row(Text(label, style="bold"), Text(str(value)))
    console.print(about)
    table("Params", ["key", "value"], sorted(run.params.items()))
    table("Metrics (latest)", ["key", "value", "step"],
          [(k, m.value, m.step) for k, m in sorted(run.metrics.items())])
    table("Tags", ["key", "value"], sorted(run.tags.items()))


@app.command("compare")
@handle_errors
def compare_runs(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Compare runs side by side; rows whose values differ are highlighted."""
    if len(run_ids) < 2:
        raise typer.BadParameter("give at least two run ids")
    c = client(uri)
    runs = [c.get_run(r) for r in run_ids]
    if as_json:
        print_json(runs)
        return
    t = Table(title="Comparison", header_style="bold")
    t.add_column("")
    for r in runs:
        t.add_column(f"{r.name}\n{r.id[:8]}")
    sections = [
        ("params", sorted({k for r in runs for k in r.params}),
         lambda r, k: r.params.get(k)),
        ("metrics", sorted({k for r in runs for k in r.metrics}),
         lambda r, k: r.metrics[k].value if k in r.metrics else None),
    ]
    for name, keys, get in sections:
        for key in keys:
            values = [get(r, key) for r in runs]
            style = "yellow" if len({str(x) for x in values}) > 1 else None
            t.add_row(f"{name}.{key}", *(fmt_value(x) for x in values), style=style)
    console.print(t)


@app.command("diff")
@handle_errors
def diff_command(
    a: str = typer.Argument(..., help="A run id (the baseline)."),
    b: str = typer.Argument(..., help="Another run id."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Show only what differs between two runs: params, metrics (with the change), the data
    they used, code, environment and tags."""
    from dockyard.train.diff import diff_runs

    diff = diff_runs(client(uri), a, b)
    if as_json:
        print_json(diff.to_dict())
        return
    console.print(f"[bold]{escape(diff.a.name)}[/] ({diff.a.id[:8]}) -> "
                  f"[bold]{escape(diff.b.name)}[/] ({diff.b.id[:8]})")
    if diff.same:
        console.print("no differences")
        return
    for section, changes in diff.sections.items():
        if not changes:
            continue
        rows = [[c.key, fmt_value(c.a) if c.a is not None else "-",
                 fmt_value(c.b) if c.b is not None else "-",
                 "" if c.delta is None else f"{c.delta:+.6g}"] for c in changes]
        table(section, ["key", "a", "b", "change"], rows)


@app.command("reproduce")
@handle_errors
def reproduce_command(
    run_id: str = typer.Argument(..., help="The run to reproduce."),
    output: Path = typer.Option(..., "--output", "-o", help="A new folder to write into."),
    uri: str = UriOption,
) -> None:
    """Write a run's code (its commit and uncommitted changes, or its script), requirements
    and exact command into a new folder, to run it again."""
    from dockyard.train.reproduce import reproduce

    script = reproduce(client(uri), run_id, output)
    console.print(f"wrote {escape(str(output))}: code/, requirements.txt and run.sh")
    console.print(f"  python -m pip install -r {escape(str(output / 'requirements.txt'))}")
    console.print(f"  sh {escape(str(script))}")
