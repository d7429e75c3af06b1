"""The dataset pages: the datasets, one dataset's versions, one version, and a diff of two.

The same pattern as :mod:`dockyard.server.ui`: every page reads through the
client the REST API uses, keeps its state in the URL, and raises the errors
of :mod:`dockyard.errors` for bad input, which the server answers with an
HTML page and the right status.

A version's page joins the schema the store keeps with the profile stored
beside the data (:func:`~dockyard.data.datasets.load_profile`): per column its
null rate, distinct estimate, moments or top categories, and a histogram. The
diff (:func:`~dockyard.data.diff.diff_datasets`) reads the two profiles only,
never the data, and draws each column's histograms on the older version's
bins. Check reports are plain JSON whose shape may grow, so they are read with
defaults for every field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dockyard.client import Client
from dockyard.data.datasets import load_profile
from dockyard.data.diff import diff_datasets
from dockyard.entities import Run
from dockyard.entities.dataset import DatasetCheck, DatasetInput, DatasetVersion
from dockyard.entities.validation import validate_version
from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.monitor.profile import NUMERIC, ColumnProfile, Profile
from dockyard.monitor.report import side_by_side
from dockyard.server.deps import client_of
from dockyard.server.ui import query_url, render, templates
from dockyard.server.ui_histogram import Histogram, histogram_view
from dockyard.server.ui_models import layout_lineage

router = APIRouter(include_in_schema=False)

DATASETS_SHOWN = 200
VERSIONS_SHOWN = 100
CHECKS_SHOWN = 10
RUNS_SHOWN = 100
SAMPLE_ROWS_SHOWN = 5
TOP_CATEGORIES = 5
SMALL_HIST = {"width": 300, "height": 110}
"""A version page draws a histogram for every column: smaller than a monitor's."""


def dataset_url(name: str) -> str:
    """The page of the dataset ``name``: its versions."""
    return f"/data/{quote(name, safe='')}"


def dataset_version_url(name: str, version: int) -> str:
    """The page of one version of a dataset."""
    return f"{dataset_url(name)}/{version}"


def diff_url(name: str, a: int, b: int) -> str:
    """The diff of versions ``a`` and ``b`` of a dataset."""
    return query_url(f"{dataset_url(name)}/diff", {"a": a, "b": b})


def fmt_number(value: float | None) -> str:
    """A statistic for a table: four significant digits, blank for none (NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.4g}"


def fmt_cell(value: Any) -> str:
    """A value of a sample row: ``null`` for None, so an empty string stays visible as such."""
    return "null" if value is None else str(value)


templates.env.filters.update(number=fmt_number, cell=fmt_cell)
templates.env.globals.update(dataset_url=dataset_url, dataset_version_url=dataset_version_url,
                             diff_url=diff_url)


def _number(name: str, version: str, what: str = "") -> int:
    """A version number from the URL; ``what`` names the query parameter it came from."""
    try:
        return validate_version(version)
    except InvalidArgument:
        raise InvalidArgument(f"{what}{version!r:.40} is not a version of dataset {name!r}: "
                              "versions are numbered 1, 2, 3 ...") from None


# the datasets ----------------------------------------------------------------------------
@dataclass
class DatasetRow:
    name: str
    description: str
    updated_at: int
    latest: DatasetVersion | None


@router.get("/data")
def datasets_list(request: Request, q: str = "") -> Response:
    """Every dataset by name (those whose name contains ``q``), with its latest version."""
    client = client_of(request)
    text = q.strip()
    found = client.store.list_datasets(text or None, DATASETS_SHOWN + 1)
    rows = [DatasetRow(d.name, d.description, d.updated_at,
                       client.store.get_dataset_version(d.name) if d.latest_version else None)
            for d in found[:DATASETS_SHOWN]]
    return render(request, "data.html", "data", rows=rows, q=text,
                  more=len(found) > DATASETS_SHOWN, shown=DATASETS_SHOWN)


# one dataset -----------------------------------------------------------------------------
@router.get("/data/{name}")
def dataset_page(request: Request, name: str) -> Response:
    """A dataset's versions, newest first, with the latest check of each and the diff form."""
    client = client_of(request)
    dataset = client.store.get_dataset(name)
    versions = client.store.list_dataset_versions(name, VERSIONS_SHOWN + 1)
    shown = versions[:VERSIONS_SHOWN]
    checks: dict[int, DatasetCheck | None] = {}
    for dv in shown:
        latest = client.store.list_dataset_checks(name, dv.version, 1)
        checks[dv.version] = latest[0] if latest else None
    return render(request, "dataset.html", "data", dataset=dataset, versions=shown,
                  checks=checks, more=len(versions) > VERSIONS_SHOWN)


