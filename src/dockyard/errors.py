"""One error tree for all of Dockyard.

Every class carries an ``error_code`` (stable, machine-readable) and the HTTP
status the server answers with. The REST client turns an error body back into
the same class, so code written against the embedded store and code written
against a server catch the same exceptions.
"""

from __future__ import annotations

from typing import Any


class DockyardError(Exception):
    """Base class of every error Dockyard raises on purpose."""

    error_code = "INTERNAL_ERROR"
    http_status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error_code": self.error_code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidArgument(DockyardError, ValueError):
    """The caller sent something malformed: a bad name, value, path or filter."""

    error_code = "INVALID_ARGUMENT"
    http_status = 400


class InvalidFilter(InvalidArgument):
    """A search filter or order-by clause does not parse.

    ``details`` holds ``position`` (0-based offset of the offending token) and
    ``token`` so that a UI can point at it.
    """

    error_code = "INVALID_FILTER"


class SchemaError(InvalidArgument):
    """Model input does not match the model's signature.

    ``details`` names the ``column`` (or tensor), what was ``expected`` and
    what was ``got``.
    """

    error_code = "SCHEMA_MISMATCH"


class TooLarge(InvalidArgument):
    """A request body is larger than the server accepts."""

    error_code = "TOO_LARGE"
    http_status = 413


class UnsupportedMediaType(InvalidArgument):
    """A request body is not of the media type the route reads (JSON)."""

    error_code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


class NotFound(DockyardError, LookupError):
    """The id or name does not exist."""

    error_code = "NOT_FOUND"
    http_status = 404


class AlreadyExists(DockyardError):
    """A resource with that unique name already exists."""

    error_code = "ALREADY_EXISTS"
    http_status = 409


class Conflict(DockyardError):
    """The request contradicts what is stored (e.g. re-logging a param with another value)."""

    error_code = "CONFLICT"
    http_status = 409


class InvalidState(DockyardError):
    """The resource is in a state that forbids the operation (e.g. writes to a finished run)."""

    error_code = "INVALID_STATE"
    http_status = 409


class ValidationRequired(InvalidState):
    """The model's policy gates this promotion, and the version has no passing validation.

    Raised when a version is moved to Production, or a protected alias is
    pointed at it, while the latest validation of that version under the
    model's current policy is missing or failed. The message says which, and
    what to do. A subclass of InvalidState, answered with 409 like it: the
    request is well formed, but what is recorded about the version forbids
    it. (412 Precondition Failed is for HTTP conditional requests, such as
    ``If-Match``, which this is not.)

    ``details`` holds ``name``, ``version``, ``policy_digest``, ``problem``
    (``missing`` or ``failed``) and, for a failed one, ``validation_id``.
    """

    error_code = "VALIDATION_REQUIRED"
    http_status = 409


class PermissionDenied(DockyardError):
    error_code = "PERMISSION_DENIED"
    http_status = 403


class ApprovalPending(DockyardError):
    """The change needs an approval: a request was opened instead (202 from the server).

    ``details`` holds ``request_id``; an approver other than its author decides it.
    """

    error_code = "APPROVAL_PENDING"
    http_status = 202


class UntrustedModel(PermissionDenied):
    """Loading this model package would run code from a source not known to be safe.

    Pickle-based formats execute code on load: they load only from the
    registry or store they were logged to, or with ``trust=True``.
    """

    error_code = "UNTRUSTED_MODEL"


class IntegrityError(DockyardError):
    """A stored file does not match its recorded checksum (``details["path"]`` names it)."""

    error_code = "INTEGRITY_ERROR"
    http_status = 409


class Unauthenticated(DockyardError):
    error_code = "UNAUTHENTICATED"
    http_status = 401


class ServerUnavailable(DockyardError, ConnectionError):
    """The tracking server could not be reached (the client spools and retries)."""

    error_code = "SERVER_UNAVAILABLE"
    http_status = 503


class StoreError(DockyardError):
    """The backing store failed in a way that is not the caller's fault."""

    error_code = "STORE_ERROR"
    http_status = 500


class NotificationError(DockyardError):
    """A notification channel (webhook, email, Alertmanager) did not take a notification.

    ``details`` names the ``channel``; the message says what went wrong.
    """

    error_code = "NOTIFICATION_FAILED"
    http_status = 502


class MissingExtra(DockyardError, ImportError):
    """An optional engine is needed; the message names the extra to install."""

    error_code = "MISSING_EXTRA"
    http_status = 500


def _all_subclasses(cls: type[DockyardError]) -> list[type[DockyardError]]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def error_from_body(status: int, body: Any) -> DockyardError:
    """Rebuild the exception a server described in an error body."""
    if isinstance(body, dict) and "error_code" in body:
        code = body["error_code"]
        message = str(body.get("message", ""))
        details = body.get("details") or {}
        for cls in [DockyardError, *_all_subclasses(DockyardError)]:
            if cls.error_code == code:
                return cls(message, **details)
        return DockyardError(f"{code}: {message}")
    # No error body (a HEAD request, a proxy in between): go by the status.
    by_status: dict[int, type[DockyardError]] = {
        401: Unauthenticated, 403: PermissionDenied, 404: NotFound, 409: Conflict, 503: ServerUnavailable,
    }
    detail = f": {body!r}"[:500] if body else ""
    cls = by_status.get(status, StoreError if status >= 500 else InvalidArgument)
    return cls(f"request failed with status {status}{detail}")
