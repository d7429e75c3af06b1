"""The ``dockyard`` command."""

from __future__ import annotations

import ipaddress
import os
import socket

import typer

from dockyard._version import __version__
from dockyard.cli import (
    approvals,
    artifacts,
    audit,
    batch,
    build,
    data,
    deploy,
    experiments,
    features,
    ground_truth,
    identity,
    loadtest,
    models,
    monitor,
    predictions,
    runs,
)
from dockyard.cli import serve as serve_cli
from dockyard.cli import validate as validate_cli
from dockyard.cli.common import handle_errors
from dockyard.cli.output import console, err_console, table
from dockyard.config import get_settings, is_http_uri
from dockyard.entities.identity import check_role

app = typer.Typer(
    name="dockyard",
    help="Dockyard: track, package, deploy and monitor machine-learning models.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(models.app, name="models")
app.add_typer(data.app, name="data")
app.add_typer(features.app, name="features")
app.command("serve")(serve_cli.serve)
app.add_typer(predictions.app, name="predictions")
app.add_typer(ground_truth.app, name="ground-truth")
app.add_typer(monitor.app, name="monitor")
app.command("build")(build.build)
app.command("batch")(batch.batch)
app.add_typer(deploy.app, name="deploy")
app.add_typer(deploy.inventory, name="deployments")
app.command("loadtest")(loadtest.loadtest)
app.command("validate")(validate_cli.validate)
app.add_typer(identity.users, name="users")
app.add_typer(identity.tokens, name="tokens")
app.add_typer(identity.roles, name="roles")
app.add_typer(approvals.app, name="approvals")
app.add_typer(audit.app, name="audit")
db_app = typer.Typer(help="Manage the metadata database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _version(value: bool) -> None:
    if value:
        console.print(f"dockyard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Dockyard: track, package, deploy and monitor machine-learning models."""


def _database_uri(uri: str | None) -> str:
    uri = uri or get_settings().uri
    if is_http_uri(uri):
        raise typer.BadParameter(
            f"{uri} is a server URL; give a database URI (sqlite:///... or postgresql://...)",
            param_hint="--uri")
    return uri


@app.command()
@handle_errors
def server(
    host: str = typer.Option("127.0.0.1", "--host", "-h", help="Address to bind."),
    port: int = typer.Option(5000, "--port", "-p", help="Port to listen on."),
    uri: str = typer.Option(None, "--uri", help="Database: sqlite:///file.db or postgresql://... "
                            "(default: the embedded store under DOCKYARD_HOME)."),
    artifacts: str = typer.Option(None, "--artifacts",
                                  help="Artifact root: a folder or s3://bucket/prefix."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Worker processes."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log every request."),
    monitors: bool = typer.Option(True, "--monitors/--no-monitors",
                                  help="Run monitors on their schedule (each monitor's "
                                       "interval_seconds)."),
    public_url: str = typer.Option(None, "--public-url",
                                   help="The address users reach this server at, for links in "
                                        "alerts (default: http://HOST:PORT)."),
    auth: bool = typer.Option(False, "--auth",
                              help="Require an API token or a UI sign-in on every request and "
                                   "authorise each by role (needed when --host is not a "
                                   "loopback address, unless --insecure)."),
    insecure: bool = typer.Option(False, "--insecure",
                                  help="Serve a non-loopback address without authentication: "
                                       "anyone who reaches it may do anything."),
    default_role: str = typer.Option("viewer", "--default-role",
                                     help="With authentication, the role every signed-in user "
                                          "has without a grant: viewer, or none."),
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs) and the web UI.

    On a loopback address (the default, 127.0.0.1) it runs single-user: nobody
    signs in. On any other address it requires authentication, and refuses to
    start without it unless told --insecure. See docs/security.md.
    """
    import uvicorn

    from dockyard.server.app import (
        ENV_ARTIFACTS,
        ENV_AUTH,
        ENV_DEFAULT_ROLE,
        ENV_STORE,
        create_app,
    )
    from dockyard.server.auth import AuthConfig
    from dockyard.store.sql import SqlMetadataStore

    db = _database_uri(uri)
    required = _require_auth(host, auth, insecure)
    role = None if default_role == "none" else check_role(default_role)
    store = SqlMetadataStore(db)  # migrate once, before any worker starts
    admins = [b for b in store.list_roles(scope="*") if b.role == "admin"]
    store.close()
    console.print(f"Dockyard {__version__} serving [bold]{db}[/] on http://{host}:{port}")
    if required:
        console.print("Authentication is on: every request needs an API token or a UI sign-in.")
        if not admins:
            err_console.print(
                "No administrator yet. Make one against the database, then give them a token:\n"
                f"  dockyard users create NAME --uri {db}\n"
                f"  dockyard roles grant NAME admin --uri {db}\n"
                f"  dockyard tokens create NAME --uri {db}", markup=False, highlight=False)
    elif insecure:
        err_console.print(f"WARNING: serving {host} without authentication (--insecure): "
                          "anyone who can reach it may read and change everything.",
                          markup=False, highlight=False)
    if monitors:  # one scheduler, in this process, however many workers serve requests
        from dockyard.client import Client
        from dockyard.monitor.scheduler import MonitorScheduler

        shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
        MonitorScheduler(Client(db, artifacts),
                         url=public_url or f"http://{shown}:{port}").start()
    if workers == 1:
        uvicorn.run(create_app(db, artifacts, AuthConfig(required, role)), host=host, port=port,
                    access_log=access_log, log_level="info")
        return
    os.environ[ENV_AUTH] = "1" if required else "0"
    os.environ[ENV_DEFAULT_ROLE] = role or ""
    os.environ[ENV_STORE] = db
    if artifacts:
        os.environ[ENV_ARTIFACTS] = artifacts
    uvicorn.run("dockyard.server.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, access_log=access_log, log_level="info")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _require_auth(host: str, auth: bool, insecure: bool) -> bool:
    """Whether the server requires authentication: asked for, or bound beyond loopback."""
    if auth and insecure:
        raise typer.BadParameter("give --auth or --insecure, not both", param_hint="--insecure")
    if auth or _is_loopback(host):
        return auth
    if insecure:
        return False
    raise typer.BadParameter(
        f"{host} is not a loopback address: anyone who reaches it could use the server. "
        "Add --auth to require API tokens (see docs/security.md), or --insecure to serve it "
        "without authentication anyway", param_hint="--host")


@db_app.command("upgrade")
@handle_errors
def db_upgrade(
    uri: str = typer.Option(None, "--uri", help="Database URI (default: the embedded store)."),
) -> None:
    """Apply pending schema migrations (the server also does this when it starts)."""
    from dockyard.store.sql.engine import make_engine, upgrade

    engine = make_engine(_database_uri(uri))
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    if before == after:
        console.print(f"database is up to date (revision {after})")
    else:
        console.print(f"upgraded database from revision {before or 'empty'} to {after}")


@app.command()
@handle_errors
def sync(
    uri: str = typer.Option(None, "--uri",
                            help="Replay only the batches spooled for this server (default: all)."),
) -> None:
    """Send batches that were spooled while the server was unreachable (exactly once)."""
    from dockyard.store import open_metadata_store
    from dockyard.train.spool import Spool, spools_under

    settings = get_settings()
    spools = [Spool(settings.spool, uri)] if uri else spools_under(settings.spool)
    if not spools or not any(len(s) for s in spools):
        console.print(f"nothing to sync (spool: {settings.spool})")
        return
    rows, failed = [], False
    for spool in spools:
        pending = len(spool)
        if not pending:
            continue
        store = open_metadata_store(spool.uri, user=settings.user, timeout=settings.http_timeout,
                                    token=settings.token)
        try:
            result = spool.replay(store)
        finally:
            store.close()
        rows.append((spool.uri, pending, result.sent, result.duplicates, result.failed, result.remaining))
        failed = failed or bool(result.remaining or result.failed)
    table("Sync", ["server", "pending", "sent", "already applied", "rejected", "still pending"], rows)
    if failed:
        err_console.print("some batches were not delivered; see the table above")
        raise typer.Exit(1)


def main() -> None:
    app()
