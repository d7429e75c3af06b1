"""The model registry's pages: the models, one model with its versions, one version.

The same pattern as :mod:`dockyard.server.ui`: every page reads through the
client the REST API uses, keeps its state in the query string, and raises
the errors of :mod:`dockyard.errors` for bad input, which the server answers
with an HTML page and the right status.

A version's page shows what the registry holds (package URI, digest,
signature, card, stage, aliases), the package manifest read from the
artifact store when it is there (flavor, Python, pinned requirements), and
the lineage graph drawn as inline SVG on the server.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup

from dockyard.client import Client
from dockyard.entities import LineageGraph, ModelStage, ModelVersion, RegisteredModel, Run
from dockyard.entities import validation as v
from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.server.deps import client_of
from dockyard.server.ui_validation import gate_of, validations_of
from dockyard.server.ui import PAGE_SIZES, query_url, render, templates

log = logging.getLogger("dockyard.server")
router = APIRouter(include_in_schema=False)

MANIFEST_LIMIT = 1024 * 1024  # a manifest is a few KiB; a bigger file is not one
_COUNT_PAGE = 1000

# The model card: CommonMark with tables and strikethrough. Raw HTML is off, so a
# card's <script> is shown as text; links to javascript:, vbscript:, file: and
# data: are refused by the parser. Images are off too: a card must not make every
# viewer's browser fetch from a host its author chose; an image becomes a link.
_MARKDOWN = (MarkdownIt("commonmark", {"html": False})
             .enable(["table", "strikethrough"]).disable("image"))
CARD_HEADING_SHIFT = 2  # the card sits under the page's h1 and its own h2: "# Title" is an h3


def render_markdown(text: str) -> Markup:
    """A model card as HTML: Markdown with raw HTML escaped, headings below the page's."""
    env: dict[str, Any] = {}
    tokens = _MARKDOWN.parse(text or "", env)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + CARD_HEADING_SHIFT, 6)}"
    return Markup(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, env))


def model_url(name: str) -> str:
    return f"/models/{quote(name, safe='')}"


def version_url(name: str, version: int) -> str:
    return f"{model_url(name)}/versions/{version}"


templates.env.filters.update(markdown=render_markdown)
templates.env.globals.update(model_url=model_url, version_url=version_url)


def _check_size(size: int) -> None:
    if size not in PAGE_SIZES:
        raise InvalidArgument(f"size must be one of {', '.join(map(str, PAGE_SIZES))}; got {size}")


def _all_versions(client: Client, name: str) -> Iterator[ModelVersion]:
    token = None
    while True:
        page = client.search_model_versions(name, max_results=_COUNT_PAGE, page_token=token)
        yield from page.items
        if not (token := page.next_page_token):
            return


def _runs(client: Client, run_ids: set[str]) -> dict[str, Run | None]:
    """The runs versions came from, by id (None for one that cannot be read)."""
    runs: dict[str, Run | None] = {}
    for run_id in sorted(run_ids):
        try:
            runs[run_id] = client.get_run(run_id)
        except NotFound:
            runs[run_id] = None
    return runs


# the models ------------------------------------------------------------------------------
@dataclass
class ModelRow:
    model: RegisteredModel
    versions: int
    updated_at: int


@router.get("/models")
def models_list(request: Request, filter: str = "", page: str = "", size: int = 50) -> Response:
    client = client_of(request)
    _check_size(size)
    text = filter.strip()
    result = client.search_registered_models(f"%{text}%" if text else None, size, page or None)
    rows = []
    for model in result.items:
        versions = list(_all_versions(client, model.name))
        rows.append(ModelRow(model, len(versions),
                             max([model.updated_at] + [mv.updated_at for mv in versions])))
    state = {"filter": text, "size": size if size != 50 else None}
    next_token = result.next_page_token
    return render(
        request, "models.html", "models", rows=rows, filter=text, size=size,
        page_sizes=PAGE_SIZES,
        next_url=query_url("/models", {**state, "page": next_token}) if next_token else None,
        first_url=query_url("/models", state) if page else None)


