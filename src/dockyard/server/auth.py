"""Who is asking, and whether they may: authentication and authorisation of every request.

A server runs in one of two modes (:class:`AuthConfig`):

* **single-user** (the default on loopback): nobody signs in; every request
  acts as the server's OS user, or the name in the client's ``X-Dockyard-User``
  header, with every right;
* **authenticated**: every request carries an API token (``Authorization:
  Bearer``) or a UI session cookie, and each route needs a role.

Roles (:data:`~dockyard.entities.identity.ROLES`) are ordered: each allows
what the roles before it allow. A user's role on a request is the highest of
their global role (scope ``*``), their role on the scope the request touches
(``project:<name>`` for experiments and runs, ``model:<name>`` for a
registered model) and the server's default role for signed-in users.
:func:`required_role` says what each route needs, from one table.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

import orjson
from fastapi import Request

from dockyard.config import os_user
from dockyard.entities.identity import GLOBAL_SCOPE, ROLES, role_rank
from dockyard.errors import DockyardError, PermissionDenied, Unauthenticated
from dockyard.store.http import USER_HEADER

SESSION_COOKIE = "dockyard_session"
BEARER = "bearer "
_SERVER_USER = os_user()

SIGN_IN_MESSAGE = ("this server requires authentication: send an API token as "
                   "'Authorization: Bearer <secret>' (set DOCKYARD_TOKEN; an administrator "
                   "creates one with dockyard tokens create), or sign in to the UI at /login")


@dataclass(frozen=True)
class AuthConfig:
    """How a server decides who is asking.

    ``required``: False runs single-user (every request has every right);
    True requires a token or a session on every request but ``/health`` and
    the login page. ``default_role``: the role every signed-in user has
    everywhere without a grant (``viewer``, so that people can see what
    exists; None to grant nothing by default).
    """

    required: bool = False
    default_role: str | None = "viewer"


@dataclass(frozen=True)
class Principal:
    """The identity behind a request and its role bindings (scope to role)."""

    name: str
    roles: dict[str, str] = field(default_factory=dict)
    signed_in: bool = False
    """False in single-user mode, where nobody signs in."""
    session: str | None = None
    """The UI session's secret, when the request came with the session cookie."""

    def rank(self, scopes: Iterable[str] = ()) -> int:
        """The rank of the highest role this principal has on any of ``scopes`` or globally."""
        return max((role_rank(self.roles.get(scope, "")) for scope in (GLOBAL_SCOPE, *scopes)),
                   default=0)

    def role(self, scopes: Iterable[str] = ()) -> str | None:
        """The name of the highest role on ``scopes`` or globally; None without one."""
        rank = self.rank(scopes)
        return ROLES[rank - 1] if rank else None

    def sees(self, scope: str) -> bool:
        """Whether the principal may read ``scope`` (a list shows only what it may)."""
        return not self.signed_in or self.can("viewer", [scope])

    def can(self, role: str | None, scopes: Iterable[str] = ()) -> bool:
        """Whether the principal holds ``role`` (or a higher one); None asks for no role."""
        return role is None or self.rank(scopes) >= role_rank(role)

    def denied(self, role: str, action: str, scope: str | None = None) -> PermissionDenied:
        """The refusal of ``action``, which needs ``role`` on ``scope`` (or globally): what
        the principal holds, and the command that grants what is missing."""
        held = self.role([scope] if scope else [])
        if held:
            having = f"has the {held} role" + (" here" if scope else "")
        else:
            having = "has no role here" if scope else "has no global role"
        where = f"on {scope} or globally" if scope else "globally"
        flag = f" --{scope.replace(':', ' ', 1)}" if scope else ""
        return PermissionDenied(
            f"{self.name} {having}; {action} needs {role} {where}. An administrator can grant "
            f"it: dockyard roles grant {self.name} {role}{flag}")

    @property
    def is_admin(self) -> bool:
        return self.can("admin")


