"""Notifications of a run's end: a signed webhook and e-mail, each delivery recorded.

A run asked with ``notify`` (a request's or a job's) gets, when it has ended for good
(its last attempt, see :mod:`.retries`), one delivery per channel: written with its
final status (:meth:`.records.ExecutionRecords` adds the rows in that transaction), so
that none is lost with the replica that saw the end. The replica firing schedules
delivers them (:mod:`..jobs.scheduler` calls :meth:`Notifier.deliver_due`) once the
run's MLflow runs are known, so the message links to them; a delivery that fails for a
reason that can pass (no answer, 5xx, 408, 429) is tried again with a doubling backoff.

Webhooks are JSON POSTs signed with HMAC-SHA256 of the body under the service's
``webhook_secret`` (``X-Templates-Signature-256: sha256=<hex>``, as GitHub signs), to
hosts the operator allows (a webhook is a request the service makes wherever a user
says: without an allowlist it could reach internal services). A webhook's address may
carry a secret (chat services put one in the path), so answers and logs show only its
scheme and host.
"""

from __future__ import annotations

import datetime
import fnmatch
import hashlib
import hmac
import json
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Bool, Float, Int, List, Unicode, default
from traitlets.config import LoggingConfigurable

from .. import metrics
from .._version import __version__
from ..db import Database
from ..db.models import Execution, NotificationDelivery
from ..errors import InvalidInput, NotFound
from ..jsontext import isoformat
from ..statuses import Status

log = logging.getLogger(__name__)

InThread = Callable[..., Awaitable[Any]]

#: when to notify: every end, or failures only
ON = ("finish", "failure")
CHANNELS = ("webhook", "email")
#: delivery states
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
DELIVERY_STATES = (PENDING, DELIVERED, FAILED)
MAX_EMAILS = 5
#: answers that may pass: the receiver timed out, was rate limited, or failed itself
_RETRYABLE_CODES = {408, 429}
_EMAIL = re.compile(r"^[^@\s,;<>\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
SIGNATURE_HEADER = "X-Templates-Signature-256"


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: where a webhook goes, without what may be secret."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def signature(secret: str, body: bytes) -> str:
    """The value of :data:`SIGNATURE_HEADER` for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class NotifyPolicy:
    """Where a run's end is sent, and whether only a failure is."""

    on: str
    webhook: str | None
    email: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"on": self.on, "webhook": self.webhook, "email": list(self.email)}

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> NotifyPolicy | None:
        if not value:
            return None
        return cls(
            value.get("on") or "finish", value.get("webhook"), tuple(value.get("email") or ())
        )

    def wants(self, status: str) -> bool:
        return self.on == "finish" or status == Status.FAILED.value

    def targets(self) -> list[tuple[str, str]]:
        """``(channel, target)`` of each delivery an end makes."""
        found = [("webhook", self.webhook)] if self.webhook else []
        return found + [("email", address) for address in self.email]