# the diff --------------------------------------------------------------------------------
@dataclass
class DriftRow:
    column: str
    kind: str
    method: str
    statistic: float | None
    threshold: float | None
    drifted: bool | None
    null_rate: tuple[float | None, float | None]
    mean: tuple[float | None, float | None]
    histogram: Histogram | None = None
    problem: str = ""


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _severity(row: DriftRow) -> float:
    """How far past its threshold a column is (above 1 means drifted); p-values are inverted."""
    if row.statistic is None or not row.threshold:
        return -math.inf
    if "p-value" in row.method:
        return row.threshold / max(row.statistic, 1e-300)
    return row.statistic / row.threshold


def _drift_rows(table: Any) -> list[DriftRow]:
    rows = []
    for record in table.to_dict(orient="records"):
        drifted = record["drifted"]
        rows.append(DriftRow(
            column=str(record["column"]), kind=str(record["kind"]), method=str(record["method"]),
            statistic=_float(record["statistic"]), threshold=_float(record["threshold"]),
            drifted=None if drifted is None or _float(drifted) is None else bool(drifted),
            null_rate=(_float(record["null_rate_a"]), _float(record["null_rate_b"])),
            mean=(_float(record["mean_a"]), _float(record["mean_b"]))))
    rows.sort(key=lambda r: (r.drifted is not True, -_severity(r), r.column))
    return rows


def _diff_histograms(rows: list[DriftRow], a: Profile, rebinned: Profile) -> None:
    """Each column's histograms of ``a`` and ``b`` on ``a``'s bins (what drift compared)."""
    names = [r.column for r in rows if r.column in a.columns and r.column in rebinned.columns]
    for row in rows:
        if row.column not in names:
            continue
        try:
            row.histogram = histogram_view(side_by_side(a.columns[row.column],
                                                        rebinned.columns[row.column]),
                                           **SMALL_HIST)
        except InvalidArgument as exc:
            row.problem = exc.message


@router.get("/data/{name}/diff")
def diff_page(request: Request, name: str, a: str = "", b: str = "") -> Response:
    """What changed from version ``a`` to version ``b``: rows, schema, drift per column."""
    client = client_of(request)
    if not a or not b:
        client.store.get_dataset(name)
        raise InvalidArgument(f"choose two versions of dataset {name!r} to compare: "
                              f"{dataset_url(name)}/diff?a=1&b=2")
    first = client.store.get_dataset_version(name, _number(name, a, "a="))
    second = client.store.get_dataset_version(name, _number(name, b, "b="))
    diff = diff_datasets(first, second, client)
    rows = _drift_rows(diff.drift)
    _diff_histograms(rows, *diff.profiles)
    versions = client.store.list_dataset_versions(name, VERSIONS_SHOWN)
    return render(request, "dataset_diff.html", "data", diff=diff, a=first, b=second,
                  drift=rows, drifted=sum(r.drifted is True for r in rows), versions=versions)


# one version -----------------------------------------------------------------------------
@dataclass
class ColumnView:
    """A column of the schema with what its profile says, if it was profiled."""

    name: str
    type: str
    nullable: bool
    profile: ColumnProfile | None = None
    top: list[tuple[str, int, float]] = field(default_factory=list)
    """The most frequent categories: (value, count, share of the values)."""
    histogram: Histogram | None = None

    @property
    def null_rate(self) -> float | None:
        p = self.profile
        return (p.nulls + p.type_errors) / p.rows if p is not None and p.rows else None

    @property
    def distinct(self) -> float | None:
        p = self.profile
        return p.distinct_count if p is not None and p.distinct is not None else None


