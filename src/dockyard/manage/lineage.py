"""Lineage: the records upstream and downstream of a model version or a run.

Edges point the way things flow, from what was used to what was made:

    experiment --contains--> run
    code       --used_by---> run        (git commit; "+dirty" when the tree had changes)
    environment --used_by--> run        (Python version; packages once captured)
    run        --produced--> model version
    registered model --has_version--> model version
    model version --deployed_to--> deployment   (with its role and traffic weight)
    deployment (or model version) --watched_by--> monitor
    dataset    --has_version--> dataset version
    dataset version --used_for_<context>--> run   (training, validation, test ...)
"""

from __future__ import annotations

from dockyard.entities import (
    LineageEdge,
    LineageGraph,
    LineageNode,
    ModelVersion,
    RegisteredModel,
    Run,
)
from dockyard.entities import validation as v
from dockyard.entities.dataset import SCHEME, parse_dataset_spec
from dockyard.manage.uris import RUNS_SCHEME, find_model_version, parse_model_uri
from dockyard.store.base import MetadataStore

_PAGE = 1000


class _Graph:
    def __init__(self) -> None:
        self.nodes: dict[str, LineageNode] = {}
        self.edges: list[LineageEdge] = []

    def add(self, node: LineageNode) -> str:
        self.nodes.setdefault(node.id, node)
        return node.id

    def link(self, source: str, target: str, relation: str) -> None:
        edge = LineageEdge(source=source, target=target, relation=relation)
        if edge not in self.edges:
            self.edges.append(edge)

    def build(self, root: str) -> LineageGraph:
        return LineageGraph(root=root, nodes=list(self.nodes.values()), edges=self.edges)


def run_node_id(run_id: str) -> str:
    return f"runs:/{run_id}"


def _add_run(store: MetadataStore, graph: _Graph, run: Run) -> str:
    """The run and what it came from: its experiment, code version and environment."""
    rid = graph.add(LineageNode(id=run_node_id(run.id), type="run", label=run.name, attrs={
        "run_id": run.id, "status": run.status.value, "user": run.user,
        "start_time": run.start_time, "end_time": run.end_time, "entry_point": run.entry_point,
        "git_commit": run.git_commit, "git_dirty": run.git_dirty,
        "python_version": run.python_version,
    }))
    experiment = store.get_experiment(run.experiment_id)
    eid = graph.add(LineageNode(id=f"experiment:{experiment.id}", type="experiment",
                                label=experiment.name, attrs={"experiment_id": experiment.id,
                                                              "project_id": experiment.project_id}))
    graph.link(eid, rid, "contains")
    if run.git_commit:
        dirty = bool(run.git_dirty)
        cid = graph.add(LineageNode(
            id=f"code:{run.git_commit}" + ("+dirty" if dirty else ""), type="code",
            label=run.git_commit[:12] + (" (dirty)" if dirty else ""),
            attrs={"git_commit": run.git_commit, "git_dirty": run.git_dirty}))
        graph.link(cid, rid, "used_by")
    if run.python_version:
        envid = graph.add(LineageNode(id=f"environment:{run.id}", type="environment",
                                      label=f"Python {run.python_version}",
                                      attrs={"python_version": run.python_version}))
        graph.link(envid, rid, "used_by")
    for used in store.list_run_inputs(run.id):
        graph.link(_add_dataset_version(store, graph, used.name, used.version), rid,
                   f"used_for_{used.context}")
    return rid


def _add_dataset_version(store: MetadataStore, graph: _Graph, name: str, version: int) -> str:
    node_id = f"{SCHEME}{name}/{version}"
    if node_id in graph.nodes:
        return node_id
    found = store.get_dataset_version(name, version)
    graph.add(LineageNode(id=node_id, type="dataset_version", label=found.spec, attrs={
        "name": name, "version": version, "digest": found.digest, "rows": found.rows,
        "storage": found.storage, "source": found.source, "created_at": found.created_at}))
    graph.link(graph.add(LineageNode(id=f"dataset:{name}", type="dataset", label=name)),
               node_id, "has_version")
    return node_id


