"""``dockyard data``: dataset versions, their diffs and their checks from the command line."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from dockyard.cli.common import JsonOption, UriOption, client, handle_errors, parse_tags
from dockyard.cli.output import console, err_console, fmt_time, print_json, table
from dockyard.entities.dataset import DatasetCheck, DatasetVersion
from dockyard.errors import InvalidArgument, NotFound

app = typer.Typer(
    help="Version datasets (digest, schema, profile), compare versions, and check data.",
    no_args_is_help=True,
)

_SPEC_HELP = "A dataset version: churn@2, churn@latest, churn, or datasets:/churn/2."


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _version_row(version: DatasetVersion) -> list[Any]:
    return [version.spec, f"{version.rows:,}", len(version.columns), version.storage,
            version.digest[:12], fmt_time(version.created_at), version.source]


def _print_version(version: DatasetVersion, c: Any) -> None:
    console.print(f"[bold]{escape(version.spec)}[/]  {escape(version.uri)}")
    for label, value in (("rows", f"{version.rows:,}"), ("digest", version.digest),
                         ("storage", version.storage), ("location", version.location),
                         ("source", version.source), ("database", version.database),
                         ("size", None if version.size_bytes is None
                          else f"{version.size_bytes:,} bytes"),
                         ("created", f"{fmt_time(version.created_at)} by "
                                     f"{version.created_by or '-'}"),
                         ("description", version.description or None)):
        if value is not None:
            console.print(f"  {label:<12}{escape(str(value))}")
    table("schema", ["column", "type", "nullable"],
          [[col.name, col.type, "yes" if col.nullable else "no"] for col in version.columns])
    runs = c.store.list_dataset_runs(version.name, version.version)
    if runs:
        table("used by", ["run", "context", "when"],
              [[i.run_id, i.context, fmt_time(i.created_at)] for i in runs])
    checks = c.store.list_dataset_checks(version.name, version.version, max_results=5)
    if checks:
        table("checks", ["suite", "result", "failed checks", "when"],
              [[k.suite, "passed" if k.passed else "FAILED", k.failed, fmt_time(k.created_at)]
               for k in checks])


@app.command("log")
@handle_errors
def log_command(
    data: str = typer.Argument(None, help="A Parquet or CSV file, a folder of Parquet files, "
                                          "or s3://bucket/key. Leave out with --query."),
    name: str = typer.Option(..., "--name", "-n", help="The dataset's name."),
    query: str = typer.Option(None, "--query", help="A SQL query to version (its result)."),
    database: str = typer.Option(None, "--database", help="The SQLAlchemy URI the query runs on."),
    reference: bool = typer.Option(None, "--reference/--store",
                                   help="Reference the data where it lives (default for S3 and "
                                        "SQL) or store a Parquet copy (default for local files)."),
    description: str = typer.Option("", "--description", "-d"),
    tag: list[str] = typer.Option(None, "--tag", "-t", metavar="KEY=VALUE",
                                  help="Tag of the version (repeatable)."),
    categorical: list[str] = typer.Option(None, "--categorical", "-c",
                                          help="A numeric column to profile as categories "
                                               "(repeatable)."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Record a version of a dataset: digest, schema, profile, and the data (or where it is).

    Logging data the dataset already has prints the version it has.
    """
    c = client(uri)
    try:
        latest = c.store.get_dataset(name).latest_version or 0
    except NotFound:
        latest = 0
    version = c.log_dataset(data, name, query=query, database=database,
                            store=None if reference is None else not reference,
                            description=description, tags=parse_tags(tag),
                            categorical=categorical or None, progress=not as_json)
    if as_json:
        print_json(version.model_dump(mode="json"))
        return
    verb = "already had" if version.version <= latest else "logged"
    console.print(f"{verb} [bold]{escape(version.spec)}[/] ({version.rows:,} rows, "
                  f"{len(version.columns)} columns, digest {version.digest[:12]})")


