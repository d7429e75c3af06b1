"""``dockyard deploy`` and ``dockyard deployments``: run model versions, roll them out safely.

``dockyard deploy MODEL --name NAME`` records the deployment (or changes the
one of that name) and hands it to its target; the subcommands change a
running deployment. Every change is a new revision in the record, with who
made it and why (``dockyard deploy history``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import typer
from rich.markup import escape
from typer.core import TyperGroup

from dockyard.cli.common import JsonOption, UriOption, client, handle_errors, reference_data
from dockyard.cli.output import console, err_console, fmt_time, print_json, table
from dockyard.entities.deployment import (
    ENVIRONMENTS,
    TARGETS,
    Deployment,
    DeploymentSpec,
    check_deployment_spec,
)
from dockyard.errors import DockyardError, InvalidArgument, NotFound


class _DeployGroup(TyperGroup):
    """``dockyard deploy MODEL ...`` runs ``create``; a subcommand name runs that subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DeployGroup,
    help="Deploy a model version, and change a running deployment: update, canary, shadow, "
         "promote, rollback, stop.\n\n"
         "dockyard deploy models:/churn@champion --name churn --target local --wait",
    no_args_is_help=True,
)
inventory = typer.Typer(help="The inventory: which model versions run where.",
                        no_args_is_help=True)

WaitOption = typer.Option(False, "--wait",
                          help="Block until the deployment is healthy; exit 1 if it fails or "
                               "the timeout passes (for CI/CD).")
TimeoutOption = typer.Option(300.0, "--timeout", min=1.0,
                             help="Seconds --wait waits for the deployment to be healthy.")
MessageOption = typer.Option("", "--message", "-m", help="Why: kept in the history.")