# one model -------------------------------------------------------------------------------
@router.get("/models/{name}")
def model_page(request: Request, name: str, stage: str = "", page: str = "",
               size: int = 50) -> Response:
    client = client_of(request)
    _check_size(size)
    chosen = ModelStage.parse(stage) if stage else None
    model = client.get_registered_model(name)
    result = client.search_model_versions(model.name, stage=chosen, max_results=size,
                                          page_token=page or None)
    versions = result.items
    in_stage = {s: [mv.version for mv in client.search_model_versions(
                    model.name, stage=s, max_results=_COUNT_PAGE).items]
                for s in (ModelStage.PRODUCTION, ModelStage.STAGING)}
    path = model_url(model.name)
    state = {"stage": chosen.value if chosen else None, "size": size if size != 50 else None}
    next_token = result.next_page_token
    return render(
        request, "model.html", "models", model=model, versions=versions,
        runs=_runs(client, {mv.run_id for mv in versions}), in_stage=in_stage,
        aliases=sorted(model.aliases.items(), key=lambda kv: (-kv[1], kv[0])),
        stage=chosen.value if chosen else "", stages=[s.value for s in ModelStage],
        size=size, page_sizes=PAGE_SIZES, path=path,
        next_url=query_url(path, {**state, "page": next_token}) if next_token else None,
        first_url=query_url(path, state) if page else None)


@router.get("/models/{name}/versions")
def versions_home(name: str) -> Response:
    return RedirectResponse(model_url(name), status_code=307)


# one version -----------------------------------------------------------------------------
@dataclass
class SpecView:
    """One side of a signature as the template shows it."""

    kind: str  # columns | tensor | other
    rows: list[dict[str, str]] = field(default_factory=list)
    raw: str = ""


def _spec_view(spec: Any) -> SpecView:
    """Columns or a tensor, read leniently: the registry holds any JSON object."""
    columns = spec.get("columns") if isinstance(spec, Mapping) and set(spec) == {"columns"} else None
    if isinstance(columns, list) and all(isinstance(c, Mapping) for c in columns):
        return SpecView("columns", [
            {"name": str(c.get("name", "")), "type": str(c.get("dtype", c.get("type", ""))),
             "nullable": "yes" if c.get("nullable") else "no"} for c in columns])
    tensor = spec.get("tensor") if isinstance(spec, Mapping) and set(spec) == {"tensor"} else None
    if isinstance(tensor, Mapping):
        shape = tensor.get("shape")
        dims = ", ".join("any" if d == -1 else str(d) for d in shape) \
            if isinstance(shape, list) else str(shape)
        return SpecView("tensor", [{"name": str(tensor.get("name") or ""),
                                    "type": str(tensor.get("dtype", "")), "shape": f"({dims})"}])
    return SpecView("other", raw=json.dumps(spec, indent=2, sort_keys=True, default=str))


@dataclass
class SignatureView:
    inputs: SpecView | None
    outputs: SpecView | None
    raw: str


def signature_view(signature: Mapping[str, Any] | None) -> SignatureView | None:
    if signature is None:
        return None
    raw = json.dumps(signature, indent=2, sort_keys=True, default=str)
    if "inputs" not in signature:
        return SignatureView(None, None, raw)
    outputs = signature.get("outputs")
    return SignatureView(_spec_view(signature["inputs"]),
                         None if outputs is None else _spec_view(outputs), raw)


@dataclass
class PackageView:
    """The package manifest from the artifact store, or why it could not be read."""

    path: str
    manifest: Any = None
    digest: str | None = None
    problem: str = ""