def describe_policy(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored policy as answers show it (the webhook's address redacted)."""
    policy = NotifyPolicy.from_json(value)
    if policy is None:
        return None
    shown = policy.to_json()
    if policy.webhook:
        shown["webhook"] = redact_url(policy.webhook)
    return shown


#: a delivery's fields in answers (:func:`describe_delivery`)
DELIVERY_FIELDS = (
    "id",
    "channel",
    "target",
    "state",
    "attempts",
    "status_code",
    "error",
    "next_attempt_at",
    "created_at",
    "delivered_at",
)


def describe_delivery(d: NotificationDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "channel": d.channel,
        "target": redact_url(d.target) if d.channel == "webhook" else d.target,
        "state": d.state,
        "attempts": d.attempts,
        "status_code": d.status_code,
        "error": d.error,
        "next_attempt_at": isoformat(d.next_attempt_at) if d.state == PENDING else None,
        "created_at": isoformat(d.created_at),
        "delivered_at": isoformat(d.delivered_at) if d.delivered_at else None,
    }


def plan_deliveries(e: Execution, now: datetime.datetime) -> list[NotificationDelivery]:
    """The deliveries a run's end makes (none while a retry is due: the last attempt's
    end is the one to tell)."""
    policy = NotifyPolicy.from_json(e.notify)
    if policy is None or e.retry_at is not None or not policy.wants(e.status):
        return []
    return [
        NotificationDelivery(
            execution_id=e.id,
            channel=channel,
            target=target,
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for channel, target in policy.targets()
    ]


class Notifier(LoggingConfigurable):
    """Checks ``notify`` requests against what the operator allows, and delivers.

    Keyword arguments besides the collaborators: traits, ``parent``, ``log``.
    """

    webhook_secret = Unicode(
        help="""The key webhooks are signed with (HMAC-SHA256 of the body, in the
        X-Templates-Signature-256 header); receivers check it with the same key. Empty:
        no webhooks. Default: $JUPYTERHUB_TEMPLATES_WEBHOOK_SECRET.""",
    ).tag(config=True)

    @default("webhook_secret")
    def _default_secret(self) -> str:
        return os.environ.get("JUPYTERHUB_TEMPLATES_WEBHOOK_SECRET", "")

    webhook_hosts = List(
        Unicode(),
        help="""Hosts webhooks may go to (shell patterns, e.g. `*.example.org`); a
        webhook to any other is refused (400). Empty: no webhooks.""",
    ).tag(config=True)

    webhook_timeout = Float(10.0, help="Seconds a webhook's receiver has to answer.").tag(
        config=True
    )

    smtp_host = Unicode(help="The SMTP server e-mails go through. Empty: no e-mail.").tag(
        config=True
    )
    smtp_port = Int(25, help="The SMTP server's port.").tag(config=True)
    smtp_starttls = Bool(False, help="Upgrade the SMTP connection with STARTTLS.").tag(config=True)
    smtp_username = Unicode(help="SMTP login (empty: none).").tag(config=True)
    smtp_password = Unicode(
        help="SMTP password. Default: $JUPYTERHUB_TEMPLATES_SMTP_PASSWORD."
    ).tag(config=True)

    @default("smtp_password")
    def _default_smtp_password(self) -> str:
        return os.environ.get("JUPYTERHUB_TEMPLATES_SMTP_PASSWORD", "")

    smtp_from = Unicode(
        "jupyterhub-templates@localhost", help="The sender of notification e-mails."
    ).tag(config=True)

    email_domains = List(
        Unicode(),
        help="Domains e-mails may go to (empty: any, once `smtp_host` is set).",
    ).tag(config=True)

    max_attempts = Int(5, help="Deliveries tried at most this often before they fail.").tag(
        config=True
    )
    backoff = Float(
        10.0, help="Seconds before a failed delivery is tried again; doubling each time."
    ).tag(config=True)

    def __init__(
        self,
        *,
        db: Database,
        describe: Callable[[Execution], dict[str, Any]],
        urls: Callable[[dict[str, Any]], dict[str, str]],
        in_thread: InThread,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.db = db
        self.describe = describe
        self.urls = urls
        self.in_thread = in_thread

    # -- what requests use ---------------------------------------------------------

    def check(self, value: Any) -> NotifyPolicy | None:
        """A request's ``notify`` (``{"on", "webhook", "email"}``, or null) as a policy;
        InvalidInput when it is not one or asks for what this service does not allow."""
        if value is None:
            return None
        if not isinstance(value, dict):
            raise InvalidInput('notify must be an object, e.g. {"webhook": "https://…"}.')
        unknown = sorted(set(value) - {"on", "webhook", "email"})
        if unknown:
            raise InvalidInput(f"notify: unknown field {unknown[0]!r} (on, webhook, email).")
        on = value.get("on", "finish")
        if on not in ON:
            raise InvalidInput(f"notify.on must be one of {', '.join(ON)}.")
        webhook = value.get("webhook")
        if webhook is not None:
            webhook = self._check_webhook(webhook)
        emails = value.get("email") or []
        if isinstance(emails, str):
            emails = [emails]
        if not isinstance(emails, list) or len(emails) > MAX_EMAILS:
            raise InvalidInput(f"notify.email must be a list of at most {MAX_EMAILS} addresses.")
        for address in emails:
            self._check_email(address)
        if webhook is None and not emails:
            return None
        return NotifyPolicy(on, webhook, tuple(dict.fromkeys(emails)))

    def _check_webhook(self, url: Any) -> str:
        if not isinstance(url, str) or len(url) > 2048:
            raise InvalidInput("notify.webhook must be an http(s) URL.")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError:
            raise InvalidInput("notify.webhook must be an http(s) URL.") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
            raise InvalidInput("notify.webhook must be an http(s) URL without credentials.")
        if not self.webhook_secret or not self.webhook_hosts:
            raise InvalidInput("Webhooks are not enabled on this service.")
        host = parts.hostname.lower()
        if not any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in self.webhook_hosts):
            raise InvalidInput(f"notify.webhook: webhooks to {host} are not allowed here.")
        return url

    def _check_email(self, address: Any) -> None:
        if not isinstance(address, str) or not _EMAIL.match(address):
            raise InvalidInput("notify.email must hold e-mail addresses.")
        if not self.smtp_host:
            raise InvalidInput("E-mail notifications are not enabled on this service.")
        domain = address.rsplit("@", 1)[1].lower()
        if self.email_domains and domain not in {d.lower() for d in self.email_domains}:
            raise InvalidInput(f"notify.email: e-mails to {domain} are not allowed here.")

    # -- records -------------------------------------------------------------------

    def deliveries(self, execution_id: int) -> list[dict[str, Any]]:
        """Blocking: the deliveries of a run's end, oldest first."""
        with self.db.session() as session:
            rows = session.scalars(
                select(NotificationDelivery)
                .where(NotificationDelivery.execution_id == execution_id)
                .order_by(NotificationDelivery.id)
            )
            return [describe_delivery(d) for d in rows]

    def _claim_due(self, limit: int = 50) -> list[tuple[int, str, str, dict[str, Any]]]:
        """Blocking: deliveries due now whose run's MLflow runs are known, each claimed
        for one sending (its next attempt moved past the sending's end, so that a
        second scheduler would not send it too): ``(id, channel, target, run)``."""
        with self.db.write_session() as session:
            now = self.db.now(session)
            rows = session.execute(
                select(NotificationDelivery, Execution)
                .join(Execution, Execution.id == NotificationDelivery.execution_id)
                .where(
                    NotificationDelivery.state == PENDING,
                    NotificationDelivery.next_attempt_at <= now,
                    Execution.mlflow_pending.is_not(True),
                )
                .order_by(NotificationDelivery.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True, of=NotificationDelivery)
            ).all()
            claimed = []
            for d, e in rows:
                d.next_attempt_at = now + datetime.timedelta(seconds=3 * self.webhook_timeout + 30)
                claimed.append((d.id, d.channel, d.target, self.describe(e)))
            session.commit()
            return claimed

    def _anything_due(self) -> bool:
        with self.db.session() as session:
            return (
                session.scalar(
                    select(NotificationDelivery.id)
                    .where(
                        NotificationDelivery.state == PENDING,
                        NotificationDelivery.next_attempt_at <= self.db.clock(),
                    )
                    .limit(1)
                )
                is not None
            )

    def _record(self, delivery_id: int, *, code: int | None, error: str | None, again: bool) -> str:
        """Blocking: one sending's outcome. Returns the delivery's state."""
        with self.db.write_session() as session:
            d = session.get(NotificationDelivery, delivery_id, with_for_update=True)
            if d is None:
                raise NotFound(f"No delivery {delivery_id}.")
            now = self.db.now(session)
            d.attempts += 1
            d.status_code = code
            d.error = error[:500] if error else None
            if error is None:
                d.state, d.delivered_at = DELIVERED, now
            elif again and d.attempts < self.max_attempts:
                delay = min(self.backoff * 2 ** (d.attempts - 1), 3600.0)
                d.next_attempt_at = now + datetime.timedelta(seconds=delay)
            else:
                d.state = FAILED
            session.commit()
            return d.state

    # -- delivering ----------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Send every delivery that is due; returns how many were sent (or tried)."""
        if not await self.in_thread(self._anything_due):
            return 0
        claimed = await self.in_thread(self._claim_due)
        for delivery_id, channel, target, run in claimed:
            message = self.message(run)
            if channel == "webhook":
                code, error, again = await self._post(delivery_id, target, message)
            else:
                code, error, again = await self.in_thread(self._mail, target, message)
            state = await self.in_thread(
                self._record, delivery_id, code=code, error=error, again=again
            )
            outcome = {DELIVERED: metrics.Outcome.SUCCESS, PENDING: metrics.Outcome.UNAVAILABLE}
            metrics.notification_sent(channel, outcome.get(state, metrics.Outcome.ERROR))
            where = redact_url(target) if channel == "webhook" else target
            if error:
                log.warning(
                    "notification %s of execution %s to %s: %s (%s)",
                    delivery_id,
                    run["execution_id"],
                    where,
                    error,
                    "will try again" if state == PENDING else "given up",
                )
            else:
                log.info(
                    "notification %s of execution %s sent to %s",
                    delivery_id,
                    run["execution_id"],
                    where,
                )
        return len(claimed)

    def message(self, run: dict[str, Any]) -> dict[str, Any]:
        """What a notification says: the run, how it ended, how long it took, and
        links to its output notebook and MLflow runs."""
        error = run.get("error") or {}
        return {
            "event": "execution.finished",
            "execution_id": run["execution_id"],
            "status": run["status"],
            "reason": error.get("reason"),
            "message": error.get("message"),
            "username": run["username"],
            "notebook_path": run["notebook_path"],
            "output_path": run["output_path"],
            "template_name": run.get("template_name"),
            "attempt": run.get("attempt", 1),
            "start_time": run["start_time"],
            "end_time": run["end_time"],
            "duration": run["duration"],
            "notebook_url": self.urls(run)["notebook_url"],
            "mlflow_runs": [
                {"run_id": r.get("run_id"), "url": r.get("url")}
                for r in (run.get("mlflow") or {}).get("runs") or []
            ],
        }

    async def _post(
        self, delivery_id: int, url: str, message: dict[str, Any]
    ) -> tuple[int | None, str | None, bool]:
        """``(status code, error or None, worth another try)``."""
        body = json.dumps(message).encode()
        request = HTTPRequest(
            url,
            method="POST",
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"jupyterhub-templates/{__version__}",
                "X-Templates-Event": message["event"],
                "X-Templates-Delivery": str(delivery_id),
                SIGNATURE_HEADER: signature(self.webhook_secret, body),
            },
            connect_timeout=self.webhook_timeout,
            request_timeout=self.webhook_timeout,
            follow_redirects=False,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except HTTPClientError as e:
            return None, f"no answer ({e.code})", True
        except OSError as e:
            return None, f"cannot be reached ({e.strerror or type(e).__name__})", True
        if response.code == 599:
            return None, "no answer", True
        if 200 <= response.code < 300:
            return response.code, None, False
        again = response.code >= 500 or response.code in _RETRYABLE_CODES
        return response.code, f"answered {response.code}", again

    def _mail(self, to: str, message: dict[str, Any]) -> tuple[int | None, str | None, bool]:
        """Blocking: send one e-mail; ``(None, error or None, worth another try)``."""
        mail = EmailMessage()
        mail["From"] = self.smtp_from
        mail["To"] = to
        name = message["notebook_path"].rsplit("/", 1)[-1]
        mail["Subject"] = f"{name}: {message['status']}"
        lines = [
            f"Notebook: {message['notebook_path']}",
            f"Status: {message['status']}"
            + (f" ({message['reason']})" if message.get("reason") else ""),
            f"Duration: {message['duration']}",
            f"Output: {message['notebook_url']}",
        ]
        lines += [f"MLflow run: {r['url']}" for r in message["mlflow_runs"] if r.get("url")]
        mail.set_content("\n".join(lines) + "\n")
        try:
            with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.webhook_timeout) as smtp:
                if self.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.smtp_username:
                    smtp.login(self.smtp_username, self.smtp_password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused:
            return None, "the recipient was refused", False
        except smtplib.SMTPResponseException as e:
            return e.smtp_code, f"the SMTP server answered {e.smtp_code}", e.smtp_code < 500
        except (OSError, smtplib.SMTPException) as e:
            return None, f"the SMTP server cannot be reached ({type(e).__name__})", True
        return None, None, False
