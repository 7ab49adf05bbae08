"""Gate-failure alerts: the webhook notifier posts the right JSON, SMTP sends a bilingual mail,
nothing configured is logged once, and a failing notifier never raises into the task."""

from __future__ import annotations

import json
import logging
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from popdata.quality import alerts

CONN_ID = "popdata_test_hook"
FAILED = [
    "expect_column_values_to_not_be_null(id_no): 3 of 120 rows",
    "expect_column_values_to_be_unique(id_no): 2 of 120 rows",
]


class _Hook(BaseHTTPRequestHandler):
    """Records every POST; answers with the status the server was given."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.received.append(  # type: ignore[attr-defined]
            {"path": self.path, "headers": dict(self.headers), "body": body}
        )
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def hook_server() -> Iterator[HTTPServer]:
    """A local HTTP server in a thread; ``.received`` holds the requests, ``.status`` the answer."""
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    server.received = []  # type: ignore[attr-defined]
    server.status = 204  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _connect_webhook(monkeypatch: pytest.MonkeyPatch, server: HTTPServer, **extra: Any) -> None:
    port = server.server_address[1]
    conn = {
        "conn_type": "http",
        "host": f"http://127.0.0.1:{port}/hooks/secret-token-123",
        "extra": {"headers": {"X-Popdata-Token": "s3cret-value"}, **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


class _TI:
    dag_id = "ingest__police__household_registry"
    run_id = "manual__2014-06-30"
    task_id = "load_file"
    map_index = 2


def test_webhook_notifier_posts_the_gate_failure_as_json(
    monkeypatch: pytest.MonkeyPatch, hook_server: HTTPServer
) -> None:
    _connect_webhook(monkeypatch, hook_server)
    sent = alerts.notify_gate_failure(
        {"ti": _TI(), "run_id": "manual__2014-06-30"},
        feed="police/household_registry",
        file_name="household_registry_20140630.csv",
        reason="dq_critical_failed",
        failed=FAILED,
        file_id=17,
        data_docs="/srv/popdata/var/gx/site/index.html",
        environ={alerts.ENV_WEBHOOK_CONN_ID: CONN_ID},
    )
    assert sent == 1
    (request,) = hook_server.received  # type: ignore[attr-defined]
    assert request["path"] == "/hooks/secret-token-123"
    assert request["headers"]["X-Popdata-Token"] == "s3cret-value"
    assert request["headers"]["Content-Type"].startswith("application/json")
    payload = json.loads(request["body"].decode("utf-8"))
    assert payload["event"] == "popdata.gate_failed"
    assert payload["feed"] == "police/household_registry"
    assert payload["file_name"] == "household_registry_20140630.csv"
    assert payload["file_id"] == 17
    assert payload["reason"] == "dq_critical_failed"
    assert payload["failed"] == FAILED and payload["failed_count"] == 2
    assert payload["dag_id"] == "ingest__police__household_registry"
    assert payload["run_id"] == "manual__2014-06-30"
    assert payload["task_id"] == "load_file" and payload["map_index"] == 2
    assert payload["data_docs"] == "/srv/popdata/var/gx/site/index.html"
    # bilingual, and the text repeats the same facts
    assert "数据质量闸门未通过" in payload["subject"] and "Data quality gate failed" in payload["subject"]
    for fact in ("数据源 / Feed: police/household_registry", "file_id 17", *FAILED, "Data Docs"):
        assert fact in payload["text"]
    # the secret from the connection never ends up in the message
    assert "s3cret-value" not in request["body"].decode("utf-8")


def test_webhook_connection_from_schema_host_port_and_endpoint(
    monkeypatch: pytest.MonkeyPatch, hook_server: HTTPServer
) -> None:
    conn = {
        "conn_type": "http",
        "schema": "http",
        "host": "127.0.0.1",
        "port": hook_server.server_address[1],
        "extra": {"endpoint": "/alerts/popdata"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    sent = alerts.notify_gate_failure(
        None,
        feed="fp/birth_approvals",
        file_name="birth_approvals_20140630.csv",
        reason="dq_critical_failed",
        failed=["expect_table_row_count_to_be_between(): 0 rows"],
        environ={alerts.ENV_WEBHOOK_CONN_ID: CONN_ID},
    )
    assert sent == 1
    assert hook_server.received[0]["path"] == "/alerts/popdata"  # type: ignore[attr-defined]


def test_unconfigured_alerts_are_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(alerts, "_unconfigured_logged", False)
    caplog.set_level(logging.WARNING, logger=alerts.__name__)
    for _ in range(3):
        sent = alerts.notify_gate_failure(
            None,
            feed="police/household_registry",
            file_name="f.csv",
            reason="dq_critical_failed",
            failed=[],
            environ={},
        )
        assert sent == 0
    lines = [r.getMessage() for r in caplog.records if r.name == alerts.__name__]
    assert lines == [alerts.UNCONFIGURED_MESSAGE]
    assert "POPDATA_ALERT_SMTP_CONN_ID" in lines[0] and "POPDATA_ALERT_WEBHOOK_CONN_ID" in lines[0]


def test_a_failing_notifier_is_logged_and_does_not_raise(
    monkeypatch: pytest.MonkeyPatch, hook_server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=alerts.__name__)
    hook_server.status = 500  # type: ignore[attr-defined]
    _connect_webhook(monkeypatch, hook_server)
    sent = alerts.notify_gate_failure(
        None,
        feed="police/household_registry",
        file_name="f.csv",
        reason="dq_critical_failed",
        failed=FAILED,
        environ={alerts.ENV_WEBHOOK_CONN_ID: CONN_ID, alerts.ENV_SMTP_CONN_ID: "popdata_no_such_conn"},
    )
    assert sent == 0
    assert len(hook_server.received) == 1  # type: ignore[attr-defined]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP 500" in logged
    assert "popdata_no_such_conn" in logged  # the SMTP side could not even be set up
    assert "secret-token-123" not in logged  # the URL (and its token) is never logged
    assert alerts.UNCONFIGURED_MESSAGE not in logged  # configured, just failing


def test_an_unreachable_webhook_does_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    port = server.server_address[1]
    server.server_close()  # nothing listens there any more
    conn = {"conn_type": "http", "host": f"http://127.0.0.1:{port}/x", "extra": {"timeout": 2}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    assert (
        alerts.notify_gate_failure(
            None,
            feed="a/b",
            file_name="f.csv",
            reason="dq_critical_failed",
            failed=[],
            environ={alerts.ENV_WEBHOOK_CONN_ID: CONN_ID},
        )
        == 0
    )


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept one message (EHLO, MAIL, RCPT, DATA, QUIT)."""

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        self._reply("220 localhost test SMTP")
        while True:
            line = self.rfile.readline().decode("utf-8", "replace").strip()
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 localhost")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.server.envelope.append(line)  # type: ignore[attr-defined]
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 go ahead")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk)
                self.server.messages.append(b"".join(data))  # type: ignore[attr-defined]
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")