def read_package(client: Client, mv: ModelVersion) -> PackageView:
    """The manifest of the package a version names; a note instead when it cannot be read."""
    # numpy and pandas come with the package format: imported by this page only
    from dockyard.models.package import MANIFEST_NAME, parse_manifest

    try:
        _, folder = v.run_source(mv.source)
    except InvalidArgument:
        return PackageView("", problem=f"The source {mv.source!r} is not a runs:/ URI.")
    path = f"{folder}/{MANIFEST_NAME}" if folder else MANIFEST_NAME
    view = PackageView(path)
    try:
        content = bytearray()
        for chunk in client.iter_artifact(mv.run_id, path):
            content += chunk
            if len(content) > MANIFEST_LIMIT:
                view.problem = f"{path} is over {MANIFEST_LIMIT} bytes: not a model manifest."
                return view
        view.digest = hashlib.sha256(content).hexdigest()
        view.manifest = parse_manifest(f"{mv.source}/{MANIFEST_NAME}", bytes(content))
    except NotFound:
        view.problem = (f"The package is not in the artifact store: run {mv.run_id} has no "
                        f"{path}.")
    except DockyardError as exc:
        view.problem = f"The package manifest could not be read: {exc.message}"
    except OSError as exc:
        log.warning("reading %s of run %s: %s", path, mv.run_id, exc)
        view.problem = "The package manifest could not be read from the artifact store."
    return view


@router.get("/models/{name}/versions/{version}")
def version_page(request: Request, name: str, version: str) -> Response:
    client = client_of(request)
    number = v.validate_version(version)
    mv = client.get_model_version(name, number)
    model = client.get_registered_model(mv.name)
    run = _runs(client, {mv.run_id})[mv.run_id]
    graph: LineageGraph | None = None
    lineage_problem = ""
    try:
        graph = client.get_lineage(mv.uri)
    except DockyardError as exc:
        lineage_problem = exc.message
    return render(
        request, "model_version.html", "models", model=model, mv=mv, run=run,
        signature=signature_view(mv.signature), package=read_package(client, mv),
        lineage=layout_lineage(graph) if graph else None, lineage_problem=lineage_problem,
        validations=validations_of(client, mv, run), gate=gate_of(client, model, mv),
        approvals=[r for r in client.store.list_approval_requests(mv.name, "pending")
                   if r.version == mv.version])


# lineage as SVG --------------------------------------------------------------------------
# Left to right, the way things flow: what a run used, the run (and the model
# its versions belong to), the versions, then what serves and watches them.
KIND_COLUMN = {"dataset": 0, "dataset_version": 1, "experiment": 1, "code": 1, "environment": 1,
               "run": 2, "registered_model": 2, "model_version": 3, "deployment": 4,
               "monitor": 5, "alert": 6}
"""Columns left to right; empty ones close up, so a graph without datasets starts at its runs'
experiment."""
KIND_LABEL = {"registered_model": "model", "model_version": "model version",
              "dataset_version": "dataset version"}
NODE_W, NODE_H = 200, 48
COL_GAP, ROW_GAP, PAD = 80, 16, 12
LABEL_CHARS = 26


@dataclass
class NodeBox:
    id: str
    type: str
    kind_label: str
    label: str
    short: str
    href: str | None
    x: int
    y: int
    root: bool
    tip: str


@dataclass
class EdgePath:
    source: str
    target: str
    relation: str
    d: str
    text: str


@dataclass
class LineageView:
    nodes: list[NodeBox]
    edges: list[EdgePath]
    width: int
    height: int
    node_w: int = NODE_W
    node_h: int = NODE_H


def node_href(node_type: str, node_id: str, attrs: Mapping[str, Any]) -> str | None:
    """The page of a lineage node, where one exists."""
    if node_type == "run":
        run_id = attrs.get("run_id") or node_id.removeprefix("runs:/")
        return f"/runs/{quote(str(run_id), safe='')}"
    if node_type == "experiment" and attrs.get("experiment_id"):
        return f"/experiments/{quote(str(attrs['experiment_id']), safe='')}"
    if node_type == "model_version" and attrs.get("name") and attrs.get("version"):
        return version_url(str(attrs["name"]), int(attrs["version"]))
    if node_type == "registered_model" and node_id.startswith("models:/"):
        return model_url(node_id.removeprefix("models:/"))
    if node_type == "deployment" and node_id.startswith("deployment:"):
        return f"/deployments/{quote(node_id.removeprefix('deployment:'), safe='')}"
    if node_type == "monitor" and attrs.get("name"):
        return f"/monitoring/{quote(str(attrs['name']), safe='')}"
    if node_type == "dataset_version" and attrs.get("name") and attrs.get("version"):
        return f"/data/{quote(str(attrs['name']), safe='')}/{int(attrs['version'])}"
    if node_type == "dataset" and node_id.startswith("dataset:"):
        return f"/data/{quote(node_id.removeprefix('dataset:'), safe='')}"
    return None


