"""Alert notifications: one alert transition, delivered to webhooks, email and Alertmanager.

The alert state machine decides *when* an alert fires or resolves; this module
only says it. A :class:`Notification` describes one transition; a channel
(:class:`WebhookChannel`, :class:`EmailChannel`, :class:`AlertmanagerChannel`)
sends it and raises :class:`~dockyard.errors.NotificationError` when the
receiver did not take it; :func:`deliver` sends to every channel of a monitor
and reports each outcome, for the alert's history.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import logging
import math
import os
import re
import smtplib
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from ssl import create_default_context
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx

from dockyard._version import __version__
from dockyard.errors import InvalidArgument, NotificationError

__all__ = [
    "AlertmanagerChannel",
    "Channel",
    "DeliveryResult",
    "EmailChannel",
    "Notification",
    "WebhookChannel",
    "alertmanager_payload",
    "channel_from_config",
    "deliver",
    "headline",
    "slack_payload",
]

log = logging.getLogger("dockyard.monitor")

STATES = ("firing", "resolved")
SEVERITIES = ("critical", "warning", "info")
_ATTEMPTS = 3
_BACKOFF_S = 0.5
_LABEL_NAME = re.compile(r"[^A-Za-z0-9_]")


@dataclasses.dataclass(frozen=True)
class Notification:
    """One alert transition (``state`` is "firing" or "resolved"), as sent to every channel.

    ``fingerprint`` is the stable deduplication key of the alert (the same for
    its firing and its resolved notification). ``started_at`` and ``ended_at``
    are timezone-aware; ``ended_at`` is None while firing and set once resolved.
    ``labels`` holds extra string labels (team, environment ...).
    Raises :class:`~dockyard.errors.InvalidArgument` on a value out of range.
    """

    alert_id: str
    fingerprint: str
    state: Literal["firing", "resolved"]
    severity: Literal["critical", "warning", "info"]
    rule: str
    monitor: str
    deployment: str
    model: str
    version: str | None
    metric: str
    feature: str | None
    cohort: str | None
    value: float | None
    threshold: float | None
    summary: str
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    url: str | None = None
    labels: dict[str, str] = dataclasses.field(default_factory=dict, hash=False)
    expires_at: dt.datetime | None = None
    """For a firing alert: when receivers that time alerts out (Alertmanager) should take it
    as over unless they hear it again; the sender repeats it before then."""

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise InvalidArgument(f"state must be one of {', '.join(STATES)}, not {self.state!r}")
        if self.severity not in SEVERITIES:
            raise InvalidArgument(
                f"severity must be one of {', '.join(SEVERITIES)}, not {self.severity!r}"
            )
        for name in ("started_at", "ended_at", "expires_at"):
            value = getattr(self, name)
            aware = isinstance(value, dt.datetime) and value.utcoffset() is not None
            if value is not None and not aware:
                raise InvalidArgument(f"{name} must be a timezone-aware datetime, not {value!r}")
        if (self.state == "resolved") != (self.ended_at is not None):
            raise InvalidArgument("ended_at is set when, and only when, the state is 'resolved'")
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise InvalidArgument("ended_at is before started_at")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.labels.items()):
            raise InvalidArgument("labels map strings to strings")
        # A copy: the caller's dict may change after the notification is made.
        object.__setattr__(self, "labels", dict(self.labels))

    def to_dict(self) -> dict[str, Any]:
        """The notification as JSON-ready values: ISO 8601 times, NaN and infinities as None."""
        out = dataclasses.asdict(self)
        for name in ("started_at", "ended_at", "expires_at"):
            out[name] = out[name].isoformat() if out[name] is not None else None
        for name in ("value", "threshold"):
            if out[name] is not None and not math.isfinite(out[name]):
                out[name] = None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        """Read back what :meth:`to_dict` wrote (e.g. in a service the raw webhook calls)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidArgument(f"unknown notification field {unknown[0]!r}", field=unknown[0])
        values = dict(data)
        try:
            for name in ("started_at", "ended_at", "expires_at"):
                if isinstance(values.get(name), str):
                    values[name] = dt.datetime.fromisoformat(values[name])
            return cls(**values)
        except InvalidArgument:
            raise
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"not a notification: {exc}") from exc


