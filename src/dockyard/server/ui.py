"""The web UI: server-rendered pages over the same client as the REST API.

Pages are Jinja2 templates; the charts fetch their data from the REST API
(downsampled on the server) and draw it with uPlot, vendored as a static
file. Every page's state (filter, order, columns, page, selection) lives in
its URL, so a link shows what its sender saw.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from dockyard._version import __version__
from dockyard.entities import Run
from dockyard.entities.validation import validate_artifact_path
from dockyard.errors import DockyardError, InvalidArgument, InvalidFilter
from dockyard.server.deps import client_of
from dockyard.store.search import parse_filter
from dockyard.store.artifacts.base import ArtifactStore, ScopedArtifactStore
from dockyard.store.artifacts.local import LocalArtifactStore
from dockyard.ui import TEMPLATES
from dockyard.ui.preview import PARQUET_SUFFIXES, Preview, preview

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(TEMPLATES))

PAGE_SIZES = (10, 25, 50, 100, 200)
MAX_COMPARE = 10
RUN_VERSIONS_SHOWN = 100  # model versions registered from a run, on its page
DEFAULT_METRIC_COLUMNS = 5
DEFAULT_PARAM_COLUMNS = 3
PARQUET_PREVIEW_ROWS = 100
CELL_CHARS = 200  # a long string cell is cut in a table preview
_COLUMN = re.compile(r"^(metrics|params|tags)\.(.+)$")
_BARE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
NAV = [("experiments", "Experiments", "/experiments"), ("models", "Models", "/models"),
       ("deployments", "Deployments", "/deployments"), ("monitoring", "Monitoring", "/monitoring"),
       ("data", "Data", "/data"), ("approvals", "Approvals", "/approvals"),
       ("audit", "Audit", "/audit")]


# formatting, for the templates ------------------------------------------------------------
def fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(ms: int | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def fmt_size(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def run_url(run_id: str) -> str:
    """The page of the run ``run_id``."""
    return f"/runs/{quote(run_id, safe='')}"


templates.env.filters.update(time=fmt_time, duration=fmt_duration, value=fmt_value, size=fmt_size)
templates.env.globals.update(nav=NAV, version=__version__, run_url=run_url)


def render(request: Request, name: str, section: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"section": section, **context},
                                      status_code=status_code)


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """The page for an error: a message and the way back, never a stack trace."""
    titles = {400: "Bad request", 401: "Sign in", 403: "Not allowed", 404: "Not found",
              409: "Conflict", 413: "Too large"}
    path = request.url.path
    section, label, href = next((entry for entry in NAV
                                 if path == entry[2] or path.startswith(entry[2] + "/")),
                                ("", "Experiments", "/experiments"))
    return render(request, "error.html", section, status_code=status_code,
                  title=titles.get(status_code, "Something went wrong"), message=message,
                  back_href=href, back_label=label.lower())


def query_url(path: str, params: dict[str, Any]) -> str:
    """``path`` with the non-empty ``params`` (lists repeat the key)."""
    clean = {k: v for k, v in params.items() if v not in (None, "", [])}
    return f"{path}?{urlencode(clean, doseq=True)}" if clean else path


def field_ref(column: str) -> str:
    """A column id (``metrics.val loss``) as a grammar field (``metrics.`val loss```)."""
    m = _COLUMN.match(column)
    if m and not _BARE_KEY.match(m.group(2)):
        return f"{m.group(1)}.`{m.group(2)}`"
    return column


def cell(run: Run, column: str) -> Any:
    kind, key = column.split(".", 1)
    if kind == "metrics":
        metric = run.metrics.get(key)
        return None if metric is None else metric.value
    return (run.params if kind == "params" else run.tags).get(key)


def parcoords_rows(runs: list[Run], metric: str) -> list[dict[str, Any]]:
    """The lines of a parallel coordinates chart (``_macros.html``'s ``parcoords``): each
    run's params, then its latest ``metric``."""
    return [{"name": r.name, "params": r.params,
             "value": r.metrics[metric].value if metric in r.metrics else None} for r in runs]


# artifact previews -------------------------------------------------------------------------
@dataclass
class TablePreview(Preview):
    """A Parquet preview: the first rows, with each column's type."""

    types: list[str] = field(default_factory=list)


class _S3Range(io.RawIOBase):
    """An S3 object read by byte ranges, so Parquet's footer and first row groups are
    fetched without the rest of the file."""

    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        self.client, self.bucket, self.key, self.length, self.pos = client, bucket, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.length}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        if self.pos >= self.length or not len(buffer):
            return 0
        end = min(self.pos + len(buffer), self.length) - 1
        body = self.client.get_object(Bucket=self.bucket, Key=self.key,
                                      Range=f"bytes={self.pos}-{end}")["Body"]
        with body:
            data = body.read()
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def _ranged(store: ArtifactStore, path: str) -> BinaryIO | None:
    """A seekable reader that fetches only what is read, where the store allows it (a local
    folder, S3); None otherwise."""
    from dockyard.store.artifacts.s3 import S3ArtifactStore

    while isinstance(store, ScopedArtifactStore):
        path, store = f"{store.prefix}/{path}", store.inner
    if isinstance(store, LocalArtifactStore):
        full = store.root.joinpath(*path.split("/")).resolve()
        return open(full, "rb") if full.is_relative_to(store.root) else None
    if isinstance(store, S3ArtifactStore):
        key = f"{store.prefix}/{path}" if store.prefix else path
        size = store.size(path)
        return io.BufferedReader(_S3Range(store.client, store.bucket, key, size), 1024 * 1024)
    return None


