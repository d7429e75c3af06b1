"""``dockyard validate``: the evidence about a model, and a gate for CI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from dockyard.cli.common import JsonOption, UriOption, client, handle_errors
from dockyard.cli.output import console, print_json, table
from dockyard.errors import InvalidArgument
from dockyard.validation.results import ValidationReport


def _cohort(text: str) -> Any:
    """``region`` (one cohort per value), ``age:4`` (quantile bins), ``age:0,30,60`` (edges),
    or ``young=age < 30`` (a named predicate)."""
    name, eq, where = text.partition("=")
    if eq and name.strip() and not name.strip().endswith(("<", ">", "!")):
        return {"name": name.strip(), "where": where.strip()}
    column, colon, bins = text.partition(":")
    if not colon:
        return text.strip()
    try:
        edges = [float(b) for b in bins.split(",")]
    except ValueError:
        raise InvalidArgument(f"--cohort {text!r}: after ':' give a number of bins (age:4) or "
                              "bin edges (age:0,30,60)") from None
    if len(edges) == 1 and edges[0].is_integer():
        return {"column": column.strip(), "bins": int(edges[0])}
    return {"column": column.strip(), "bins": edges}


@handle_errors
def validate(
    model: str = typer.Argument(..., help="The model: models:/churn/3, models:/churn@champion, "
                                          "runs:/<run id>/model or a package folder."),
    data: str = typer.Option(..., "--data", "-d", help="Labelled data: a Parquet or CSV file, "
                                                       "or a dataset version (churn@2)."),
    target: str = typer.Option(..., "--target", "-y", help="The column holding the labels."),
    policy: Path = typer.Option(None, "--policy", "-p", help="A YAML policy; the command "
                                                             "exits 1 when it fails."),
    task: str = typer.Option("auto", "--task", help="classification, regression or auto."),
    cohort: list[str] = typer.Option(None, "--cohort", "-c", help="A cohort (repeatable): "
                                     "region, age:4, age:0,30,60 or 'young=age < 30'."),
    min_cohort_size: int = typer.Option(30, "--min-cohort-size"),
    sensitive: list[str] = typer.Option(None, "--sensitive", "-s",
                                        help="A sensitive column for fairness (repeatable)."),
    baseline: str = typer.Option(None, "--baseline", "-b", help="A model to compare with, "
                                 "such as models:/churn@champion."),
    baseline_name: str = typer.Option("champion", "--baseline-name"),
    time_column: str = typer.Option(None, "--time-column", help="Backtest over time windows "
                                    "of this column."),
    windows: int = typer.Option(5, "--windows", help="Backtest windows."),
    robustness: bool = typer.Option(True, "--robustness/--no-robustness"),
    explain: bool = typer.Option(True, "--explain/--no-explain"),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the report as JSON."),
    uri: str = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Validate a model on labelled data: holdout metrics, cohorts, backtest, robustness,
    explanations, fairness, calibration and a comparison with a baseline.

    With --policy, exits 1 when the policy fails, so it can gate CI.
    """
    from dockyard.validation.suite import validate as run

    report = run(model, data, target, baseline=baseline, policy=policy, task=task,
                 cohorts=[_cohort(c) for c in cohort] if cohort else None,
                 min_cohort_size=min_cohort_size, sensitive=sensitive or None,
                 baseline_name=baseline_name, time_column=time_column, windows=windows,
                 robustness=robustness, explain=explain, progress=not as_json,
                 client=client(uri))
    if output is not None:
        output.write_text(report.model_dump_json(indent=2))
    if as_json:
        print_json(report)
    else:
        _print(report)
    if report.passed is False:
        raise typer.Exit(1)


def _print(report: ValidationReport) -> None:
    console.print(f"[bold]{escape(report.model_uri)}[/]: {report.task} on {report.rows:,} rows "
                  f"(target {escape(report.target)})")
    table("checks", ["check", "result", "seconds"],
          [[c.name, f"not run: {c.error}" if c.error else c.summary, f"{c.seconds:.1f}"]
           for c in report.checks])
    if report.policy is None:
        return
    table(f"policy {report.policy.policy or ''}".strip(), ["rule", "value", "result"],
          [[r.rule, "-" if r.value is None else f"{r.value:.4g}",
            "pass" if r.passed else f"FAIL: {r.reason}"] for r in report.policy.rules])
    verdict = "[green]passed[/]" if report.passed else "[red]FAILED[/]"
    console.print(f"policy {verdict}: {escape(report.policy.summary)}")