def _steps(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InvalidArgument(f"--steps {text!r}: give percents such as 10,50,100") from None


def _merge(model: Any, **given: Any) -> Any:
    """``model`` with the options the user gave (None: not given) replaced."""
    changes = {k: v for k, v in given.items() if v is not None}
    return model.model_copy(update=changes) if changes else model


@app.command("create")
@handle_errors
def create(
    model: str = typer.Argument(..., help="The version to serve: models:/<name>@<alias> or "
                                          "models:/<name>/<version>."),
    name: str = typer.Option(..., "--name", "-n",
                             help="The deployment's name (lowercase letters, digits, '-')."),
    target: str = typer.Option(None, "--target", "-t",
                               help=f"Where it runs: {', '.join(TARGETS)} (default: local)."),
    environment: str = typer.Option(None, "--env", "-e",
                                    help=f"{', '.join(ENVIRONMENTS)} (default: dev)."),
    canary: int = typer.Option(None, "--canary", min=1, max=99,
                               help="Roll the model out as a canary taking this percent of the "
                                    "existing deployment's traffic (a new deployment serves it "
                                    "as its stable version)."),
    shadow: bool = typer.Option(False, "--shadow",
                                help="Mirror the existing deployment's traffic to the model; "
                                     "its answers are recorded, not returned."),
    min_replicas: int = typer.Option(None, "--min-replicas", min=0, help="Fewest replicas."),
    max_replicas: int = typer.Option(None, "--max-replicas", min=1, help="Most replicas."),
    target_concurrency: float = typer.Option(
        None, "--target-concurrency", help="Requests in flight per replica to scale at."),
    cpu: str = typer.Option(None, "--cpu", help="CPU per replica, e.g. 500m or 2."),
    memory: str = typer.Option(None, "--memory", help="Memory per replica, e.g. 512Mi, 2Gi."),
    gpu: int = typer.Option(None, "--gpu", min=0, help="GPUs per replica."),
    sla_p99_ms: float = typer.Option(None, "--sla-p99-ms", help="SLA: p99 latency at most."),
    sla_min_throughput: float = typer.Option(None, "--sla-min-throughput",
                                             help="SLA: requests per second at least."),
    steps: str = typer.Option(None, "--steps",
                              help="Canary steps in percent, ending at 100 (default 10,50,100)."),
    step_seconds: float = typer.Option(None, "--step-seconds",
                                       help="Seconds at each canary step (default 60)."),
    min_requests: int = typer.Option(None, "--min-requests",
                                     help="Canary requests before a step is judged (default 20)."),
    auto: bool = typer.Option(None, "--auto/--manual",
                              help="Step the canary forward and roll it back automatically "
                                   "(default), or leave it to promote and rollback."),
    host: str = typer.Option(None, "--host", help="local: the address the endpoint binds."),
    port: int = typer.Option(None, "--port", min=1, max=65535,
                             help="local: the endpoint's port (default: a free one)."),
    address: str = typer.Option(None, "--address",
                                help="ray: the cluster's address (e.g. 127.0.0.1:6379)."),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="kubernetes: write the manifests only, without recording "
                                      "the deployment."),
    output: Path = typer.Option(None, "--output", "-o",
                                help="kubernetes: the folder the manifests are written to."),
    kind: str = typer.Option("kserve", "--kind",
                             help="kubernetes: kserve (InferenceService) or plain (Deployment, "
                                  "Service, HPA, PDB)."),
    image: str = typer.Option(None, "--image", help="kubernetes: the model server image."),
    storage_uri: str = typer.Option(None, "--storage-uri",
                                    help="kubernetes: where KServe fetches the package; {name} "
                                         "and {version} are replaced (default: its location in "
                                         "the artifact store, when that is s3:// or alike)."),
    namespace: str = typer.Option(None, "--namespace", help="kubernetes: the namespace."),
    description: str = typer.Option(None, "--description", help="What the deployment is for."),
    monitor_reference: str = typer.Option(
        None, "--monitor-reference",
        help="Watch the deployment: a monitor named after it, with default rules, profiled "
             "against this reference (Parquet or CSV, or a dataset version such as churn@2, "
             "e.g. the training data)."),
    monitor_target: str = typer.Option(None, "--monitor-target",
                                       help="The reference's label column (with "
                                            "--monitor-reference: quality rules too)."),
    monitor_prediction: str = typer.Option(None, "--monitor-prediction",
                                           help="The reference's prediction column."),
    message: str = MessageOption,
    wait: bool = WaitOption,
    timeout: float = TimeoutOption,
    uri: str = UriOption,
) -> None:
    """Deploy a model version, or change the deployment of that name (safe to run again).

    \b
    dockyard deploy models:/churn@champion --name churn --target local --wait
    dockyard deploy models:/churn@challenger --name churn --canary 10
    dockyard deploy models:/churn@champion --name churn --target ray --address 127.0.0.1:6379
    dockyard deploy models:/churn@champion --name churn --target kubernetes --dry-run -o k8s/
    """
    from dockyard.deploy import deployments as ops

    if canary is not None and shadow:
        raise typer.BadParameter("give --canary or --shadow, not both", param_hint="--canary")
    c = client(uri)
    try:
        current: Deployment | None = c.store.get_deployment(name)
    except NotFound:
        current = None
    if current is None and (canary is not None or shadow):
        err_console.print(f"there is no deployment {escape(name)} yet to roll a "
                          f"{'shadow' if shadow else 'canary'} out on: "
                          f"{escape(model)} becomes its stable version")
        canary, shadow = None, False
    base = current.spec() if current is not None else DeploymentSpec(
        name=name, routes=[ops.resolve_route(c, model)])
    config = dict(base.config)
    for key, value in (("host", host), ("port", port), ("address", address),
                       ("namespace", namespace)):
        if value is not None:
            config[key] = value
    if current is None and (target or base.target) == "local" and "port" not in config:
        from dockyard.deploy.local import free_port

        config["port"] = free_port()  # chosen once: the endpoint stays where it is
    spec = _merge(
        base, target=target, environment=environment, description=description, config=config,
        scaling=_merge(base.scaling, min_replicas=min_replicas, max_replicas=max_replicas,
                       target_concurrency=target_concurrency),
        resources=_merge(base.resources, cpu=cpu, memory=memory, gpu=gpu),
        sla=_merge(base.sla, p99_ms=sla_p99_ms, min_throughput=sla_min_throughput),
        rollout=_merge(base.rollout, steps=_steps(steps), interval_seconds=step_seconds,
                       min_requests=min_requests, auto=auto))
    planned = spec.model_copy(update={"routes": _planned_routes(c, current, model, canary,
                                                                shadow)})
    # Everything is checked before anything is written.
    check_deployment_spec(planned)
    if spec.target != "kubernetes" and (dry_run or output is not None):
        raise typer.BadParameter("--dry-run and --output write Kubernetes manifests; use them "
                                 "with --target kubernetes", param_hint="--dry-run")
    if spec.target == "kubernetes" and output is None:
        raise typer.BadParameter("Dockyard writes Kubernetes manifests for kubectl (or GitOps) "
                                 "to apply; give the folder with -o", param_hint="--output")
    if spec.target == "ray" and not spec.config.get("address"):
        raise typer.BadParameter("give the Ray cluster's address (e.g. 127.0.0.1:6379)",
                                 param_hint="--address")
    reference = reference_data(monitor_reference, "--monitor-reference")
    if isinstance(reference, str):
        c.get_dataset_version(reference)  # an unknown dataset fails before anything is written
    manifests = None
    if spec.target == "kubernetes":
        manifests = _manifests(c, planned, kind=kind, image=image, storage_uri=storage_uri)
        if dry_run:
            _write_manifests(planned, output, manifests)
            return
    deployment = ops.deploy(c, spec, message=message)  # new, or its settings changed
    if current is not None:
        if canary is not None:
            deployment = ops.canary(c, name, model, canary, message=message)
        elif shadow:
            deployment = ops.shadow(c, name, model, message=message)
        elif deployment.versions() != [f"{r.model_name}/{r.version}" for r in planned.routes]:
            deployment = ops.update(c, name, model, message=message)
    if reference is not None:
        _watch(c, deployment, reference, monitor_target, monitor_prediction)
    if manifests is not None:
        _write_manifests(deployment, output, manifests)
        c.store.set_deployment_status(name, "pending", f"apply the manifests in {output} with "
                                                       "kubectl")
        return
    _changed(c, deployment, "serving", wait=wait, timeout=timeout)