def _columns(version: DatasetVersion, profile: Profile | None) -> list[ColumnView]:
    views = []
    for column in version.columns:
        view = ColumnView(column.name, column.type, column.nullable)
        made = profile.columns.get(column.name) if profile is not None else None
        if made is not None:
            view.profile = made
            if made.kind != NUMERIC and made.count:
                counts = made.category_counts()
                view.top = [(c, n, n / made.count) for c, n in
                            sorted(counts.items(), key=lambda item: (-item[1], item[0]))
                            [:TOP_CATEGORIES]]
            if made.count:
                view.histogram = histogram_view(side_by_side(made), **SMALL_HIST)
        views.append(view)
    return views


@dataclass
class CheckView:
    """A stored check result, read defensively from its JSON report."""

    check: DatasetCheck
    rows: int | None
    total: int
    failures: list[dict[str, Any]]
    """Each failing check: description, failing, checked, error, observed, and its sample
    rows as ``columns`` and ``sample`` (lists of cells)."""


def _check_view(check: DatasetCheck) -> CheckView:
    report = check.report if isinstance(check.report, dict) else {}
    results = [r for r in report.get("results") or [] if isinstance(r, dict)]
    failures = []
    for result in results:
        if result.get("passed", True):
            continue
        sample = [row for row in result.get("sample") or [] if isinstance(row, dict)]
        sample = sample[:SAMPLE_ROWS_SHOWN]
        columns = list(dict.fromkeys(key for row in sample for key in row))
        observed = result.get("observed")
        failures.append({
            "description": str(result.get("description") or "a check"),
            "failing": result.get("failing"), "checked": result.get("checked"),
            "error": result.get("error"), "columns": columns,
            "sample": [[row.get(c) for c in columns] for row in sample],
            "observed": observed if isinstance(observed, dict) else {}})
    rows = report.get("rows")
    return CheckView(check, rows if isinstance(rows, int) else None, len(results), failures)


@dataclass
class RunUse:
    used: DatasetInput
    run: Run | None
    """None when the run can no longer be read."""


def _runs(client: Client, used: list[DatasetInput]) -> list[RunUse]:
    found: dict[str, Run | None] = {}
    for item in used:
        if item.run_id not in found:
            try:
                found[item.run_id] = client.get_run(item.run_id)
            except NotFound:
                found[item.run_id] = None
    return [RunUse(item, found[item.run_id]) for item in used]


@router.get("/data/{name}/{version}")
def version_page(request: Request, name: str, version: str) -> Response:
    """A version: overview, schema with profile, histograms, checks, runs and lineage."""
    client = client_of(request)
    if version == "latest":
        latest = client.store.get_dataset_version(name)
        return RedirectResponse(dataset_version_url(latest.name, latest.version), 307)
    dv = client.store.get_dataset_version(name, _number(name, version))
    profile, profile_problem = None, ""
    try:
        profile = load_profile(dv, client)
    except DockyardError as exc:
        profile_problem = exc.message
    checks = [_check_view(c) for c in client.store.list_dataset_checks(name, dv.version,
                                                                       CHECKS_SHOWN)]
    used = client.store.list_dataset_runs(name, dv.version)
    lineage, lineage_problem = None, ""
    try:
        lineage = layout_lineage(client.get_lineage(dv.uri))
    except DockyardError as exc:
        lineage_problem = exc.message
    dataset = client.store.get_dataset(name)
    return render(
        request, "dataset_version.html", "data", dv=dv, dataset=dataset,
        columns=_columns(dv, profile), profile=profile, profile_problem=profile_problem,
        checks=checks, runs=_runs(client, used[:RUNS_SHOWN]), more_runs=len(used) > RUNS_SHOWN,
        lineage=lineage, lineage_problem=lineage_problem)
