"""``dockyard approvals``: requests to move a model version to Production or a protected alias.

On a server that requires authentication, ``dockyard models transition ...
Production`` (or pointing a protected alias) opens a request; an approver
other than its author approves it here, and the change is committed once its
checks pass (a passing validation under the model's policy, a model card).
"""

from __future__ import annotations

import typer

from dockyard.cli.common import JsonOption, UriOption, client, handle_errors
from dockyard.cli.output import console, fmt_time, print_json, table
from dockyard.config import get_settings
from dockyard.entities.approval import PRODUCTION, ApprovalRequest
from dockyard.manage import approvals as workflow
from dockyard.store.rest import RestMetadataStore

IdArgument = typer.Argument(..., metavar="ID", help="The request's id.")
app = typer.Typer(help="Approval requests: a second person, and evidence, before a version "
                       "goes to Production or a protected alias.", no_args_is_help=True)


def _show(found: ApprovalRequest, as_json: bool = False) -> None:
    if as_json:
        print_json(found)
        return
    console.print(f"Request {found.id}: {found.model} version {found.version} -> "
                  f"{found.target}, {found.status}", markup=False, highlight=False)
    for check in found.checks:
        mark = "pass" if check.passed else "FAIL"
        console.print(f"  [{mark}] {check.name}: {check.detail}", markup=False,
                      highlight=False)


@app.command("request")
@handle_errors
def request_approval(
    model: str = typer.Argument(..., help="The registered model."),
    version: int = typer.Argument(..., help="The version to move."),
    alias: str = typer.Option(None, "--alias", help="Point this alias at the version instead "
                                                    "of moving it to Production."),
    archive_existing: bool = typer.Option(False, "--archive-existing",
                                          help="Archive the versions now in Production when "
                                               "it is committed."),
    comment: str = typer.Option("", "--comment", "-m", help="Why, for the approver."),
    as_json: bool = JsonOption,
    uri: str = UriOption,
) -> None:
    """Ask for a version to be moved to Production (or an alias); an approver decides."""
    target = f"alias:{alias}" if alias else PRODUCTION
    found = client(uri).store.create_approval_request(
        model, version, target, get_settings().user, comment, archive_existing)
    _show(found, as_json)


@app.command("list")
@handle_errors
def list_requests(
    model: str = typer.Option(None, "--model", help="Only this model's requests."),
    status: str = typer.Option(None, "--status", help="pending, approved or rejected."),
    max_results: int = typer.Option(100, "--max", min=1, help="At most this many."),
    as_json: bool = JsonOption,
    uri: str = UriOption,
) -> None:
    """Approval requests, newest first."""
    found = client(uri).store.list_approval_requests(model, status, max_results)
    if as_json:
        print_json(found)
        return
    table("Approval requests", ["id", "model", "version", "target", "author", "opened",
                                "status", "decided by"],
          [(r.id, r.model, str(r.version), r.target, r.author, fmt_time(r.created_at),
            r.status, r.decided_by or "-") for r in found])


@app.command("show")
@handle_errors
def show_request(
    request_id: str = IdArgument,
    as_json: bool = JsonOption,
    uri: str = UriOption,
) -> None:
    """One request, with its checks as last evaluated."""
    found = client(uri).store.get_approval_request(request_id)
    _show(found, as_json)


def _decide(request_id: str, approve: bool, comment: str, uri: str | None) -> ApprovalRequest:
    store = client(uri).store
    if isinstance(store, RestMetadataStore):  # the server runs the workflow, as its user
        return store.decide_approval_request(
            request_id, "approved" if approve else "rejected", "", comment)
    decide = workflow.approve if approve else workflow.reject
    return decide(store, request_id, get_settings().user, comment)


@app.command("approve")
@handle_errors
def approve(
    request_id: str = IdArgument,
    comment: str = typer.Option("", "--comment", "-m", help="The approver's comment."),
    as_json: bool = JsonOption,
    uri: str = UriOption,
) -> None:
    """Approve a request and commit its change; refused for its author, and while a check
    fails (the request stays pending: add the evidence and approve again)."""
    _show(_decide(request_id, True, comment, uri), as_json)


@app.command("reject")
@handle_errors
def reject(
    request_id: str = IdArgument,
    comment: str = typer.Option("", "--comment", "-m", help="Why, for the author."),
    as_json: bool = JsonOption,
    uri: str = UriOption,
) -> None:
    """Reject a request: nothing changes, and the decision is recorded."""
    _show(_decide(request_id, False, comment, uri), as_json)
