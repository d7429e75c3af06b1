"""``dockyard users``, ``dockyard tokens`` and ``dockyard roles``: who may call a server,
with which token, and what they may do.

A token's secret is printed once, when it is created; the store keeps only
its SHA-256 digest, so a lost secret cannot be shown again: revoke the token
and create another.
"""

from __future__ import annotations

import typer

from dockyard.cli.common import JsonOption, UriOption, client, handle_errors
from dockyard.cli.output import console, err_console, fmt_time, print_json, table
from dockyard.entities import now_ms
from dockyard.entities.identity import GLOBAL_SCOPE, ROLES, ApiToken, parse_lifetime
from dockyard.config import get_settings
from dockyard.errors import InvalidArgument

users = typer.Typer(help="Users and service accounts: who may hold API tokens.",
                    no_args_is_help=True)
tokens = typer.Typer(help="API tokens: create one (its secret is shown once), list, revoke.",
                     no_args_is_help=True)
roles = typer.Typer(help="Roles: who may do what, everywhere or on one project or model. "
                         f"From least to most: {', '.join(ROLES)}; each allows what the "
                         "ones before it allow.", no_args_is_help=True)


@users.command("create")
@handle_errors
def create_user(
    name: str = typer.Argument(..., help="The user's name (letters, digits, . _ @ + -)."),
    service: bool = typer.Option(False, "--service",
                                 help="A service account (CI, a deployment), not a person."),
    display_name: str = typer.Option("", "--display-name", help="A readable name."),
    as_json: bool = JsonOption,
    uri: str = UriOption,
) -> None:
    """Create a user, or with --service a service account."""
    user = client(uri).store.create_user(name, "service" if service else "user", display_name)
    if as_json:
        print_json(user)
        return
    console.print(f"Created {user.kind} {user.name}", markup=False, highlight=False)


@users.command("list")
@handle_errors
def list_users(as_json: bool = JsonOption, uri: str = UriOption) -> None:
    """Every user, by name."""
    found = client(uri).store.list_users()
    if as_json:
        print_json(found)
        return
    table("Users", ["name", "kind", "display name", "created", "status"],
          [(u.name, u.kind, u.display_name or "-", fmt_time(u.created_at),
            "disabled" if u.disabled else "enabled") for u in found])


@users.command("disable")
@handle_errors
def disable_user(
    name: str = typer.Argument(..., help="The user."),
    enable: bool = typer.Option(False, "--enable", help="Enable the user again instead."),
    uri: str = UriOption,
) -> None:
    """Disable a user: none of their tokens works until they are enabled again."""
    user = client(uri).store.set_user_disabled(name, not enable)
    state = "disabled" if user.disabled else "enabled"
    console.print(f"User {user.name} is {state}", markup=False, highlight=False)


def _status(token: ApiToken, now: int) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "active" if token.active(now) else "expired"


@tokens.command("create")
@handle_errors
def create_token(
    user: str = typer.Argument(..., help="The user the token lets in."),
    name: str = typer.Option("", "--name", help="A label, to recognise the token later."),
    expires_in: str = typer.Option(None, "--expires-in",
                                   help="Lifetime: 3600, 45m, 12h, 30d, 2w. Default: until "
                                        "revoked."),
    as_json: bool = JsonOption,
    uri: str = UriOption,
) -> None:
    """Create an API token and print its secret: it will not be shown again."""
    lifetime = None if expires_in is None else parse_lifetime(expires_in)
    made = client(uri).store.create_token(user, name, lifetime)
    if as_json:
        print_json(made)
        return
    err_console.print(f"Created token {made.id} for {made.user}, expires "
                      f"{fmt_time(made.expires_at) if made.expires_at else 'never'}.",
                      markup=False, highlight=False)
    err_console.print("[bold yellow]Copy the secret now: it will not be shown again.[/] "
                      "Use it as DOCKYARD_TOKEN.")
    console.print(made.secret, markup=False, highlight=False)


@tokens.command("list")
@handle_errors
def list_tokens(
    user: str = typer.Option(None, "--user", help="Only this user's tokens."),
    as_json: bool = JsonOption,
    uri: str = UriOption,
) -> None:
    """API tokens (never their secrets): who holds them, when they expire, when last used."""
    found = client(uri).store.list_tokens(user)
    if as_json:
        print_json(found)
        return
    now = now_ms()
    table("API tokens", ["id", "user", "name", "prefix", "created", "expires", "last used",
                         "status"],
          [(t.id, t.user, t.name or "-", t.prefix + "...", fmt_time(t.created_at),
            fmt_time(t.expires_at) if t.expires_at else "never", fmt_time(t.last_used_at),
            _status(t, now)) for t in found])


@tokens.command("revoke")
@handle_errors
def revoke_token(
    token_id: str = typer.Argument(..., metavar="ID", help="The token's id (dockyard tokens "
                                                           "list)."),
    uri: str = UriOption,
) -> None:
    """Revoke an API token: it stops working now."""
    token = client(uri).store.revoke_token(token_id)
    console.print(f"Revoked token {token.id} of {token.user}", markup=False, highlight=False)


def _scope(project: str | None, model: str | None) -> str:
    if project and model:
        raise InvalidArgument("give --project or --model, not both (a role has one scope)")
    if project:
        return f"project:{project}"
    return f"model:{model}" if model else GLOBAL_SCOPE


ProjectOption = typer.Option(None, "--project", help="On this project only (its experiments "
                                                     "and runs).")
ModelOption = typer.Option(None, "--model", help="On this registered model only.")


@roles.command("grant")
@handle_errors
def grant_role(
    user: str = typer.Argument(..., help="The user or service account."),
    role: str = typer.Argument(..., help=f"One of {', '.join(ROLES)}."),
    project: str = ProjectOption,
    model: str = ModelOption,
    uri: str = UriOption,
) -> None:
    """Give a user a role: everywhere, or with --project / --model on one of them.

    A user holds one role per scope; granting again replaces it. Run against
    the database itself (--uri sqlite:///... or postgresql://...), this is how
    the first administrator is made: dockyard roles grant alice admin.
    """
    found = client(uri).store.grant_role(user, role, _scope(project, model),
                                         granted_by=get_settings().user)
    where = "everywhere" if found.scope == GLOBAL_SCOPE else f"on {found.scope}"
    console.print(f"{found.user} is {found.role} {where}", markup=False, highlight=False)


@roles.command("revoke")
@handle_errors
def revoke_role(
    user: str = typer.Argument(..., help="The user or service account."),
    project: str = ProjectOption,
    model: str = ModelOption,
    uri: str = UriOption,
) -> None:
    """Take back a user's role everywhere, or with --project / --model on one of them."""
    scope = _scope(project, model)
    client(uri).store.revoke_role(user, scope)
    console.print(f"{user} has no role on {scope} any more", markup=False, highlight=False)


@roles.command("list")
@handle_errors
def list_roles(
    user: str = typer.Option(None, "--user", help="Only this user's roles."),
    as_json: bool = JsonOption,
    uri: str = UriOption,
) -> None:
    """Role bindings: user, scope (* is everywhere) and role."""
    found = client(uri).store.list_roles(user)
    if as_json:
        print_json(found)
        return
    table("Roles", ["user", "scope", "role", "granted", "by"],
          [(b.user, b.scope, b.role, fmt_time(b.created_at), b.created_by or "-")
           for b in found])
