"""Signing in to the web UI: the login page, the session cookie and the UI pages' guard.

A UI session is an API token of its own (named ``ui session``, valid 12 hours)
whose secret lives in the ``dockyard_session`` cookie: HttpOnly, so no script
reads it; SameSite=Lax, so no other site's form sends it; Secure over https.
Signing out revokes that token, so a copied cookie stops working too. Forms
of a signed-in page carry a CSRF token derived from the session
(:func:`~dockyard.server.auth.csrf_token`); the login form, which has no
session yet, is protected by refusing a foreign ``Origin`` instead.

:func:`require_page_access` guards every UI page: without a session it
redirects to the login page, and a user without a global role that lets them
see the page gets the 403 page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dockyard.entities import AuditEvent, now_ms
from dockyard.entities.identity import PREFIX_LENGTH, ROLES
from dockyard.errors import InvalidArgument, Unauthenticated
from dockyard.server.auth import (
    SESSION_COOKIE,
    Principal,
    bearer_secret,
    check_csrf,
    csrf_token,
    principal_of,
    required_role,
)
from dockyard.server.forms import CSRF_FIELD, check_origin, read_form
from dockyard.server.ui import NAV, render, templates

router = APIRouter(include_in_schema=False)

SESSION_ID_COOKIE = "dockyard_session_id"
"""The id of the session's token (not a secret): what sign-out revokes."""
SESSION_SECONDS = 12 * 3600
SESSION_TOKEN_NAME = "ui session"
PAGE_ROLES = {"audit": required_role("GET", "/audit-events")}
"""The role a UI section needs beyond viewer: the same as its API."""


class SignInRequired(Exception):
    """A UI page was asked for without a session: answered by a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def local_path(target: str | None) -> str:
    """``target`` if it is a path on this server, else ``/``: the login page never sends a
    browser elsewhere (``//host`` and ``/\\host`` are other hosts to a browser)."""
    if (not target or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target)):
        return "/"
    return target


def login_url(next_path: str) -> str:
    return "/login?" + urlencode({"next": local_path(next_path)})


async def sign_in_redirect(request: Request, exc: Exception) -> Response:
    """The answer to :class:`SignInRequired`: 303 to the login page, back here afterwards."""
    next_path = exc.next_path if isinstance(exc, SignInRequired) else "/"
    response = RedirectResponse(login_url(next_path), status_code=303)
    if request.cookies.get(SESSION_COOKIE):  # expired or revoked: forget it
        _clear_cookies(response)
    return response


def section_of(path: str) -> str:
    return next((key for key, _, href in NAV if path == href or path.startswith(href + "/")), "")


async def require_page_access(request: Request) -> None:
    """The dependency of every UI router: who is signed in, and may they see this page.

    Single-user servers let everyone in. Sets ``request.state.csrf`` for the
    page's forms (None when nobody signs in).
    """
    request.state.csrf = None
    if not request.app.state.auth.required:
        return
    try:
        principal = await run_in_threadpool(principal_of, request)
    except Unauthenticated:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path) from None
    if principal.session:
        request.state.csrf = csrf_token(principal.session)
    needed = PAGE_ROLES.get(section_of(request.url.path), "viewer")
    # UI pages show every project and model, so they need a global role (scope *).
    if not principal.can(needed):
        raise principal.denied(needed, "this page (it lists every project and model)")


def signed_in(request: Request) -> Principal | None:
    """The signed-in principal of a page, for the templates (None in single-user mode)."""
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) and principal.signed_in else None


def visible_nav(request: Request) -> list[tuple[str, str, str]]:
    """The sections the page's user may open; none on the login page of a server with
    authentication, all in single-user mode."""
    if not request.app.state.auth.required:
        return NAV
    principal = signed_in(request)
    if principal is None:
        return []
    return [entry for entry in NAV if principal.can(PAGE_ROLES.get(entry[0], ROLES[0]))]