def _watch(c: Any, deployment: Deployment, reference: str | Path, target: str | None,
           prediction: str | None) -> None:
    """A monitor of the deployment, named after it, unless it has one already."""
    from dockyard.entities.monitoring import TASKS, MonitorSpec
    from dockyard.monitor.monitors import create_monitor

    try:
        c.get_monitor_by_name(deployment.name)
        err_console.print(f"monitor {escape(deployment.name)} exists already; it stays as it is")
        return
    except NotFound:
        pass
    stable = deployment.stable
    task = c.store.get_registered_model(stable.model_name).task
    spec = MonitorSpec(name=deployment.name, model_name=stable.model_name,
                       deployment=deployment.name, task=task if task in TASKS else None)
    monitor = create_monitor(c, spec, reference, target=target, prediction=prediction)
    err_console.print(f"monitor [bold]{escape(monitor.name)}[/] watches the deployment with "
                      f"{len(monitor.rules)} rules: dockyard monitor show {monitor.name}")


def _planned_routes(c: Any, current: Deployment | None, model: str, canary: int | None,
                    shadow: bool) -> list[Any]:
    """The routes a change would give, without recording it (for --dry-run)."""
    from dockyard.deploy import deployments as ops

    if current is None or (canary is None and not shadow):
        return [ops.resolve_route(c, model)]
    if canary is not None:
        return ops.canary_routes(current.stable, ops.resolve_route(c, model, weight=canary))
    return ops.shadow_routes(current.stable, ops.resolve_route(c, model, weight=0))


def _routes(deployment: Deployment) -> list[str]:
    return [f"{r.model_name}/{r.version} {r.role}"
            + (f" {r.weight}%" if r.role != "shadow" and r.weight != 100 else "")
            for r in deployment.routes]


def _changed(c: Any, deployment: Deployment, what: str, *, wait: bool, timeout: float) -> None:
    """Say what the deployment serves now, and give it to its target."""
    err_console.print(f"deployment [bold]{escape(deployment.name)}[/] revision "
                      f"{deployment.revision}, {what}: {escape(', '.join(_routes(deployment)))}")
    _hand_over(c, deployment, wait=wait, timeout=timeout)