def test_smtp_notifier_mails_the_bilingual_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    import email
    from email.header import decode_header, make_header

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.messages = []  # type: ignore[attr-defined]
    server.envelope = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn = {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": server.server_address[1],
            "extra": {
                "disable_ssl": True,
                "disable_tls": True,
                "from_email": "popdata@county.example",
                "to": "dq@county.example",
            },
        }
        monkeypatch.setenv("AIRFLOW_CONN_POPDATA_TEST_SMTP", json.dumps(conn))
        sent = alerts.notify_gate_failure(
            None,
            feed="police/household_registry",
            file_name="household_<b>_20140630.csv",
            reason="dq_critical_failed",
            failed=FAILED,
            file_id=5,
            environ={alerts.ENV_SMTP_CONN_ID: "popdata_test_smtp"},
        )
    finally:
        server.shutdown()
        server.server_close()
    assert sent == 1
    (raw,) = server.messages  # type: ignore[attr-defined]
    message = email.message_from_bytes(raw)
    assert "rcpt to:<dq@county.example>" in " ".join(server.envelope).lower()  # type: ignore[attr-defined]
    subject = str(make_header(decode_header(message["Subject"])))
    assert "数据质量闸门未通过" in subject and "Data quality gate failed" in subject
    html_part = next(p for p in message.walk() if p.get_content_type() == "text/html")
    body = html_part.get_payload(decode=True).decode("utf-8")
    assert "household_&lt;b&gt;_20140630.csv" in body  # escaped, not markup
    assert all(item in body for item in FAILED)