def page_csrf(request: Request) -> str:
    """The CSRF token for the page's forms ("" without a session)."""
    return getattr(request.state, "csrf", None) or ""


templates.env.globals.update(signed_in=signed_in, visible_nav=visible_nav, page_csrf=page_csrf)


# the pages ---------------------------------------------------------------------------------
def _login_page(request: Request, next_path: str, status_code: int = 200,
                error: str | None = None) -> Response:
    return render(request, "login.html", "", status_code=status_code, next=next_path,
                  error=error, auth_required=request.app.state.auth.required)


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    return _login_page(request, local_path(next))


def _audit(request: Request, user: str, action: str, token_id: str) -> None:
    event = AuditEvent(time=now_ms(), actor=user, action=action, resource_type="session",
                       resource_id=token_id, request={}, status=200)
    request.app.state.client.store.record_audit_event(event)


def _set_cookies(request: Request, response: Response, secret: str, token_id: str) -> None:
    secure = request.url.scheme == "https"  # uvicorn sets it from a trusted proxy's headers
    for name, value in ((SESSION_COOKIE, secret), (SESSION_ID_COOKIE, token_id)):
        response.set_cookie(name, value, max_age=SESSION_SECONDS, path="/", secure=secure,
                            httponly=True, samesite="lax")


def _clear_cookies(response: Response) -> None:
    for name in (SESSION_COOKIE, SESSION_ID_COOKIE):
        response.delete_cookie(name, path="/", httponly=True, samesite="lax")


def _start_session(request: Request, secret: str) -> tuple[str, str, str]:
    """(user, session secret, session token id) for a valid API token secret."""
    store = request.app.state.client.store
    user = store.authenticate(secret)
    session = store.create_token(user.name, name=SESSION_TOKEN_NAME,
                                 expires_in_seconds=SESSION_SECONDS)
    _audit(request, user.name, "sign_in", session.id)
    return user.name, session.secret, session.id


@router.post("/login")
async def login(request: Request) -> Response:
    check_origin(request, "sign in from this server's own login page")
    form = await read_form(request)
    next_path = local_path(form.get("next"))
    if not request.app.state.auth.required:
        return RedirectResponse(next_path, status_code=303)
    secret = form.get("token", "").strip()
    try:
        _, session, token_id = await run_in_threadpool(_start_session, request, secret)
    except Unauthenticated:
        return _login_page(request, next_path, 401,
                           "That token was not accepted: it is unknown, expired or revoked, or "
                           "its user is disabled. Check that you pasted the whole token.")
    response = RedirectResponse(next_path, status_code=303)
    _set_cookies(request, response, session, token_id)
    return response


def _end_session(request: Request, principal: Principal) -> None:
    """Revoke the session's token: the one named by the id cookie, if it is this user's and
    its prefix is the session secret's."""
    store = request.app.state.client.store
    secret, token_id = principal.session or "", request.cookies.get(SESSION_ID_COOKIE, "")
    match = next((t for t in store.list_tokens(principal.name)
                  if t.id == token_id and t.prefix == secret[:PREFIX_LENGTH]), None)
    if match is not None:
        store.revoke_token(match.id)
        _audit(request, principal.name, "sign_out", match.id)


@router.post("/logout")
async def logout(request: Request) -> Response:
    check_origin(request, "sign out from this server's own page")
    form = await read_form(request)
    response = RedirectResponse("/login", status_code=303)
    if not request.app.state.auth.required:
        return response
    try:
        principal = await run_in_threadpool(principal_of, request)
    except Unauthenticated:  # already gone: just forget the cookies
        _clear_cookies(response)
        return response
    if bearer_secret(request) is not None or not principal.session:
        raise InvalidArgument("sign out ends a UI session; an API token is revoked with "
                              "dockyard tokens revoke")
    await run_in_threadpool(check_csrf, request, form.get(CSRF_FIELD))
    await run_in_threadpool(_end_session, request, principal)
    _clear_cookies(response)
    return response