def headline(n: Notification) -> str:
    """One line, e.g. "[FIRING] critical: drift on feature age for churn v3 on prod"."""
    text = f"[{n.state.upper()}] {n.severity}: {n.metric}"
    if n.feature:
        text += f" on feature {n.feature}"
    if n.cohort:
        text += f" in cohort {n.cohort}"
    return f"{text} for {_model(n)} on {n.deployment}"


def _model(n: Notification) -> str:
    if n.version is None:
        return n.model
    return f"{n.model} v{n.version}" if n.version.isdigit() else f"{n.model} {n.version}"


def _number(value: float) -> str:
    return f"{value:.6g}"


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fields(n: Notification) -> list[tuple[str, str]]:
    """The facts every human-readable message shows, in order."""
    rows = [("Rule", n.rule), ("Monitor", n.monitor), ("Deployment", n.deployment),
            ("Model", _model(n)), ("Metric", n.metric)]
    optional = [("Feature", n.feature), ("Cohort", n.cohort),
                ("Value", None if n.value is None else _number(n.value)),
                ("Threshold", None if n.threshold is None else _number(n.threshold))]
    return rows + [(name, value) for name, value in optional if value is not None]


def _times(n: Notification) -> list[tuple[str, str]]:
    rows = [("Started", _when(n.started_at))]
    if n.ended_at is not None:
        rows.append(("Ended", _when(n.ended_at)))
    return rows


class Channel(Protocol):
    """Something that delivers a notification: ``send`` returns, or raises NotificationError."""

    @property
    def name(self) -> str:
        """Names the channel in error messages and delivery results (no secrets in it)."""
        ...

    def send(self, notification: Notification) -> None:
        """Deliver ``notification``; raise :class:`~dockyard.errors.NotificationError` if not."""
        ...


def _check_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise InvalidArgument(f"timeout must be a number of seconds in (0, 300], not {timeout!r}",
                              field="timeout")
    return float(timeout)


def _check_http_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except (TypeError, ValueError, AttributeError):  # not a string, or a bad port
        ok = False
    if not ok:
        raise InvalidArgument(f"url must be an http(s) URL, not {url!r}", field="url")
    return url


def _check_retries(attempts: int, backoff: float) -> None:
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
        raise InvalidArgument(f"attempts must be 1 to 10, not {attempts!r}", field="attempts")
    if isinstance(backoff, bool) or not isinstance(backoff, int | float) or not 0 <= backoff <= 10:
        raise InvalidArgument(f"backoff must be 0 to 10 seconds, not {backoff!r}",
                              field="backoff")