def _columns(graph: LineageGraph) -> dict[str, int]:
    """Each node's column: by kind, or one right of what flows into it for other kinds."""
    column = {n.id: KIND_COLUMN[n.type] for n in graph.nodes if n.type in KIND_COLUMN}
    others = [n.id for n in graph.nodes if n.id not in column]
    for _ in range(len(others)):
        changed = False
        for nid in others:
            before = [column[e.source] for e in graph.edges
                      if e.target == nid and e.source in column]
            if before and column.get(nid) != max(before) + 1:
                column[nid] = max(before) + 1
                changed = True
        if not changed:
            break
    for nid in others:
        if nid not in column:
            after = [column[e.target] for e in graph.edges
                     if e.source == nid and e.target in column]
            column[nid] = max(min(after) - 1, 0) if after else 0
    used = sorted(set(column.values()))
    return {nid: used.index(c) for nid, c in column.items()}


def kind_label(node_type: str) -> str:
    return KIND_LABEL.get(node_type, node_type.replace("_", " "))


def _tip(node_type: str, label: str, attrs: Mapping[str, Any]) -> str:
    shown = {k: val for k, val in attrs.items()
             if k in ("status", "user", "stage", "aliases", "python_version", "git_commit",
                      "owner", "task", "source") and val not in (None, "", [], {})}
    details = "; ".join(f"{k}: {', '.join(val) if isinstance(val, list) else val}"
                        for k, val in shown.items())
    return f"{kind_label(node_type)}: {label}" + (f" ({details})" if details else "")


def layout_lineage(graph: LineageGraph) -> LineageView:
    """Positions for a left-to-right layered drawing of ``graph``."""
    column = _columns(graph)
    order = {k: i for i, k in enumerate(("experiment", "code", "environment", "dataset",
                                         "dataset_version", "run", "registered_model"))}
    by_column: dict[int, list[Any]] = {}
    for n in graph.nodes:
        by_column.setdefault(column[n.id], []).append(n)
    rows = max((len(ns) for ns in by_column.values()), default=1)
    height = PAD * 2 + rows * NODE_H + (rows - 1) * ROW_GAP
    width = PAD * 2 + len(by_column) * NODE_W + (len(by_column) - 1) * COL_GAP
    boxes: dict[str, NodeBox] = {}
    for col, nodes in by_column.items():
        nodes.sort(key=lambda n: (order.get(n.type, len(order)), n.label, n.id))
        used = len(nodes) * NODE_H + (len(nodes) - 1) * ROW_GAP
        top = PAD + (height - 2 * PAD - used) // 2
        for i, n in enumerate(nodes):
            short = n.label if len(n.label) <= LABEL_CHARS else n.label[:LABEL_CHARS - 1] + "…"
            boxes[n.id] = NodeBox(
                id=n.id, type=n.type, kind_label=kind_label(n.type),
                label=n.label, short=short, href=node_href(n.type, n.id, n.attrs),
                x=PAD + col * (NODE_W + COL_GAP), y=top + i * (NODE_H + ROW_GAP),
                root=n.id == graph.root, tip=_tip(n.type, n.label, n.attrs))
    edges = []
    for e in graph.edges:
        if e.source not in boxes or e.target not in boxes:
            continue
        s, t = boxes[e.source], boxes[e.target]
        x1, y1 = s.x + NODE_W, s.y + NODE_H // 2
        x2, y2 = t.x, t.y + NODE_H // 2
        bend = max((x2 - x1) // 2, 40)
        edges.append(EdgePath(e.source, e.target, e.relation,
                              f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2 - 2},{y2}",
                              f"{s.label} ({s.kind_label}) {e.relation.replace('_', ' ')} "
                              f"{t.label} ({t.kind_label})"))
    return LineageView(list(boxes.values()), edges, width, height)
