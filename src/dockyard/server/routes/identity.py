"""Users and API tokens.

Audit events: ``user`` (id: the name) when a user is created, disabled or
enabled; ``token`` (id: the token's id) when a token is created or revoked.
A token's secret appears in one answer only, that of its creation, and never
in an audit event.

These routes do not yet check who is asking: route authorisation is the next
step of governance (see docs/security.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dockyard.entities import Page
from dockyard.entities.identity import ApiToken, NewToken, User
from dockyard.errors import Unauthenticated
from dockyard.server.deps import client_of, json_response
from dockyard.server.schemas import CreateToken, CreateUser, UpdateUser
from dockyard.server.writes import AuditedRoute
from dockyard.store.identity import UNAUTHENTICATED_MESSAGE

router = APIRouter(route_class=AuditedRoute)

USERS = ["users"]
TOKENS = ["tokens"]
BEARER = "bearer "


def bearer_secret(request: Request) -> str:
    """The secret of an ``Authorization: Bearer`` header; Unauthenticated when there is none."""
    header = request.headers.get("authorization", "")
    if not header[:len(BEARER)].lower() == BEARER:
        raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
    return header[len(BEARER):].strip()


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
    token = client_of(request).store.create_token(body.user, body.name, body.expires_in_seconds)
    request.state.resource_id = token.id
    request.state.audit = {"user": token.user, "name": token.name,
                           "expires_at": token.expires_at}
    return json_response(token, 201)


@router.get("/tokens", tags=TOKENS, response_model=Page[ApiToken],
            summary="API tokens, of one user or of all (never their secrets)")
def list_tokens(request: Request, user: str | None = None) -> Response:
    return json_response(Page[ApiToken](items=client_of(request).store.list_tokens(user)))


@router.post("/tokens/{token_id}/revoke", tags=TOKENS, response_model=ApiToken,
             summary="Revoke an API token: it stops working now")
def revoke_token(token_id: str, request: Request) -> Response:
    token = client_of(request).store.revoke_token(token_id)
    request.state.resource_id = token.id
    request.state.audit = {"user": token.user}
    return json_response(token)


@router.get("/whoami", tags=USERS, response_model=User,
            summary="The user of the request's bearer token (401 if it lets no one in)")
def whoami(request: Request) -> Response:
    return json_response(client_of(request).store.authenticate(bearer_secret(request)))