def _add_downstream(store: MetadataStore, graph: _Graph, vid: str, version: ModelVersion) -> None:
    """Where the version runs (deployments routing to it) and the monitors watching it."""
    deployed: dict[str, str] = {}
    for deployment in store.list_deployments(model_name=version.name):
        for route in deployment.routes:
            if route.model_name == version.name and route.version == str(version.version):
                did = graph.add(LineageNode(
                    id=f"deployment:{deployment.name}", type="deployment", label=deployment.name,
                    attrs={"environment": deployment.environment, "target": deployment.target,
                           "status": deployment.status, "endpoint": deployment.endpoint,
                           "revision": deployment.revision}))
                graph.link(vid, did, "deployed_to")
                deployed[deployment.name] = did
    for monitor in store.list_monitors(model_name=version.name):
        if monitor.model_version not in (None, str(version.version)):
            continue
        if monitor.deployment is not None and monitor.deployment not in deployed:
            continue
        monid = graph.add(LineageNode(id=f"monitor:{monitor.id}", type="monitor",
                                      label=monitor.name,
                                      attrs={"monitor_id": monitor.id, "name": monitor.name}))
        graph.link(deployed.get(monitor.deployment or "", vid), monid, "watched_by")


def _add_version(graph: _Graph, version: ModelVersion, model: RegisteredModel | None = None) -> str:
    vid = graph.add(LineageNode(id=version.uri, type="model_version",
                                label=f"{version.name} v{version.version}", attrs={
        "name": version.name, "version": version.version, "stage": version.stage.value,
        "status": version.status.value, "aliases": version.aliases, "source": version.source,
        "package_digest": version.package_digest, "created_at": version.created_at,
    }))
    mid = graph.add(LineageNode(
        id=f"models:/{version.name}", type="registered_model", label=version.name,
        attrs={"owner": model.owner, "task": model.task} if model else {}))
    graph.link(mid, vid, "has_version")
    graph.link(run_node_id(version.run_id), vid, "produced")
    return vid


def lineage(store: MetadataStore, uri: str) -> LineageGraph:
    """The lineage graph around what ``uri`` names.

    For a model URI (every form :func:`~dockyard.manage.uris.parse_model_uri`
    accepts), the version, its registered model, the run that produced it
    and that run's experiment, code and environment, and downstream the
    deployments serving the version and the monitors watching it. For
    ``runs:/<run_id>`` (with or without a path), the run, its upstream, and
    every version registered from it with their downstream. Raises
    InvalidArgument, NotFound. For a dataset version (``datasets:/churn/2``),
    the version, the runs that used it with their upstream, and what they made.
    """
    graph = _Graph()
    if isinstance(uri, str) and uri.startswith(SCHEME):
        name, number = parse_dataset_spec(uri)
        number = number or store.get_dataset_version(name).version
        root = _add_dataset_version(store, graph, name, number)
        for run_id in dict.fromkeys(i.run_id for i in store.list_dataset_runs(name, number)):
            _add_run(store, graph, store.get_run(run_id))
            _add_made(store, graph, run_id)
        return graph.build(root)
    if isinstance(uri, str) and uri.startswith(RUNS_SCHEME) and "/" not in uri[len(RUNS_SCHEME):]:
        run_id = v.validate_run_id(uri[len(RUNS_SCHEME):])
    else:
        parsed = parse_model_uri(uri)
        run_id = parsed.run_id or ""
        if parsed.kind == "models":
            version = find_model_version(store, parsed)
            _add_run(store, graph, store.get_run(version.run_id))
            root = _add_version(graph, version, store.get_registered_model(version.name))
            _add_downstream(store, graph, root, version)
            return graph.build(root)
    root = _add_run(store, graph, store.get_run(run_id))
    _add_made(store, graph, run_id)
    return graph.build(root)


def _add_made(store: MetadataStore, graph: _Graph, run_id: str) -> None:
    """The model versions registered from a run, with where they run and who watches them."""
    versions: list[ModelVersion] = []
    token = None
    while True:
        page = store.search_model_versions(run_id=run_id, max_results=_PAGE, page_token=token)
        versions += page.items
        if not (token := page.next_page_token):
            break
    models = {name: store.get_registered_model(name) for name in {mv.name for mv in versions}}
    for mv in versions:
        _add_downstream(store, graph, _add_version(graph, mv, models[mv.name]), mv)

