"""Notifications of a run's end: a webhook signed with HMAC-SHA256, retried while its
receiver fails, and e-mail through SMTP, each delivery recorded and listed.

Real parts: a real JupyterHub and users' servers and kernels, a webhook receiver
(Python's ``http.server``, in the test process) and an SMTP server (``aiosmtpd``, a
real one, in the test process).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fixtures.hub import Hub, ServiceProcess, free_port, local_service_env
from notebooks import make_notebook, write_python_notebook
from openapi_check import check_response

from jupyterhub_templates.errors import InvalidInput
from jupyterhub_templates.execution.notifications import Notifier, redact_url, signature
from jupyterhub_templates.statuses import FINAL

SECRET = "webhook-signing-key-for-the-tests"
#: a secret in the webhook's path, as chat services put one there
HOOK_TOKEN = "T0KEN-in-the-hook-path-9f3a"

# -- checks on their own -------------------------------------------------------------------


def _notifier(**traits: Any) -> Notifier:
    return Notifier(db=None, describe=None, urls=None, in_thread=None, **traits)


@pytest.mark.parametrize(
    "value, message",
    [
        ("https://example.org/hook", "must be an object"),
        ({"webhook": "ftp://example.org/x"}, "http\\(s\\) URL"),
        ({"webhook": "https://user:pw@example.org/x"}, "without credentials"),
        ({"webhook": "https://example.org:99999/x"}, "http\\(s\\) URL"),
        ({"webhook": "https://intranet.local/x"}, "not allowed here"),
        ({"webhook": "https://example.org/x", "on": "success"}, "notify.on"),
        ({"email": ["not an address"]}, "e-mail addresses"),
        ({"email": [f"u{i}@example.org" for i in range(6)]}, "at most 5"),
        ({"email": ["u@elsewhere.net"]}, "not allowed here"),
        ({"email": "u@example.org", "slack": "#x"}, "unknown field 'slack'"),
    ],
)
def test_bad_notify_requests_are_refused(value: Any, message: str) -> None:
    notifier = _notifier(
        webhook_secret=SECRET,
        webhook_hosts=["example.org", "*.example.org"],
        smtp_host="localhost",
        email_domains=["example.org"],
    )
    with pytest.raises(InvalidInput, match=message):
        notifier.check(value)


def test_what_the_operator_has_not_enabled_is_refused() -> None:
    with pytest.raises(InvalidInput, match="Webhooks are not enabled"):
        _notifier(webhook_hosts=["example.org"]).check({"webhook": "https://example.org/x"})
    with pytest.raises(InvalidInput, match="Webhooks are not enabled"):
        _notifier(webhook_secret=SECRET).check({"webhook": "https://example.org/x"})
    with pytest.raises(InvalidInput, match="E-mail notifications are not enabled"):
        _notifier().check({"email": ["u@example.org"]})
    notifier = _notifier(webhook_secret=SECRET, webhook_hosts=["*.example.org"])
    policy = notifier.check({"webhook": "https://hooks.example.org/a/b?c=d", "on": "failure"})
    assert policy.to_json() == {
        "on": "failure",
        "webhook": "https://hooks.example.org/a/b?c=d",
        "email": [],
    }
    assert not policy.wants("success") and policy.wants("failed")
    assert (
        redact_url("https://hooks.example.org:8443/a/b?c=d") == "https://hooks.example.org:8443/…"
    )
    body = b'{"a": 1}'
    assert signature(SECRET, body) == (
        "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    )


# -- receivers -------------------------------------------------------------------------


class Receiver:
    """A webhook receiver: records every request; answers the next codes in ``codes``
    (then 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.codes: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append((self.path, dict(self.headers), body))
                    queue = receiver.codes.get(self.path.split("/")[1], [])
                    code = queue.pop(0) if queue else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}/{HOOK_TOKEN}"

    def got(self, name: str) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return [(h, b) for p, h, b in self.requests if p.split("/")[1] == name]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """What a real SMTP server (aiosmtpd) received."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.port = free_port()
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                box.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    yield box
    box.close()


@pytest.fixture(scope="module")
def svc(
    hub: Hub, tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox
) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("notifications")
    env = {**local_service_env(workdir), "JUPYTERHUB_TEMPLATES_WEBHOOK_SECRET": SECRET}
    service = ServiceProcess(hub, env, workdir)
    service.start(
        [
            "--JobScheduler.tick=0.3",
            "--Notifier.webhook_hosts=['127.0.0.1']",
            "--Notifier.smtp_host=127.0.0.1",
            f"--Notifier.smtp_port={mailbox.port}",
            "--Notifier.smtp_from=runs@hub.example.org",
            "--Notifier.backoff=0.3",
            "--Notifier.max_attempts=3",
            "--Notifier.webhook_timeout=3",
        ]
    )
    yield service
    service.stop()


def _run(svc: ServiceProcess, hub: Hub, name: str, source: str, **body: Any) -> int:
    path = f"notify/{name}.ipynb"
    write_python_notebook(hub.user_dir("alice") / path, source)
    return svc.execute_notebook("alice", path, **body)


def _final(svc: ServiceProcess, execution_id: int) -> dict[str, Any]:
    final = svc.wait_final(execution_id)
    check_response(
        "/execution-status/{id}", svc.request("GET", f"execution-status/{execution_id}", "alice")
    )
    return final


def _deliveries(svc: ServiceProcess, execution_id: int, user: str = "alice") -> list[dict]:
    r = svc.request("GET", f"execution/{execution_id}/notifications", user)
    assert r.status_code == 200, r.text
    check_response("/execution/{id}/notifications", r)
    return r.json()["notifications"]


def _settled(svc: ServiceProcess, execution_id: int, count: int) -> list[dict]:
    """The run's deliveries once there are ``count`` and none is pending."""
    deadline = time.monotonic() + 60
    while True:
        found = _deliveries(svc, execution_id)
        if len(found) == count and all(d["state"] != "pending" for d in found):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def test_a_signed_webhook_is_retried_until_its_receiver_takes_it(
    svc: ServiceProcess, hub: Hub, receiver: Receiver
) -> None:
    receiver.codes["flaky"] = [503]
    execution_id = _run(svc, hub, "ok", "print('fine')", notify={"webhook": receiver.url("flaky")})
    final = _final(svc, execution_id)
    # answers show where it goes, not the secret in its path
    assert final["notify"]["webhook"] == f"http://127.0.0.1:{receiver.port}/…", final
    (delivery,) = _settled(svc, execution_id, 1)
    assert delivery["state"] == "delivered" and delivery["attempts"] == 2, delivery
    assert delivery["status_code"] == 200 and delivery["channel"] == "webhook"
    assert HOOK_TOKEN not in json.dumps(delivery)
    posts = receiver.got("flaky")
    assert len(posts) == 2  # the 503, then the one taken
    headers, body = posts[-1]
    assert headers["X-Templates-Signature-256"] == signature(SECRET, body)
    assert headers["X-Templates-Event"] == "execution.finished"
    assert headers["X-Templates-Delivery"] == str(delivery["id"])
    assert posts[0][0]["X-Templates-Delivery"] == str(delivery["id"])  # the same delivery
    message = json.loads(body)
    assert message["execution_id"] == execution_id and message["status"] == "success"
    assert message["notebook_path"] == "notify/ok.ipynb" and message["duration"]
    assert message["notebook_url"].endswith(final["output_path"])
    assert message["mlflow_runs"] == []
    # neither the signing key nor the hook's secret reached the service's log
    text = svc.log.read_text(errors="replace")
    assert SECRET not in text and HOOK_TOKEN not in text
    assert f"sent to http://127.0.0.1:{receiver.port}/…" in text