def _safe_url(url: str) -> str:
    """Scheme, host and port: webhook paths often embed a secret (Slack's do), as can userinfo."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _post_json(channel: str, url: str, body: Any, *, headers: Mapping[str, str],
               timeout: float, attempts: int, backoff: float) -> None:
    """POST ``body`` as JSON; retry connection failures and 5xx, never 4xx."""
    content = json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
    sent_headers = {"Content-Type": "application/json", "User-Agent": f"dockyard/{__version__}",
                    **headers}
    problem = "was not tried"
    with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
        for attempt in range(attempts):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                response = client.post(url, content=content, headers=sent_headers)
            except httpx.TimeoutException:
                problem = f"timed out after {timeout:g} s"
                continue
            except httpx.TransportError as exc:
                problem = f"could not connect: {exc}" if isinstance(exc, httpx.ConnectError) \
                    else f"failed: {type(exc).__name__}: {exc}"
                continue
            if response.is_success:
                return
            text = " ".join(response.text.split())[:300]
            problem = f"answered {response.status_code} {response.reason_phrase}" + (
                f": {text}" if text else "")
            if response.status_code < 500:
                raise NotificationError(f"{channel} {problem}", channel=channel,
                                        status=response.status_code)
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    raise NotificationError(f"{channel} {problem}{tries}", channel=channel)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(n: Notification) -> dict[str, Any]:
    """Slack-compatible JSON: fallback ``text`` and one section (headline, summary, fields)."""
    title = headline(n)
    section = {
        "type": "section",
        "text": {"type": "mrkdwn",
                 "text": f"*{_slack_escape(title)}*\n{_slack_escape(n.summary)}"[:3000]},
        "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{_slack_escape(value)}"[:2000]}
                   for name, value in _fields(n)][:10],
    }
    context = [_slack_escape(f"{name} {value}") for name, value in _times(n)]
    if n.labels:
        context.append(_slack_escape(", ".join(f"{k}={v}" for k, v in sorted(n.labels.items()))))
    if n.url:
        context.append(f"<{_slack_escape(n.url)}|Open in Dockyard>")
    elements = [{"type": "mrkdwn", "text": text[:2000]} for text in context]
    return {"text": title, "blocks": [section, {"type": "context", "elements": elements}]}


class WebhookChannel:
    """POST each notification to ``url`` as JSON.

    ``template="slack"`` sends Slack-compatible JSON (see :func:`slack_payload`);
    ``template="raw"`` sends :meth:`Notification.to_dict`, for a retraining
    trigger or any other tool. Connection failures and 5xx answers are retried
    (``attempts`` in all, waiting ``backoff``, then twice that, ...); a 4xx is not.
    """

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 10,
                 template: Literal["slack", "raw"] = "slack", attempts: int = _ATTEMPTS,
                 backoff: float = _BACKOFF_S) -> None:
        if template not in ("slack", "raw"):
            raise InvalidArgument(f"template must be 'slack' or 'raw', not {template!r}",
                                  field="template")
        if headers is not None and not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise InvalidArgument("headers map strings to strings", field="headers")
        _check_retries(attempts, backoff)
        self.url = _check_http_url(url)
        self.headers = dict(headers or {})
        self.timeout = _check_timeout(timeout)
        self.template = template
        self.attempts = attempts
        self.backoff = backoff

    @property
    def name(self) -> str:
        return f"webhook {_safe_url(self.url)}"

    def send(self, notification: Notification) -> None:
        body = slack_payload(notification) if self.template == "slack" else notification.to_dict()
        _post_json(self.name, self.url, body, headers=self.headers, timeout=self.timeout,
                   attempts=self.attempts, backoff=self.backoff)


class AlertmanagerChannel:
    """Send each notification to a Prometheus Alertmanager (``POST <url>/api/v2/alerts``).

    Alertmanager learns that an alert resolved from its ``endsAt``; a firing
    alert without one resolves by itself after Alertmanager's
    ``resolve_timeout`` (5 minutes by default), so firing alerts are re-sent
    while they last. Retries as :class:`WebhookChannel` does.
    """

    def __init__(self, url: str, *, timeout: float = 10, attempts: int = _ATTEMPTS,
                 backoff: float = _BACKOFF_S) -> None:
        _check_retries(attempts, backoff)
        self.url = _check_http_url(url).rstrip("/")
        self.timeout = _check_timeout(timeout)
        self.attempts = attempts
        self.backoff = backoff

    @property
    def name(self) -> str:
        return f"alertmanager {_safe_url(self.url)}"

    def send(self, notification: Notification) -> None:
        _post_json(self.name, f"{self.url}/api/v2/alerts", alertmanager_payload(notification),
                   headers={}, timeout=self.timeout, attempts=self.attempts, backoff=self.backoff)


def alertmanager_payload(n: Notification) -> list[dict[str, Any]]:
    """The body of ``POST /api/v2/alerts``: a list of one alert."""
    own = {"alertname": n.rule, "severity": n.severity, "deployment": n.deployment,
           "model": n.model, "version": n.version, "metric": n.metric, "feature": n.feature,
           "cohort": n.cohort, "monitor": n.monitor}
    labels: dict[str, str | None] = {_label_name(k): v for k, v in n.labels.items()}
    # Our own labels win: they identify the alert, and must not change between its notifications.
    labels.update({k: v for k, v in own.items() if v is not None})
    annotations = {"summary": n.summary, "alert_id": n.alert_id, "fingerprint": n.fingerprint}
    if n.value is not None:
        annotations["value"] = _number(n.value)
    if n.threshold is not None:
        annotations["threshold"] = _number(n.threshold)
    alert: dict[str, Any] = {
        "labels": {k: v for k, v in labels.items() if v != ""},
        "annotations": annotations,
        "startsAt": _rfc3339(n.started_at),
    }
    if n.ended_at is not None:
        alert["endsAt"] = _rfc3339(n.ended_at)
    elif n.expires_at is not None:  # firing: over at this time unless sent again
        alert["endsAt"] = _rfc3339(n.expires_at)
    if n.url:
        alert["generatorURL"] = n.url
    return [alert]


def _label_name(key: str) -> str:
    # Alertmanager takes label names matching [A-Za-z_][A-Za-z0-9_]*.
    name = _LABEL_NAME.sub("_", key) or "_"
    return "_" + name if name[0].isdigit() else name


class EmailChannel:
    """Email each notification over SMTP: a plain-text and an HTML part.

    The subject reads "[FIRING] critical drift-rule on prod". ``ssl`` connects
    with TLS from the start (usually port 465); ``starttls`` upgrades a plain
    connection (usually port 587). ``username`` and ``password`` log in.
    """

    def __init__(self, host: str, port: int = 25, *, sender: str, recipients: Sequence[str],
                 username: str | None = None, password: str | None = None,
                 starttls: bool = False, ssl: bool = False, timeout: float = 10) -> None:
        if not isinstance(host, str) or not host:
            raise InvalidArgument("host must be an SMTP server's name or address", field="host")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidArgument(f"port must be 1 to 65535, not {port!r}", field="port")
        if not _is_address(sender):
            raise InvalidArgument(f"sender must be an email address, not {sender!r}",
                                  field="sender")
        if isinstance(recipients, str):
            recipients = [r.strip() for r in recipients.split(",") if r.strip()]
        if not recipients or not all(_is_address(r) for r in recipients):
            raise InvalidArgument("recipients must be a non-empty list of email addresses",
                                  field="recipients")
        if starttls and ssl:
            raise InvalidArgument("starttls and ssl exclude each other", field="starttls")
        if password is not None and not username:
            raise InvalidArgument("a password needs a username", field="username")
        self.host, self.port = host, port
        self.sender, self.recipients = sender, list(recipients)
        self.username, self.password = username, password
        self.starttls, self.ssl = bool(starttls), bool(ssl)
        self.timeout = _check_timeout(timeout)

    @property
    def name(self) -> str:
        return f"email via {self.host}:{self.port}"

    def message(self, n: Notification) -> EmailMessage:
        """The email ``send`` would send for ``n``."""
        msg = EmailMessage()
        msg["Subject"] = _one_line(f"[{n.state.upper()}] {n.severity} {n.rule} on {n.deployment}")
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        msg["Message-ID"] = make_msgid(domain="dockyard")
        # Mail clients thread a firing and its resolved email together.
        msg["References"] = f"<alert-{_LABEL_NAME.sub('-', n.alert_id)}@dockyard>"
        msg["X-Dockyard-Alert"] = _one_line(f"{n.alert_id} {n.fingerprint}")
        rows = _fields(n) + _times(n) + [(k, v) for k, v in sorted(n.labels.items())]
        text = [headline(n), "", n.summary, ""] + [f"{k}: {v}" for k, v in rows]
        if n.url:
            text += ["", n.url]
        msg.set_content("\n".join(text) + "\n")
        cells = "".join(f'<tr><th align="left">{html.escape(k)}</th><td>{html.escape(v)}</td></tr>'
                        for k, v in rows)
        link = f'<p><a href="{html.escape(n.url)}">Open in Dockyard</a></p>' if n.url else ""
        msg.add_alternative(
            f"<html><body><h3>{html.escape(headline(n))}</h3><p>{html.escape(n.summary)}</p>"
            f"<table>{cells}</table>{link}</body></html>\n", subtype="html")
        return msg

    def send(self, notification: Notification) -> None:
        msg = self.message(notification)
        context = create_default_context()
        try:
            smtp_class = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
            kwargs: dict[str, Any] = {"context": context} if self.ssl else {}
            with smtp_class(self.host, self.port, timeout=self.timeout, **kwargs) as smtp:
                if self.starttls:
                    smtp.starttls(context=context)
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(msg, self.sender, self.recipients)
        except smtplib.SMTPAuthenticationError as exc:
            raise self._error(f"login as {self.username!r} failed: {_smtp_reply(exc)}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise self._error(f"refused every recipient: {_refusals(exc.recipients)}") from exc
        except smtplib.SMTPResponseException as exc:
            raise self._error(f"server answered {_smtp_reply(exc)}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc}"
            if isinstance(exc, ConnectionRefusedError):
                what = f"could not connect: {exc}"
            raise self._error(what) from exc
        if refused:
            raise self._error(f"refused some recipients: {_refusals(refused)}")

    def _error(self, what: str) -> NotificationError:
        return NotificationError(f"{self.name} {what}", channel=self.name)


def _is_address(value: object) -> bool:
    return isinstance(value, str) and "@" in value and value == _one_line(value)


def _one_line(text: str) -> str:
    # Header values: a line break in one would start another header.
    return " ".join(text.split())


def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
        else str(exc.smtp_error)
    return f"{exc.smtp_code} {error}"


def _refusals(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{addr} ({code} {reply.decode(errors='replace')})"
                     for addr, (code, reply) in refused.items())


_CHANNEL_KEYS: dict[str, tuple[set[str], set[str]]] = {
    # type: (required keys, optional keys)
    "webhook": ({"url"}, {"template", "headers", "timeout"}),
    "email": ({"host", "sender", "recipients"},
              {"port", "username", "password", "password_env", "starttls", "ssl", "timeout"}),
    "alertmanager": ({"url"}, {"timeout"}),
}


def channel_from_config(config: Mapping[str, Any]) -> Channel:
    """Build a channel from a monitor's channel config, e.g. ``{"type": "webhook", "url": ...}``.

    ``type`` is "webhook", "email" or "alertmanager"; the other keys are the
    channel's arguments. An SMTP password can be given as ``password_env``,
    the name of an environment variable read here. Raises InvalidArgument
    naming the field on an unknown type, a missing or unknown key, or a bad value.
    """
    if not isinstance(config, Mapping):
        raise InvalidArgument(f"a channel config is a mapping, not {type(config).__name__}")
    kind = config.get("type")
    if kind not in _CHANNEL_KEYS:
        raise InvalidArgument(
            f"channel type must be one of {', '.join(sorted(_CHANNEL_KEYS))}, not {kind!r}",
            field="type")
    required, optional = _CHANNEL_KEYS[kind]
    for key in sorted(required):
        if config.get(key) in (None, ""):
            raise InvalidArgument(f"a {kind} channel needs {key!r}", field=key)
    unknown = sorted(set(config) - required - optional - {"type"})
    if unknown:
        raise InvalidArgument(f"unknown field {unknown[0]!r} for a {kind} channel",
                              field=unknown[0])
    args = {k: v for k, v in config.items() if k != "type"}
    if kind == "email" and "password_env" in args:
        if "password" in args:
            raise InvalidArgument("give password or password_env, not both", field="password_env")
        var = args.pop("password_env")
        if not isinstance(var, str) or var not in os.environ:
            raise InvalidArgument(
                f"password_env names {var!r}, which is not set in the environment",
                field="password_env")
        args["password"] = os.environ[var]
    if kind == "webhook":
        return WebhookChannel(**args)
    if kind == "email":
        return EmailChannel(**args)
    return AlertmanagerChannel(**args)


@dataclasses.dataclass(frozen=True)
class DeliveryResult:
    """What happened to one notification on one channel: ``ok``, or ``error`` says why not."""

    channel: str
    ok: bool
    error: str | None = None


def _deliver_one(notification: Notification, channel: Channel) -> DeliveryResult:
    name = getattr(channel, "name", type(channel).__name__)
    try:
        channel.send(notification)
    except NotificationError as exc:
        error = exc.message
    except Exception as exc:  # noqa: BLE001 - a broken channel must not stop the others
        error = f"{name} failed: {type(exc).__name__}: {exc}"
    else:
        return DeliveryResult(channel=name, ok=True)
    log.warning("alert %s: notification not delivered: %s", notification.alert_id, error)
    return DeliveryResult(channel=name, ok=False, error=error)


def deliver(notification: Notification, channels: Sequence[Channel]) -> list[DeliveryResult]:
    """Send ``notification`` to every channel at once; one result per channel, in order.

    Never raises for a channel's failure: a slow or failing channel neither
    stops nor delays the others, and its result holds the error text.
    """
    if not channels:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(channels)),
                            thread_name_prefix="dockyard-notify") as pool:
        return list(pool.map(lambda channel: _deliver_one(notification, channel), channels))