@app.command("list")
@handle_errors
def list_command(
    name_like: str = typer.Option(None, "--name-like", help="Only names containing this."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """List datasets with their latest version."""
    found = client(uri).store.list_datasets(name_like)
    if as_json:
        print_json([d.model_dump(mode="json") for d in found])
        return
    table(None, ["dataset", "latest", "updated"],
          [[d.name, d.latest_version, fmt_time(d.updated_at)] for d in found])


@app.command("versions")
@handle_errors
def versions_command(
    name: str = typer.Argument(..., help="The dataset's name."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """List a dataset's versions, newest first."""
    found = client(uri).store.list_dataset_versions(name)
    if as_json:
        print_json([v.model_dump(mode="json") for v in found])
        return
    table(None, ["version", "rows", "columns", "storage", "digest", "created", "source"],
          [_version_row(v) for v in found])


@app.command("show")
@handle_errors
def show_command(
    spec: str = typer.Argument(..., help=_SPEC_HELP),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a version: where it is, its schema, the runs that used it and its checks."""
    c = client(uri)
    version = c.get_dataset_version(spec)
    if as_json:
        print_json({**version.model_dump(mode="json"), "uri": version.uri,
                    "runs": [i.model_dump(mode="json") for i in
                             c.store.list_dataset_runs(version.name, version.version)]})
        return
    _print_version(version, c)


@app.command("download")
@handle_errors
def download_command(
    spec: str = typer.Argument(..., help=_SPEC_HELP),
    output: Path = typer.Option(..., "--output", "-o", help="A new file or folder to write."),
    uri: str = UriOption,
) -> None:
    """Copy a version's data to a local file or folder (Parquet, or the referenced file)."""
    from dockyard.data.datasets import dataset_path

    if output.exists():
        raise InvalidArgument(f"{output} exists; give a new path")
    source = dataset_path(spec, client(uri), verify=True)
    if source.is_dir():
        shutil.copytree(source, output)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, output)
    console.print(f"wrote {escape(str(output))}")


@app.command("diff")
@handle_errors
def diff_command(
    a: str = typer.Argument(..., help="The reference version, e.g. churn@1."),
    b: str = typer.Argument(..., help="The version to compare with it, e.g. churn@2."),
    fail_on_drift: bool = typer.Option(False, "--fail-on-drift",
                                       help="Exit 1 when a column drifted or the schema changed."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Compare two versions: schema changes, row counts, and drift per column (from profiles)."""
    from dockyard.data.diff import diff_datasets

    diff = diff_datasets(a, b, client(uri))
    if as_json:
        print_json(diff.to_dict())
    else:
        rows_a, rows_b = diff.rows
        change = f"{(rows_b - rows_a) / rows_a:+.1%}" if rows_a else "n/a"
        console.print(f"[bold]{escape(diff.a.spec)}[/] -> [bold]{escape(diff.b.spec)}[/]: rows "
                      f"{rows_a:,} -> {rows_b:,} ({change})")
        if diff.same_schema:
            console.print("schema: unchanged")
        for col in diff.added:
            console.print(f"  [green]+ {escape(col.name)}[/] {escape(col.type)}")
        for col in diff.removed:
            console.print(f"  [red]- {escape(col.name)}[/] {escape(col.type)}")
        for old, new in diff.changed:
            console.print(f"  [yellow]~ {escape(old.name)}[/] {escape(old.type)} -> "
                          f"{escape(new.type)}" + ("" if old.nullable == new.nullable else
                                                   f" (nullable {old.nullable} -> {new.nullable})"))
        table("drift", ["column", "kind", "method", "statistic", "threshold", "drifted",
                        "null rate", "mean"],
              [[r["column"], r["kind"], r["method"], _num(r["statistic"]),
                _num(r["threshold"]), "yes" if r["drifted"] is True else
                ("no" if r["drifted"] is False else "-"),
                f"{_num(r['null_rate_a'])} -> {_num(r['null_rate_b'])}",
                f"{_num(r['mean_a'])} -> {_num(r['mean_b'])}"]
               for r in diff.to_dict()["drift"]])
    if fail_on_drift and (diff.drifted or not diff.same_schema):
        raise typer.Exit(1)


@app.command("check")
@handle_errors
def check_command(
    data: str = typer.Argument(..., help="A Parquet or CSV file, a folder of Parquet files, or "
                                         "a dataset version (churn@2)."),
    suite: Path = typer.Option(..., "--suite", "-s", help="The checks, as a YAML (or JSON) file."),
    dataset: str = typer.Option(None, "--dataset",
                                help="Store the results with this dataset version (implied "
                                     "when DATA names one)."),
    sample_rows: int = typer.Option(5, "--sample-rows", min=0, max=100,
                                    help="Failing rows to show per check."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Run data checks; exit 1 when one fails. Results are stored with the dataset version."""
    from dockyard.data.checks import load_suite, run_checks
    from dockyard.data.datasets import dataset_path, load_dataset

    checks = load_suite(suite)
    c = client(uri) if dataset or not Path(data).exists() else None
    version = None
    if not Path(data).exists():
        assert c is not None
        version = c.get_dataset_version(data)
        source: Any = (load_dataset(version, c) if version.source_type == "sql"
                       and version.storage == "reference" else dataset_path(version, c))
    else:
        source = data
    if dataset:
        assert c is not None
        version = c.get_dataset_version(dataset)
    report = run_checks(source, checks, sample_rows=sample_rows)
    if version is not None:
        assert c is not None
        c.store.save_dataset_check(DatasetCheck(
            name=version.name, version=version.version, suite=report.suite,
            passed=report.passed, failed=len(report.failures),
            report=report.model_dump(mode="json")), user=c.user)
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        console.print(report.summary(), markup=False, highlight=False)
        if version is not None:
            err_console.print(f"stored with {escape(version.spec)}")
    if not report.passed:
        raise typer.Exit(1)