def test_failures_only_and_e_mail(
    svc: ServiceProcess, hub: Hub, receiver: Receiver, mailbox: Mailbox
) -> None:
    told = {"on": "failure", "webhook": receiver.url("failures"), "email": ["ops@example.org"]}
    ok = _run(svc, hub, "quiet", "print('fine')", notify=told)
    failed = _run(svc, hub, "loud", "1/0", notify=told)
    assert _final(svc, ok)["status"] == "success"
    assert _deliveries(svc, ok) == []  # decided with the end: nothing to wait for
    assert _final(svc, failed)["status"] == "failed"
    found = _settled(svc, failed, 2)
    assert {(d["channel"], d["state"]) for d in found} == {
        ("webhook", "delivered"),
        ("email", "delivered"),
    }
    (_, body), *rest = receiver.got("failures")
    assert rest == [] and json.loads(body)["reason"] == "cell error"
    (mail,) = [m for m in mailbox.messages if m["To"] == "ops@example.org"]
    assert mail["From"] == "runs@hub.example.org"
    assert mail["Subject"] == "loud.ipynb: failed"
    text = mail.get_payload()
    assert "notify/loud.ipynb" in text and "cell error" in text and "Output: http" in text


def test_an_unreachable_receiver_is_given_up_after_the_last_attempt(
    svc: ServiceProcess, hub: Hub, receiver: Receiver
) -> None:
    receiver.codes["gone"] = [500, 500, 500, 500]
    execution_id = _run(svc, hub, "unheard", "print(1)", notify={"webhook": receiver.url("gone")})
    (delivery,) = _settled(svc, execution_id, 1)
    assert delivery["state"] == "failed" and delivery["attempts"] == 3, delivery
    assert delivery["error"] == "answered 500" and len(receiver.got("gone")) == 3
    # a 4xx is the receiver refusing it: not tried again
    receiver.codes["refuses"] = [404]
    execution_id = _run(
        svc, hub, "refused", "print(1)", notify={"webhook": receiver.url("refuses")}
    )
    (delivery,) = _settled(svc, execution_id, 1)
    assert delivery["state"] == "failed" and delivery["attempts"] == 1, delivery