def _hand_over(c: Any, deployment: Deployment, *, wait: bool, timeout: float) -> None:
    """Give the deployment to its target, and wait for it if asked."""
    from dockyard.deploy import deployments as ops

    if deployment.target == "kubernetes":
        err_console.print("kubectl applies Kubernetes deployments: write the manifests of this "
                          f"revision with dockyard deploy render {deployment.name} -o DIR, then "
                          "kubectl apply -f DIR")
        return
    if deployment.target == "local":
        from dockyard.deploy.local import LocalTarget

        LocalTarget(c).apply(deployment)
        if not wait:
            err_console.print(f"its supervisor is applying it; follow it with dockyard deploy "
                              f"status {deployment.name}")
            return
    elif deployment.target == "ray":
        from dockyard.deploy.ray_serve import RayServeTarget

        RayServeTarget(c, str(deployment.config.get("address"))).apply(deployment)

    def show(d: Deployment) -> None:
        err_console.print(f"  {d.status}{': ' + escape(d.message) if d.message else ''}")

    done = ops.wait_until_ready(c, deployment.name, timeout=timeout, on_status=show)
    console.print(f"deployment {done.name} is healthy at {done.endpoint} "
                  f"(revision {done.revision})")


def _manifests(c: Any, spec: DeploymentSpec, *, kind: str, image: str | None,
               storage_uri: str | None) -> tuple[dict[str, Any], str]:
    """The render options for ``spec``, checked by rendering once; and what checked them."""
    from dockyard.deploy.kubernetes import KINDS, KUBERNETES_VERSION, render, validate_manifests
    from dockyard.errors import MissingExtra

    if kind not in KINDS:
        raise typer.BadParameter(f"give one of {', '.join(KINDS)}", param_hint="--kind")
    options: dict[str, Any] = {"kind": kind, "image": image, "storage_uri": storage_uri}
    if storage_uri is None and kind == "kserve":
        options["storage_uri"] = _storage_uris(c, spec)
    options = {k: v for k, v in options.items() if v is not None}
    objects = render(spec, **options)
    try:
        validate_manifests(objects)
        checked = f"checked against the Kubernetes {KUBERNETES_VERSION} and KServe schemas"
    except MissingExtra:
        checked = "not checked (pip install 'dockyard[kubernetes]' to check them)"
    return options, checked


def _write_manifests(spec: DeploymentSpec, output: Path,
                     manifests: tuple[dict[str, Any], str]) -> None:
    from dockyard.deploy.kubernetes import write_manifests

    options, checked = manifests
    for path in write_manifests(spec, output, **options):
        console.print(f"wrote {path}")
    console.print(f"manifests {checked}; apply them with: kubectl apply -f {output}")


def _storage_uris(c: Any, spec: DeploymentSpec) -> dict[str, str]:
    """Where each route's package is in the artifact store, if a cluster can read it."""
    root = str(c._artifact_root)
    if "://" not in root:
        raise InvalidArgument(
            f"the artifact store is the local folder {root}, which a cluster cannot read; give "
            "--storage-uri (s3://bucket/models/{name}/{version}, pvc://..., gs://...)")
    uris = {}
    for route in spec.routes:
        resolved = c.resolve_model_uri(route.uri)
        run = c.get_run(resolved.run_id)
        uris[route.uri] = f"{root.rstrip('/')}/{run.artifact_location}/{resolved.artifact_path}"
    return uris


@app.command("update")
@handle_errors
def update(
    name: str = typer.Argument(..., help="The deployment."),
    model: str = typer.Argument(..., help="The version to serve next: models:/<name>@<alias> "
                                          "or models:/<name>/<version>."),
    canary: int = typer.Option(None, "--canary", min=1, max=99,
                               help="Send it only this percent of traffic, as a canary."),
    shadow: bool = typer.Option(False, "--shadow", help="Mirror traffic to it instead."),
    message: str = MessageOption,
    wait: bool = WaitOption,
    timeout: float = TimeoutOption,
    uri: str = UriOption,
) -> None:
    """Serve another version: all at once (no request dropped), as a canary, or as a shadow."""
    from dockyard.deploy import deployments as ops

    if canary is not None and shadow:
        raise typer.BadParameter("give --canary or --shadow, not both", param_hint="--canary")
    c = client(uri)
    if canary is not None:
        deployment = ops.canary(c, name, model, canary, message=message)
    elif shadow:
        deployment = ops.shadow(c, name, model, message=message)
    else:
        deployment = ops.update(c, name, model, message=message)
    _changed(c, deployment, "serving", wait=wait, timeout=timeout)