def csrf_token(session_secret: str) -> str:
    """The CSRF token of a UI session: a digest of its secret, which a page cannot read."""
    return hashlib.sha256(b"dockyard-csrf:" + session_secret.encode()).hexdigest()[:40]


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a UI form post whose CSRF token does not belong to the session (403)."""
    principal = principal_of(request)
    if not principal.signed_in:
        return
    expected = csrf_token(principal.session or "")
    if not principal.session or not hmac.compare_digest(expected, submitted or ""):
        raise PermissionDenied("the form's CSRF token is missing or stale: reload the page "
                               "and submit it again")


def bearer_secret(request: Request) -> str | None:
    """The secret of an ``Authorization: Bearer`` header, or None."""
    header = request.headers.get("authorization", "")
    if header[:len(BEARER)].lower() != BEARER:
        return None
    return header[len(BEARER):].strip()


def principal_of(request: Request) -> Principal:
    """Who made ``request`` (computed once per request). Raises Unauthenticated.

    On a server with authentication the first call reads the store (call it from a
    worker thread); in single-user mode it reads only a header.
    """
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    config: AuthConfig = request.app.state.auth
    if not config.required:
        name = request.headers.get(USER_HEADER, "").strip()[:250] or _SERVER_USER
        principal = Principal(name, {GLOBAL_SCOPE: "admin"})
    else:
        store = request.app.state.client.store
        session = None
        secret = bearer_secret(request)
        if secret is None:
            secret = session = request.cookies.get(SESSION_COOKIE)
        if not secret:
            raise Unauthenticated(SIGN_IN_MESSAGE)
        user = store.authenticate(secret)
        roles = {b.scope: b.role for b in store.list_roles(user=user.name)}
        if config.default_role and role_rank(config.default_role) > role_rank(
                roles.get(GLOBAL_SCOPE, "")):
            roles[GLOBAL_SCOPE] = config.default_role
        principal = Principal(user.name, roles, signed_in=True, session=session)
    request.state.principal = principal
    return principal


# ------------------------------------------------------------------------- what routes need
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ANY = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
WRITE = ANY - READ_METHODS

SIGNED_IN = None
"""The requirement of a route any signed-in user may call (it checks the rest itself)."""

_RULES: list[tuple[frozenset[str], re.Pattern[str], str | None]] = [
    (ANY, re.compile(r"^/whoami$"), SIGNED_IN),
    (ANY, re.compile(r"^/tokens"), SIGNED_IN),  # one's own tokens; others' need admin
    (READ_METHODS, re.compile(r"^/(projects|registered-models)$"), SIGNED_IN),  # filtered
    (ANY, re.compile(r"^/(users|roles)\b"), "admin"),
    (ANY, re.compile(r"^/audit-events"), "approver"),
    (WRITE, re.compile(r"^/approval-requests/\{request_id\}:(approve|reject)$"), "approver"),
    (WRITE, re.compile(r"^/registered-models/\{name\}$"), "admin"),
    (WRITE, re.compile(r"^/registered-models/\{name\}/policy$"), "approver"),
    (WRITE, re.compile(r"^/registered-models/\{name\}/aliases/"), "deployer"),
    (WRITE, re.compile(r"^/(deployments|monitors|alerts)\b"), "deployer"),
    (READ_METHODS, re.compile(r""), "viewer"),
    (WRITE, re.compile(r""), "editor"),
]
_PATCH_MODEL = re.compile(r"^/registered-models/\{name\}$")


def required_role(method: str, path: str, read_only: bool = False) -> str | None:
    """The role a route needs: ``path`` is its template under ``/api/v1`` (``/runs/{run_id}``).

    ``read_only`` marks a POST that only reads (a search): it needs what a GET needs.
    Updating a model's description or tags (PATCH) needs an editor; deleting it, an admin.
    """
    method = "GET" if read_only else method.upper()
    if method == "PATCH" and _PATCH_MODEL.match(path):
        return "editor"
    for methods, pattern, role in _RULES:
        if method in methods and pattern.match(path):
            return role
    return "editor"


# ------------------------------------------------------------------------- what routes touch
_CACHE_SIZE = 10_000


class ScopeResolver:
    """The scopes (``project:<name>``, ``model:<name>``) a request touches.

    From the path and query (a run, an experiment, a project, a registered
    model) or, for the creations that name their parent in the body and for a
    run search over experiments, from the body. A run's and an experiment's
    project never change, so they are cached.
    """

    _BODY_KEYS = {("POST", "/runs"): "experiment_id", ("POST", "/experiments"): "project_id",
                  ("POST", "/registered-models"): "name", ("POST", "/models:register"): "name",
                  ("POST", "/approval-requests"): "model",
                  ("POST", "/runs:search"): "experiment_ids"}

    def __init__(self) -> None:
        self._projects: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self._lock = Lock()

    def body_key(self, method: str, path: str) -> str | None:
        """The body field naming what a request touches, or None."""
        return self._BODY_KEYS.get((method.upper(), path))

    def scopes(self, store: Any, method: str, path: str, params: dict[str, Any],
               body: bytes | None = None) -> list[list[str]]:
        """The groups of scopes a request touches: a role on one scope of every group lets
        it through (a search over several experiments touches each one's project)."""
        params = dict(params)
        key = self.body_key(method, path)
        if key and body:
            try:
                doc = orjson.loads(body)
            except orjson.JSONDecodeError:
                doc = None  # the handler says what is wrong with it
            if isinstance(doc, dict) and isinstance(doc.get(key), (str, list)):
                params[key] = doc[key]
        ids = params.get("experiment_ids")
        if isinstance(ids, list):
            if not ids or not all(isinstance(i, str) for i in ids):
                return []
            groups = [self._project_scopes(store, "experiment_id", i) for i in ids[:100]]
            return groups if all(groups) and len(ids) <= 100 else []
        found = self._one(store, path, params)
        return [found] if found else []

    def _one(self, store: Any, path: str, params: dict[str, Any]) -> list[str]:
        if path.startswith(("/registered-models", "/models:")):
            return [f"model:{params['name']}"] if "name" in params else []
        if path.startswith("/approval-requests"):
            model = params.get("model")
            if "request_id" in params:
                try:
                    model = store.get_approval_request(str(params["request_id"])).model
                except DockyardError:
                    model = None
            return [f"model:{model}"] if isinstance(model, str) else []
        if path == "/projects:by-name" and isinstance(params.get("name"), str):
            return [f"project:{params['name']}"]
        for kind in ("run_id", "experiment_id", "project_id"):
            if kind in params:
                return self._project_scopes(store, kind, str(params[kind]))
        return []

    def _project_scopes(self, store: Any, kind: str, key: str) -> list[str]:
        project = self._project(store, kind, key)
        return [f"project:{project}"] if project else []

    def _project(self, store: Any, kind: str, key: str) -> str | None:
        with self._lock:
            if (kind, key) in self._projects:
                self._projects.move_to_end((kind, key))
                return self._projects[kind, key]
        try:
            if kind == "run_id":
                project_id = store.get_experiment(store.get_run(key).experiment_id).project_id
            elif kind == "experiment_id":
                project_id = store.get_experiment(key).project_id
            else:
                project_id = key
            name = store.get_project(project_id).name if project_id else None
        except DockyardError:
            return None  # the handler answers the 404 or 400; the global role decides here
        with self._lock:
            self._projects[kind, key] = name
            while len(self._projects) > _CACHE_SIZE:
                self._projects.popitem(last=False)
        return name