def test_with_retries_only_the_last_attempt_is_told(
    svc: ServiceProcess, hub: Hub, receiver: Receiver, tmp_path
) -> None:
    marker = tmp_path / "marker"
    source = (
        "import os, pathlib\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.write_text('x')\n"
        "    os._exit(1)\n"
    )
    first = _run(
        svc,
        hub,
        "retried",
        source,
        retries={"max": 1, "backoff": 0},
        notify={"webhook": receiver.url("retried")},
    )
    assert _final(svc, first)["error"]["reason"] == "kernel died"
    deadline = time.monotonic() + 90
    while True:
        r = svc.request("GET", "executions", "alice", params={"limit": 100})
        again = [e for e in r.json()["executions"] if e["retry_of"] == first]
        if again and again[0]["status"] in FINAL:
            break
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert again[0]["status"] == "success" and again[0]["notify"]["webhook"]
    (delivery,) = _settled(svc, again[0]["execution_id"], 1)
    assert delivery["state"] == "delivered"
    assert _deliveries(svc, first) == []
    (_, body), *rest = receiver.got("retried")
    assert rest == [] and json.loads(body)["attempt"] == 2


def test_a_jobs_runs_are_told_and_a_change_keeps_its_webhook(
    svc: ServiceProcess, receiver: Receiver
) -> None:
    svc.publish("notify/job.ipynb", make_notebook(body="print('job', dataset_path)"))
    body = {
        "name": "told",
        "template_name": "notify/job.ipynb",
        "target_directory": "notify-jobs",
        "kernel_name": "python3",
        "notify": {"webhook": receiver.url("job")},
    }
    r = svc.request("POST", "jobs", "alice", json=body)
    assert r.status_code == 201, r.text
    check_response("/jobs", r)
    job = r.json()
    shown = {"on": "finish", "webhook": f"http://127.0.0.1:{receiver.port}/…", "email": []}
    assert job["notify"] == shown
    # a change that does not name notify keeps the webhook (answers only show its host)
    r = svc.request("PATCH", f"jobs/{job['id']}", "alice", json={"name": "told again"})
    assert r.status_code == 200 and r.json()["notify"] == shown, r.text
    r = svc.request("POST", f"jobs/{job['id']}/run", "alice")
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 90
    while not receiver.got("job"):
        assert time.monotonic() < deadline, "the job's run was not told"
        time.sleep(0.2)
    (_, message), *rest = receiver.got("job")
    assert rest == [] and json.loads(message)["notebook_path"].startswith("notify-jobs/told")
    # and one naming notify: null turns them off
    r = svc.request("PATCH", f"jobs/{job['id']}", "alice", json={"notify": None})
    assert r.status_code == 200 and r.json()["notify"] is None, r.text


def test_bad_notify_is_refused_and_nothing_is_recorded(svc: ServiceProcess, hub: Hub) -> None:
    before = svc.request("GET", "executions", "alice").json()["total"]
    for notify in (
        {"webhook": "http://10.0.0.1/hook"},
        {"webhook": "http://127.0.0.1/x", "on": "always"},
        {"email": "bad"},
        [1],
    ):
        path = "notify/never.ipynb"
        write_python_notebook(hub.user_dir("alice") / path, "print(1)")
        r = svc.request(
            "POST",
            "execute-notebook",
            "alice",
            json={"notebook_path": path, "kernel_name": "python3", "notify": notify},
        )
        assert r.status_code == 400 and "notif" in r.json()["message"].lower(), r.text
    assert svc.request("GET", "executions", "alice").json()["total"] == before
    r = svc.request("GET", "execution/999999/notifications", "alice")
    assert r.status_code == 404, r.text