@app.command("promote")
@handle_errors
def promote(name: str = typer.Argument(..., help="The deployment."),
            message: str = MessageOption, wait: bool = WaitOption,
            timeout: float = TimeoutOption, uri: str = UriOption) -> None:
    """Give the canary (or shadow) all the traffic: it becomes the stable version."""
    from dockyard.deploy import deployments as ops

    c = client(uri)
    _changed(c, ops.promote(c, name, message=message), "promoted", wait=wait, timeout=timeout)


@app.command("rollback")
@handle_errors
def rollback(name: str = typer.Argument(..., help="The deployment."),
             message: str = MessageOption, wait: bool = WaitOption,
             timeout: float = TimeoutOption, uri: str = UriOption) -> None:
    """Return to the previous version in one step (during a canary: the stable one alone)."""
    from dockyard.deploy import deployments as ops

    c = client(uri)
    _changed(c, ops.rollback(c, name, message=message), "rolled back", wait=wait,
             timeout=timeout)


@app.command("status")
@handle_errors
def status(name: str = typer.Argument(..., help="The deployment."),
           events: int = typer.Option(10, "--events", min=0, max=1000,
                                      help="How many history events to show."),
           as_json: bool = JsonOption, uri: str = UriOption) -> None:
    """Show a deployment: its routes, status, endpoint, settings and latest history."""
    c = client(uri)
    deployment = c.store.get_deployment(name)
    history = c.store.get_deployment_history(name, events) if events else []
    if as_json:
        print_json({"deployment": deployment.model_dump(mode="json"),
                    "history": [e.model_dump(mode="json") for e in history]})
        return
    d = deployment
    console.print(f"[bold]{escape(d.name)}[/] ({d.environment}, {d.target}): {d.status}"
                  f"{' - ' + escape(d.message) if d.message else ''}")
    console.print(f"endpoint: {d.endpoint or '-'}   revision {d.observed_revision} of "
                  f"{d.revision} running")
    table("Routes", ["model", "version", "role", "weight"],
          [(r.model_name, r.version, r.role, f"{r.weight}%") for r in d.routes])
    console.print(f"scaling: {d.scaling.min_replicas}-{d.scaling.max_replicas} replicas at "
                  f"{d.scaling.target_concurrency:g} in flight; SLA: p99 "
                  f"{d.sla.p99_ms or '-'} ms, {d.sla.min_throughput or '-'} req/s")
    if history:
        _history_table(history)


def _history_table(history: list[Any]) -> None:
    table("History", ["time", "revision", "action", "user", "message"],
          [(fmt_time(e.time), e.revision,
            f"status: {e.after['status']}" if e.action == "status" and e.after else e.action,
            e.user or "-", e.message or "-") for e in history])


@app.command("history")
@handle_errors
def history(name: str = typer.Argument(..., help="The deployment."),
            max_results: int = typer.Option(50, "--max", min=1, max=1000,
                                            help="How many events, newest first."),
            as_json: bool = JsonOption, uri: str = UriOption) -> None:
    """Every change of a deployment: who, when, what, and the status its target reported."""
    events = client(uri).store.get_deployment_history(name, max_results)
    if as_json:
        print_json(events)
        return
    _history_table(events)


@app.command("stop")
@handle_errors
def stop(name: str = typer.Argument(..., help="The deployment."), uri: str = UriOption) -> None:
    """Stop serving (drain, then stop); the record stays, and start runs it again."""
    c = client(uri)
    deployment = c.store.get_deployment(name)
    _stop(c, deployment)
    console.print(f"deployment {name} stopped")


