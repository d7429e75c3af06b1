"""Notification channels against real receivers on loopback: an HTTP server, aiosmtpd and
Debian's Alertmanager."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import uuid
from typing import Any

import pytest

from dockyard.errors import InvalidArgument, NotificationError
from dockyard.monitor.notify import (
    AlertmanagerChannel,
    DeliveryResult,
    EmailChannel,
    Notification,
    WebhookChannel,
    channel_from_config,
    deliver,
    headline,
)
from tests.monitor.conftest import (
    SMTP_PASSWORD,
    SMTP_USER,
    AlertmanagerServer,
    SmtpServer,
    WebhookReceiver,
    free_port,
    wait_until,
)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
FAST = {"backoff": 0.01, "timeout": 5}


def notification(**changes: Any) -> Notification:
    base = Notification(
        alert_id="al-1", fingerprint="fp-1", state="firing", severity="critical",
        rule="age-drift", monitor="churn-prod", deployment="prod", model="churn", version="3",
        metric="drift", feature="age", cohort=None, value=0.31, threshold=0.2,
        summary="PSI of age is 0.31 > 0.2", started_at=NOW - dt.timedelta(minutes=5),
        url="http://dockyard.local/monitors/churn-prod", labels={"team": "ml"},
    )
    return dataclasses.replace(base, **changes)


def resolved(n: Notification, ended_at: dt.datetime | None = None) -> Notification:
    return dataclasses.replace(n, state="resolved", ended_at=ended_at or dt.datetime.now(dt.UTC))


# -- the notification -----------------------------------------------------------------------


def test_headline_names_state_severity_metric_feature_model_and_deployment() -> None:
    expected = "[FIRING] critical: drift on feature age for churn v3 on prod"
    assert headline(notification()) == expected
    n = resolved(notification(feature=None, cohort="EU", version=None, severity="warning"))
    assert headline(n) == "[RESOLVED] warning: drift in cohort EU for churn on prod"


@pytest.mark.parametrize(("changes", "needle"), [
    ({"state": "open"}, "state"),
    ({"severity": "page"}, "severity"),
    ({"started_at": dt.datetime(2026, 1, 1)}, "timezone-aware"),
    ({"state": "resolved"}, "ended_at"),
    ({"ended_at": NOW}, "ended_at"),
    ({"labels": {"team": 1}}, "labels"),
])
def test_notification_rejects_bad_values(changes: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidArgument, match=needle):
        notification(**changes)


def test_to_dict_round_trips_and_drops_non_finite_numbers() -> None:
    n = resolved(notification())
    assert Notification.from_dict(n.to_dict()) == n
    assert notification(value=math.inf).to_dict()["value"] is None
    with pytest.raises(InvalidArgument, match="colour"):
        Notification.from_dict({**n.to_dict(), "colour": "red"})


# -- webhook --------------------------------------------------------------------------------


def test_webhook_slack_template(webhook_receiver: WebhookReceiver) -> None:
    url = f"{webhook_receiver.url}/services/T000/B000/secret"
    channel = WebhookChannel(url, headers={"Authorization": "Bearer t0ken"}, **FAST)
    channel.send(notification())

    [request] = webhook_receiver.requests
    assert request.path == "/services/T000/B000/secret"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer t0ken"
    body = request.json()
    assert body["text"] == "[FIRING] critical: drift on feature age for churn v3 on prod"
    section, context = body["blocks"]
    assert section["type"] == "section"
    assert section["text"]["text"] == (
        "*[FIRING] critical: drift on feature age for churn v3 on prod*\n"
        "PSI of age is 0.31 &gt; 0.2"
    )
    fields = [f["text"] for f in section["fields"]]
    assert fields == ["*Rule*\nage-drift", "*Monitor*\nchurn-prod", "*Deployment*\nprod",
                      "*Model*\nchurn v3", "*Metric*\ndrift", "*Feature*\nage",
                      "*Value*\n0.31", "*Threshold*\n0.2"]
    texts = [e["text"] for e in context["elements"]]
    assert texts[0].startswith("Started ") and texts[0].endswith(" UTC")
    assert "team=ml" in texts
    assert "<http://dockyard.local/monitors/churn-prod|Open in Dockyard>" in texts


def test_webhook_raw_template_posts_the_whole_notification(
        webhook_receiver: WebhookReceiver) -> None:
    n = resolved(notification())
    WebhookChannel(f"{webhook_receiver.url}/retrain", template="raw", **FAST).send(n)

    [request] = webhook_receiver.requests
    assert request.path == "/retrain"
    assert request.json() == n.to_dict()
    assert Notification.from_dict(request.json()) == n


def test_webhook_retries_a_5xx(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(500, 200)
    WebhookChannel(webhook_receiver.url, **FAST).send(notification())
    assert len(webhook_receiver.requests) == 2
    assert webhook_receiver.requests[0].body == webhook_receiver.requests[1].body


def test_webhook_gives_up_after_three_attempts(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(503, 503, 503, 200)
    with pytest.raises(NotificationError) as caught:
        WebhookChannel(webhook_receiver.url, **FAST).send(notification())
    assert caught.value.message == (
        f"webhook {webhook_receiver.url} answered 503 Service Unavailable: refused with 503 "
        "(3 attempts)"
    )
    assert len(webhook_receiver.requests) == 3


def test_webhook_does_not_retry_a_4xx(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(400)
    with pytest.raises(NotificationError) as caught:
        WebhookChannel(f"{webhook_receiver.url}/hook/secret-path", **FAST).send(notification())
    # The path is left out: webhook URLs carry their secret there.
    assert caught.value.message == (
        f"webhook {webhook_receiver.url} answered 400 Bad Request: refused with 400"
    )
    assert caught.value.details == {"channel": f"webhook {webhook_receiver.url}", "status": 400}
    assert len(webhook_receiver.requests) == 1


def test_webhook_connection_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(NotificationError, match=r"^webhook http://127\.0\.0\.1:\d+ could not "
                                                r"connect: .*refused.* \(3 attempts\)$"):
        WebhookChannel(url, **FAST).send(notification())


# -- email ----------------------------------------------------------------------------------


def test_email_sends_text_and_html(smtp_server: SmtpServer) -> None:
    channel = EmailChannel(smtp_server.host, smtp_server.port, sender="dockyard@example.org",
                           recipients=["oncall@example.org", "ml@example.org"], timeout=5)
    channel.send(notification(summary="PSI of <age> is 0.31 > 0.2"))

    [mail] = smtp_server.messages
    assert mail.mail_from == "dockyard@example.org"
    assert mail.rcpt_tos == ["oncall@example.org", "ml@example.org"]
    assert mail.login is None
    message = mail.message
    assert message["Subject"] == "[FIRING] critical age-drift on prod"
    assert message["To"] == "oncall@example.org, ml@example.org"
    assert message["X-Dockyard-Alert"] == "al-1 fp-1"
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("[FIRING] critical: drift on feature age for churn v3 on prod\n\n"
                           "PSI of <age> is 0.31 > 0.2\n")
    assert "Model: churn v3\n" in text and "Threshold: 0.2\n" in text and "team: ml\n" in text
    assert "http://dockyard.local/monitors/churn-prod" in text
    page = message.get_body(("html",)).get_content()
    assert "PSI of &lt;age&gt; is 0.31 &gt; 0.2" in page
    assert '<a href="http://dockyard.local/monitors/churn-prod">' in page


def test_email_resolved_subject_and_login_from_env(
        smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    channel = channel_from_config({
        "type": "email", "host": smtp_server.host, "port": smtp_server.port,
        "sender": "dockyard@example.org", "recipients": ["oncall@example.org"],
        "username": SMTP_USER, "password_env": "DOCKYARD_TEST_SMTP_PASSWORD", "timeout": 5,
    })
    channel.send(resolved(notification(severity="warning")))

    [mail] = smtp_server.messages
    assert mail.login == SMTP_USER
    assert mail.message["Subject"] == "[RESOLVED] warning age-drift on prod"
    assert "Ended: " in mail.message.get_body(("plain",)).get_content()


def test_email_wrong_password(smtp_server: SmtpServer) -> None:
    channel = EmailChannel(smtp_server.host, smtp_server.port, sender="dockyard@example.org",
                           recipients=["oncall@example.org"], username=SMTP_USER,
                           password="wrong", timeout=5)
    with pytest.raises(NotificationError,
                       match=rf"^email via 127\.0\.0\.1:{smtp_server.port} login as 'dockyard' "
                             r"failed: 535 "):
        channel.send(notification())
    assert smtp_server.messages == []


def test_email_connection_refused() -> None:
    port = free_port()
    channel = EmailChannel("127.0.0.1", port, sender="dockyard@example.org",
                           recipients=["oncall@example.org"], timeout=5)
    with pytest.raises(NotificationError,
                       match=rf"^email via 127\.0\.0\.1:{port} could not connect: .*refused"):
        channel.send(notification())


# -- Alertmanager ---------------------------------------------------------------------------


def test_alertmanager_receives_firing_then_resolved(alertmanager: AlertmanagerServer) -> None:
    rule = f"drift-{uuid.uuid4().hex[:8]}"
    firing = notification(rule=rule, cohort="EU")
    channel = AlertmanagerChannel(alertmanager.url, **FAST)
    channel.send(firing)

    [alert] = wait_until(lambda: alertmanager.alerts(alertname=rule))
    assert alert["labels"] == {
        "alertname": rule, "severity": "critical", "deployment": "prod", "model": "churn",
        "version": "3", "metric": "drift", "feature": "age", "cohort": "EU",
        "monitor": "churn-prod", "team": "ml",
    }
    assert alert["annotations"] == {"summary": "PSI of age is 0.31 > 0.2", "value": "0.31",
                                    "threshold": "0.2", "alert_id": "al-1", "fingerprint": "fp-1"}
    assert alert["status"]["state"] == "active"
    assert alert["generatorURL"] == "http://dockyard.local/monitors/churn-prod"
    assert dt.datetime.fromisoformat(alert["startsAt"]) == firing.started_at

    channel.send(resolved(firing, ended_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert wait_until(lambda: not alertmanager.alerts(alertname=rule))


def test_alertmanager_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(NotificationError,
                       match=rf"^alertmanager {url} could not connect: .*refused"):
        AlertmanagerChannel(url, **FAST).send(notification())


# -- config and delivery --------------------------------------------------------------------


def test_channel_from_config_builds_each_type() -> None:
    webhook = channel_from_config({"type": "webhook", "url": "https://hooks.example.org/x",
                                   "template": "raw", "headers": {"X-Token": "t"}})
    assert isinstance(webhook, WebhookChannel)
    assert (webhook.template, webhook.headers, webhook.timeout) == ("raw", {"X-Token": "t"}, 10)
    assert webhook.name == "webhook https://hooks.example.org"
    named = channel_from_config({"type": "webhook", "url": "http://u:pw@[::1]:8080/hook?k=secret"})
    assert named.name == "webhook http://[::1]:8080"
    email = channel_from_config({"type": "email", "host": "smtp.example.org", "port": 587,
                                 "sender": "a@example.org", "recipients": "b@x.org, c@x.org",
                                 "starttls": True})
    assert isinstance(email, EmailChannel)
    assert (email.port, email.recipients, email.starttls) == (587, ["b@x.org", "c@x.org"], True)
    am = channel_from_config({"type": "alertmanager", "url": "http://am:9093/", "timeout": 3})
    assert isinstance(am, AlertmanagerChannel)
    assert (am.url, am.timeout, am.name) == ("http://am:9093", 3.0, "alertmanager http://am:9093")


@pytest.mark.parametrize(("config", "field"), [
    ({"type": "pager", "url": "http://x"}, "type"),
    ({"url": "http://x"}, "type"),
    ({"type": "webhook"}, "url"),
    ({"type": "webhook", "url": "ftp://x"}, "url"),
    ({"type": "webhook", "url": "http://x:port/"}, "url"),
    ({"type": "webhook", "url": 42}, "url"),
    ({"type": "webhook", "url": "http://x", "temlpate": "raw"}, "temlpate"),
    ({"type": "webhook", "url": "http://x", "template": "teams"}, "template"),
    ({"type": "webhook", "url": "http://x", "timeout": 0}, "timeout"),
    ({"type": "email", "host": "h", "recipients": ["a@b"]}, "sender"),
    ({"type": "email", "host": "h", "sender": "a@b", "recipients": []}, "recipients"),
    ({"type": "email", "host": "h", "sender": "a@b", "recipients": ["c@d"], "port": "25"},
     "port"),
    ({"type": "email", "host": "h", "sender": "a@b", "recipients": ["c@d"], "username": "u",
      "password_env": "DOCKYARD_TEST_UNSET_VARIABLE"}, "password_env"),
    ({"type": "email", "host": "h", "sender": "a@b", "recipients": ["c@d"], "username": "u",
      "password": "p", "password_env": "HOME"}, "password_env"),
    ({"type": "email", "host": "h", "sender": "a@b", "recipients": ["c@d"], "ssl": True,
      "starttls": True}, "starttls"),
    ({"type": "alertmanager", "url": "http://am", "template": "raw"}, "template"),
])
def test_channel_from_config_names_the_bad_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument, match=field) as caught:
        channel_from_config(config)
    assert caught.value.details["field"] == field


class _Broken:
    name = "broken"

    def send(self, notification: Notification) -> None:
        raise RuntimeError("bug in a channel")


def test_deliver_sends_to_every_channel_whatever_fails(
        webhook_receiver: WebhookReceiver, smtp_server: SmtpServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    channels = [
        WebhookChannel(dead, attempts=1, **FAST),
        _Broken(),
        WebhookChannel(webhook_receiver.url, **FAST),
        EmailChannel(smtp_server.host, smtp_server.port, sender="d@example.org",
                     recipients=["o@example.org"], timeout=5),
    ]
    results = deliver(notification(), channels)

    assert [(r.channel, r.ok) for r in results] == [
        (f"webhook {dead}", False), ("broken", False),
        (f"webhook {webhook_receiver.url}", True),
        (f"email via 127.0.0.1:{smtp_server.port}", True),
    ]
    assert results[0].error is not None and results[0].error.startswith(
        f"webhook {dead} could not connect:")
    assert results[1].error == "broken failed: RuntimeError: bug in a channel"
    assert results[2] == DeliveryResult(channel=f"webhook {webhook_receiver.url}", ok=True)
    assert len(webhook_receiver.requests) == 1 and len(smtp_server.messages) == 1
    assert deliver(notification(), []) == []


def test_a_firing_alert_tells_alertmanager_when_it_expires() -> None:
    from dockyard.monitor.notify import alertmanager_payload

    expires = NOW + dt.timedelta(minutes=15)
    (alert,) = alertmanager_payload(notification(expires_at=expires))
    assert dt.datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00")) == expires
    (plain,) = alertmanager_payload(notification())
    assert "endsAt" not in plain
    assert Notification.from_dict(notification(expires_at=expires).to_dict()).expires_at == expires
    with pytest.raises(InvalidArgument, match="expires_at must be a timezone-aware"):
        notification(expires_at=dt.datetime(2026, 1, 1))