def _cell(value: Any) -> Any:
    if isinstance(value, str) and len(value) > CELL_CHARS:
        return value[:CELL_CHARS] + "…"
    return value


def artifact_preview(store: ArtifactStore, path: str) -> Preview:
    """The artifact viewer's preview. A Parquet file is read through its footer and first row
    groups only (up to :data:`PARQUET_PREVIEW_ROWS` rows), never whole."""
    if PurePosixPath(path).suffix.lower() not in PARQUET_SUFFIXES:
        return preview(store, path)
    size = store.size(path)  # NotFound before anything is opened
    source = _ranged(store, path)
    if source is None:  # a store without ranged reads: the general preview, size-capped
        return preview(store, path)
    import pyarrow as pa
    import pyarrow.parquet as pq

    with source:
        try:
            parquet = pq.ParquetFile(source)
            schema = parquet.schema_arrow
            rows: list[list[Any]] = []
            for batch in parquet.iter_batches(batch_size=PARQUET_PREVIEW_ROWS):
                take = batch.slice(0, PARQUET_PREVIEW_ROWS - len(rows))
                rows += [[_cell(x) for x in r.values()] for r in take.to_pylist()]
                if len(rows) >= PARQUET_PREVIEW_ROWS:
                    break
            total = parquet.metadata.num_rows
        except (pa.ArrowException, OSError, ValueError) as exc:
            return Preview("binary", path, size, message=f"not a readable Parquet file: {exc}")
    return TablePreview(
        "table", path, size, columns=list(schema.names), rows=rows,
        types=[str(schema.field(i).type) for i in range(len(schema))],
        message=f"first {len(rows)} of {total:,} rows, {len(schema)} columns"
        if len(rows) < total else f"all {total:,} rows, {len(schema)} columns")


# pages -------------------------------------------------------------------------------------
@router.get("/")
def home() -> Response:
    return RedirectResponse("/experiments", status_code=307)


@router.get("/experiments")
def experiments(request: Request) -> Response:
    client = client_of(request)
    projects = client.list_projects()
    groups = [(p, client.search_experiments(p.name).items) for p in projects]
    return render(request, "experiments.html", "experiments",
                  groups=[(p, exps) for p, exps in groups if exps],
                  empty=not any(exps for _, exps in groups))