def _stop(c: Any, deployment: Deployment) -> None:
    if deployment.target == "local":
        from dockyard.deploy.local import LocalTarget

        LocalTarget(c).stop(deployment.name)
    elif deployment.target == "ray":
        from dockyard.deploy.ray_serve import RayServeTarget

        RayServeTarget(c, str(deployment.config.get("address"))).stop(deployment.name)
    else:
        err_console.print("Dockyard does not run Kubernetes deployments: remove it from the "
                          "cluster with kubectl delete -f DIR")
    c.store.set_deployment_status(deployment.name, "stopped", "stopped by command")


@app.command("start")
@handle_errors
def start(name: str = typer.Argument(..., help="The deployment."), wait: bool = WaitOption,
          timeout: float = TimeoutOption, uri: str = UriOption) -> None:
    """Run a stopped deployment again, at its current revision."""
    c = client(uri)
    _hand_over(c, c.store.get_deployment(name), wait=wait, timeout=timeout)


@app.command("render")
@handle_errors
def render_manifests(
    name: str = typer.Argument(..., help="The deployment (target kubernetes)."),
    output: Path = typer.Option(..., "--output", "-o", help="The folder the manifests go to."),
    kind: str = typer.Option("kserve", "--kind", help="kserve or plain."),
    image: str = typer.Option(None, "--image", help="The model server image."),
    storage_uri: str = typer.Option(None, "--storage-uri",
                                    help="Where KServe fetches the packages; {name} and "
                                         "{version} are replaced."),
    uri: str = UriOption,
) -> None:
    """Write the Kubernetes manifests of a deployment's current revision, for kubectl apply."""
    c = client(uri)
    deployment = c.store.get_deployment(name)
    if deployment.target != "kubernetes":
        raise typer.BadParameter(f"deployment {name} runs on {deployment.target}; manifests are "
                                 "for target kubernetes", param_hint="NAME")
    manifests = _manifests(c, deployment, kind=kind, image=image, storage_uri=storage_uri)
    _write_manifests(deployment, output, manifests)
    c.store.set_deployment_status(name, "pending",
                                  f"apply the manifests in {output} with kubectl")


@app.command("delete")
@handle_errors
def delete(name: str = typer.Argument(..., help="The deployment."),
           yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
           force: bool = typer.Option(False, "--force",
                                      help="Remove the record even if its target cannot be "
                                           "stopped (a Ray cluster that is gone)."),
           uri: str = UriOption) -> None:
    """Stop a deployment and remove it, with its history, from the record."""
    c = client(uri)
    deployment = c.store.get_deployment(name)
    if not yes:
        typer.confirm(f"delete deployment {name} and its history?", abort=True)
    try:
        _stop(c, deployment)
    except DockyardError as exc:
        if not force:
            raise DockyardError(f"cannot stop deployment {name}: {exc.message}; give --force to "
                                "remove it from the record anyway") from None
        err_console.print(f"could not stop it ({escape(exc.message)}); removing it anyway")
    c.store.delete_deployment(name)
    console.print(f"deployment {name} deleted")


@inventory.command("list")
@handle_errors
def list_deployments(
    environment: str = typer.Option(None, "--env", "-e", help="Only this environment."),
    model: str = typer.Option(None, "--model", help="Only deployments serving this model."),
    as_json: bool = JsonOption,
    uri: str = UriOption,
) -> None:
    """Which model versions run where: every deployment, its routes and its status."""
    found = client(uri).store.list_deployments(environment, model)
    if as_json:
        print_json(found)
        return
    table("Deployments", ["name", "env", "target", "serving", "status", "revision", "endpoint",
                          "updated"],
          [(d.name, d.environment, d.target, ", ".join(_routes(d)), d.status,
            f"{d.observed_revision}/{d.revision}", d.endpoint or "-", fmt_time(d.updated_at))
           for d in found])


@inventory.command("show")
@handle_errors
def show(name: str = typer.Argument(..., help="The deployment."), as_json: bool = JsonOption,
         uri: str = UriOption) -> None:
    """Show a deployment (as dockyard deploy status)."""
    status(name, events=10, as_json=as_json, uri=uri)

