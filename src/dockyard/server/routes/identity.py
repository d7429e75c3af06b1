"""Users and API tokens.

Audit events: ``user`` (id: the name) when a user is created, disabled or
enabled, or given or taken a role; ``token`` (id: the token's id) when a
token is created or revoked. A token's secret appears in one answer only,
that of its creation, and never in an audit event.

Users and roles are an administrator's; anyone signed in may create, list
and revoke their own tokens (an administrator, anyone's).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dockyard.entities import Page
from dockyard.entities.identity import ApiToken, NewToken, RoleBinding, User, check_scope
from dockyard.errors import PermissionDenied, Unauthenticated
from dockyard.server.auth import bearer_secret, principal_of
from dockyard.server.deps import client_of, json_response
from dockyard.server.schemas import CreateToken, CreateUser, GrantRole, UpdateUser
from dockyard.server.writes import AuditedRoute
from dockyard.store.identity import UNAUTHENTICATED_MESSAGE

router = APIRouter(route_class=AuditedRoute)

USERS = ["users"]
TOKENS = ["tokens"]


def _own_or_admin(request: Request, user: str | None, what: str) -> None:
    """Let a user act on their own tokens, and an administrator on anyone's."""
    principal = principal_of(request)
    if principal.signed_in and user != principal.name and not principal.is_admin:
        raise PermissionDenied(f"{principal.name} may {what} only their own tokens; "
                               "an administrator may for anyone")


@router.post("/users", tags=USERS, response_model=User, status_code=201,
             summary="Create a user or a service account")
def create_user(body: CreateUser, request: Request) -> Response:
    user = client_of(request).store.create_user(body.name, body.kind, body.display_name)
    request.state.resource_id = user.name
    request.state.audit = {"kind": user.kind}
    return json_response(user, 201)


@router.get("/users", tags=USERS, response_model=Page[User], summary="Every user, by name")
def list_users(request: Request) -> Response:
    return json_response(Page[User](items=client_of(request).store.list_users()))


@router.get("/users/{name}", tags=USERS, response_model=User, summary="Get a user")
def get_user(name: str, request: Request) -> Response:
    return json_response(client_of(request).store.get_user(name))


@router.patch("/users/{name}", tags=USERS, response_model=User,
              summary="Disable a user (their tokens stop working) or enable them again")
def update_user(name: str, body: UpdateUser, request: Request) -> Response:
    user = client_of(request).store.set_user_disabled(name, body.disabled)
    request.state.resource_id = user.name
    request.state.audit = {"disabled": user.disabled}
    return json_response(user)


@router.post("/tokens", tags=TOKENS, response_model=NewToken, status_code=201,
             summary="Create an API token; the answer holds its secret, shown this once")
def create_token(body: CreateToken, request: Request) -> Response:
    _own_or_admin(request, body.user, "create")
    token = client_of(request).store.create_token(body.user, body.name, body.expires_in_seconds)
    request.state.resource_id = token.id
    request.state.audit = {"user": token.user, "name": token.name,
                           "expires_at": token.expires_at}
    return json_response(token, 201)


@router.get("/tokens", tags=TOKENS, response_model=Page[ApiToken],
            summary="API tokens, of one user or of all (never their secrets)")
def list_tokens(request: Request, user: str | None = None) -> Response:
    _own_or_admin(request, user, "list")
    return json_response(Page[ApiToken](items=client_of(request).store.list_tokens(user)))


@router.post("/tokens/{token_id}/revoke", tags=TOKENS, response_model=ApiToken,
             summary="Revoke an API token: it stops working now")
def revoke_token(token_id: str, request: Request) -> Response:
    store = client_of(request).store
    principal = principal_of(request)
    if principal.signed_in and not principal.is_admin:
        owned = {t.id for t in store.list_tokens(principal.name)}
        if token_id not in owned:  # the same answer whether the token exists or not
            raise PermissionDenied(f"{principal.name} may revoke only their own tokens; "
                                   "an administrator may revoke anyone's")
    token = store.revoke_token(token_id)
    request.state.resource_id = token.id
    request.state.audit = {"user": token.user}
    return json_response(token)


@router.get("/whoami", tags=USERS, response_model=User,
            summary="The user of the request's bearer token (401 if it lets no one in)")
def whoami(request: Request) -> Response:
    secret = bearer_secret(request)
    if secret is None:
        raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
    return json_response(client_of(request).store.authenticate(secret))


@router.get("/roles", tags=USERS, response_model=Page[RoleBinding],
            summary="Role bindings, of one user and/or on one scope")
def list_roles(request: Request, user: str | None = None, scope: str | None = None) -> Response:
    roles = client_of(request).store.list_roles(user, scope)
    return json_response(Page[RoleBinding](items=roles))


@router.put("/users/{name}/roles", tags=USERS, response_model=RoleBinding,
            summary="Give a user a role on a scope (* , project:<name>, model:<name>)")
def grant_role(name: str, body: GrantRole, request: Request) -> Response:
    store = client_of(request).store
    before = store.list_roles(name, check_scope(body.scope))
    binding = store.grant_role(name, body.role, body.scope, granted_by=principal_of(request).name)
    request.state.resource_id = name
    request.state.audit = {"grant": body.role, "scope": body.scope}
    request.state.audit_before = {"role": before[0].role if before else None}
    return json_response(binding)


@router.delete("/users/{name}/roles", tags=USERS, status_code=204,
               summary="Take back a user's role on a scope")
def revoke_role(name: str, request: Request, scope: str = "*") -> Response:
    store = client_of(request).store
    before = store.list_roles(name, check_scope(scope))
    store.revoke_role(name, scope)
    request.state.resource_id = name
    request.state.audit = {"revoke": scope}
    request.state.audit_before = {"role": before[0].role if before else None}
    return Response(status_code=204)