@router.get("/experiments/{experiment_id}")
def runs_table(request: Request, experiment_id: str, filter: str = "", order: str = "",
               col: list[str] = Query([]), page: str = "", size: int = 50) -> Response:
    client = client_of(request)
    experiment = client.get_experiment(experiment_id)
    if size not in PAGE_SIZES:
        raise InvalidArgument(f"size must be one of {', '.join(map(str, PAGE_SIZES))}; got {size}")
    for column in col:
        if not _COLUMN.match(column):
            raise InvalidArgument(
                f"column {column!r} is not metrics.<key>, params.<key> or tags.<key>")
    filter_error = order_error = None
    runs: list[Run] = []
    next_token = None
    try:
        parse_filter(filter)
    except InvalidFilter as exc:
        filter_error = exc
    if filter_error is None:
        try:
            result = client.search_runs(experiment.id, filter or None, [order] if order else None,
                                        size, page or None)
            runs, next_token = result.items, result.next_page_token
        except InvalidFilter as exc:
            order_error = exc
    metric_keys = sorted({k for r in runs for k in r.metrics})
    param_keys = sorted({k for r in runs for k in r.params})
    tag_keys = sorted({k for r in runs for k in r.tags})
    columns = list(dict.fromkeys(col)) or (
        [f"metrics.{k}" for k in metric_keys[:DEFAULT_METRIC_COLUMNS]]
        + [f"params.{k}" for k in param_keys[:DEFAULT_PARAM_COLUMNS]])
    available = list(dict.fromkeys(
        [f"metrics.{k}" for k in metric_keys] + [f"params.{k}" for k in param_keys]
        + [f"tags.{k}" for k in tag_keys] + columns))
    state = {"filter": filter, "order": order, "col": col, "size": size if size != 50 else None}
    path = f"/experiments/{experiment.id}"

    def sort_url(field: str, descending_first: bool) -> str:
        if order == f"{field} DESC":
            new = f"{field} ASC"
        elif order in (f"{field} ASC", field):
            new = f"{field} DESC"
        else:
            new = f"{field} {'DESC' if descending_first else 'ASC'}"
        return query_url(path, {**state, "order": new})

    def sort_mark(field: str) -> str:
        if order == f"{field} DESC":
            return "descending"
        return "ascending" if order in (f"{field} ASC", field) else ""

    return render(
        request, "runs.html", "experiments", experiment=experiment, runs=runs, columns=columns,
        available=available, filter=filter, order=order, size=size, page_sizes=PAGE_SIZES,
        filter_error=filter_error, order_error=order_error, cell=cell, field_ref=field_ref,
        sort_url=sort_url, sort_mark=sort_mark, page=page,
        next_url=query_url(path, {**state, "page": next_token}) if next_token else None,
        first_url=query_url(path, state) if page else None, max_compare=MAX_COMPARE,
    )


@router.get("/runs/{run_id}")
async def run_page(request: Request, run_id: str, dir: str = "", artifact: str = "") -> Response:
    client = client_of(request)
    run = await run_in_threadpool(client.get_run, run_id)
    experiment = await run_in_threadpool(client.get_experiment, run.experiment_id)
    folder = validate_artifact_path(dir, allow_root=True) if dir else ""
    files = await run_in_threadpool(client.list_artifacts, run.id, folder)
    shown = None
    if artifact:
        shown = await run_in_threadpool(
            artifact_preview, client.run_artifacts(run), validate_artifact_path(artifact))
    parent = await run_in_threadpool(client.get_run, run.parent_id) if run.parent_id else None
    versions = await run_in_threadpool(
        client.search_model_versions, None, run.id, None, RUN_VERSIONS_SHOWN)
    crumbs = []
    if folder:
        parts = folder.split("/")
        crumbs = [(p, "/".join(parts[: i + 1])) for i, p in enumerate(parts)]
    return render(request, "run.html", "experiments", run=run, experiment=experiment, files=files,
                  folder=folder, crumbs=crumbs, shown=shown, parent=parent,
                  metric_keys=sorted(run.metrics), versions=versions.items,
                  more_versions=bool(versions.next_page_token))


@router.get("/compare")
def compare(request: Request, run: list[str] = Query([]), metric: str = "") -> Response:
    ids = list(dict.fromkeys(run))
    if not 2 <= len(ids) <= MAX_COMPARE:
        raise InvalidArgument(f"compare 2 to {MAX_COMPARE} runs; got {len(ids)}. "
                              "Select them with the check boxes of a runs table.")
    client = client_of(request)
    runs = [client.get_run(i) for i in ids]
    param_keys = sorted({k for r in runs for k in r.params})
    metric_keys = sorted({k for r in runs for k in r.metrics})
    if metric and metric not in metric_keys:
        raise InvalidArgument(f"none of these runs has the metric {metric!r}")
    differs = {k for k in param_keys if len({r.params.get(k) for r in runs}) > 1}
    metric = metric or (metric_keys[0] if metric_keys else "")
    parcoords = parcoords_rows(runs, metric)
    return render(request, "compare.html", "experiments", runs=runs, param_keys=param_keys,
                  metric_keys=metric_keys, differs=differs, metric=metric, parcoords=parcoords,
                  chart_runs=[{"id": r.id, "name": r.name} for r in runs])


def html_error_response(request: Request, exc: Exception) -> HTMLResponse | None:
    """An HTML error page for UI paths (None for the API, which answers JSON)."""
    path = request.url.path
    if path.startswith(("/api/", "/static/", "/openapi.json", "/docs", "/health", "/metrics")):
        return None
    if isinstance(exc, DockyardError):
        return error_page(request, exc.http_status if exc.http_status < 500 else 500,
                          exc.message if exc.http_status < 500 else "the server could not show this page")
    status = getattr(exc, "status_code", 500)
    message = str(getattr(exc, "detail", "")) if status < 500 else "the server could not show this page"
    return error_page(request, status, message or "this page does not exist")
