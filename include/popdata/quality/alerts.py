"""Alerts through Airflow notifiers configured by connection id: a failed quality gate, an overdue feed.

Configuration (environment variables; secrets live only in the Airflow connections):

``POPDATA_ALERT_SMTP_CONN_ID``
    An Airflow SMTP connection: alerts are e-mailed with the SMTP provider's
    ``SmtpNotifier``. Recipients come from ``POPDATA_ALERT_SMTP_TO`` (comma-separated) or, when
    unset, the connection's extra ``"to"``; the sender from the connection's extra
    ``"from_email"``.
``POPDATA_ALERT_WEBHOOK_CONN_ID``
    An Airflow HTTP connection: alerts are POSTed as JSON by :func:`webhook_notifier_class`'s
    notifier to the connection's URL (``host`` as a full URL, or ``schema``/``host``/``port``
    plus extra ``"endpoint"``; optional login/password for basic auth, extra ``"headers"`` and
    ``"timeout"``).

Both may be set; every configured notifier is called. With neither, the log says so once per
process. A notifier that fails is logged (its type and HTTP status, never the URL, which may
hold a token) and never fails the task.

A message carries the feed, the file name and id, the quarantine reason code, the failed
critical expectations (names and counts, as the caller gives them), the DAG run and the Data
Docs link — never a value from the data. It is bilingual (中文 / English).

Airflow is imported lazily, inside the functions: ``include/`` imports without a scheduler.
Notifiers are called through ``notify()``, not ``__call__``: the latter renders the notifier's
template fields with Jinja, and a file name is agency-controlled text, not a template.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

__all__ = [
    "ENV_SMTP_CONN_ID",
    "ENV_SMTP_TO",
    "ENV_WEBHOOK_CONN_ID",
    "UNCONFIGURED_MESSAGE",
    "Alert",
    "GateFailure",
    "configured_notifiers",
    "html_message",
    "notify_gate_failure",
    "send_alert",
    "webhook_notifier_class",
]

logger = logging.getLogger(__name__)

ENV_SMTP_CONN_ID: Final = "POPDATA_ALERT_SMTP_CONN_ID"
ENV_SMTP_TO: Final = "POPDATA_ALERT_SMTP_TO"
ENV_WEBHOOK_CONN_ID: Final = "POPDATA_ALERT_WEBHOOK_CONN_ID"
UNCONFIGURED_MESSAGE: Final = (
    f"alerts not configured: set {ENV_SMTP_CONN_ID} or {ENV_WEBHOOK_CONN_ID} "
    "(告警未配置：请设置 Airflow 连接 id)"
)
#: The ``event`` field of every webhook payload.
EVENT: Final = "popdata.gate_failed"

# Whether the "not configured" line was logged already in this process.
_unconfigured_logged = False


def html_message(lines: Sequence[str]) -> str:
    """An alert's lines as escaped HTML: the first as a heading, the rest preformatted."""
    escaped = [html.escape(line) for line in lines]
    return f"<h3>{escaped[0]}</h3>\n<pre>" + "\n".join(escaped[1:]) + "</pre>"


class Alert(Protocol):
    """What every notifier can send: :class:`GateFailure`, ``popdata.monitor.arrivals.OverdueFeeds``."""

    @property
    def subject(self) -> str:
        """One line for an e-mail subject or a chat title."""
        ...

    @property
    def html(self) -> str:
        """The message as escaped HTML."""
        ...

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body (with an ``event`` and a ``text``)."""
        ...


@dataclass(frozen=True, slots=True)
class GateFailure:
    """What an alert says about one file that failed the gate (no data values).

    Attributes:
        feed: ``agency/feed``, e.g. ``"police/household_registry"``.
        file_name: the file's name as dropped.
        reason: the quarantine reason code, e.g. ``"dq_critical_failed"``.
        failed: the failed critical expectations, e.g.
            ``"expect_column_values_to_not_be_null(id_no): 3 of 1000 rows"``.
        file_id: the ledger's file id.
        dag_id: the DAG of the run.
        run_id: the DAG run.
        task_id: the task that validated the file.
        map_index: the mapped task's index (-1 when not mapped).
        data_docs: where the Data Docs site is (built at the end of the run).
    """

    feed: str
    file_name: str
    reason: str
    failed: tuple[str, ...] = ()
    file_id: int | None = None
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    data_docs: str | None = None
    sent_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def subject(self) -> str:
        """One line for an e-mail subject or a chat title."""
        return (
            f"[popdata] 数据质量闸门未通过，文件已隔离 / Data quality gate failed, file quarantined: "
            f"{self.feed} {self.file_name}"
        )

    def lines(self) -> list[str]:
        """The message body as plain-text lines, Chinese then English on each line."""
        file_label = self.file_name + (f" (file_id {self.file_id})" if self.file_id is not None else "")
        body = [
            self.subject,
            f"数据源 / Feed: {self.feed}",
            f"文件 / File: {file_label}",
            f"原因 / Reason: {self.reason}",
            f"未通过的关键期望 / Failed critical expectations ({len(self.failed)}):",
            *(f"  - {item}" for item in self.failed),
            "处理 / Outcome: 文件未发布，已移入隔离区，回执已写入发件箱。"
            " / The file was not published; it was moved to quarantine and its receipt is in the outbox.",
        ]
        if self.dag_id or self.run_id:
            task = f" task {self.task_id}" if self.task_id else ""
            task += f"[{self.map_index}]" if self.map_index is not None and self.map_index >= 0 else ""
            body.append(f"运行 / Run: {self.dag_id} {self.run_id}{task}")
        if self.data_docs:
            body.append(f"数据质量文档 / Data Docs: {self.data_docs}")
        return body

    @property
    def text(self) -> str:
        """The plain-text message."""
        return "\n".join(self.lines())

    @property
    def html(self) -> str:
        """The message as escaped HTML (for e-mail)."""
        return html_message(self.lines())

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body (``text`` also suits Slack/Mattermost/DingTalk-style hooks)."""
        return {
            "event": EVENT,
            "subject": self.subject,
            "text": self.text,
            "feed": self.feed,
            "file_name": self.file_name,
            "file_id": self.file_id,
            "reason": self.reason,
            "failed": list(self.failed),
            "failed_count": len(self.failed),
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "map_index": self.map_index,
            "data_docs": self.data_docs,
            "sent_at": self.sent_at,
        }


def _webhook_url(conn: Any) -> str:
    """The URL to POST to, from an Airflow HTTP connection.

    Args:
        conn: an ``airflow.sdk.Connection``.

    Returns:
        ``host`` when it is a full URL, else ``<schema or https>://host[:port]``; extra
        ``endpoint`` (or a URI-style connection's path, which Airflow puts in ``schema``) is
        appended.

    Raises:
        ValueError: the connection has no host.
    """
    host = (conn.host or "").strip()
    if not host:
        raise ValueError("the webhook connection has no host")
    schema = (conn.schema or "").strip()
    extra = conn.extra_dejson or {}
    endpoint = str(extra.get("endpoint") or "")
    if "://" in host:
        base = host
    else:
        scheme = schema if schema in ("http", "https") else "https"
        base = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    if not endpoint and schema and schema not in ("http", "https"):
        endpoint = schema
    if endpoint:
        return base.rstrip("/") + "/" + endpoint.lstrip("/")
    return base


@functools.cache
def webhook_notifier_class() -> type:
    """The webhook notifier class, a subclass of ``airflow.sdk.BaseNotifier`` (defined lazily).

    Returns:
        ``PopdataWebhookNotifier(conn_id, payload)``: ``notify(context)`` POSTs ``payload`` as
        JSON to the connection's URL with httpx and raises on a transport error or an HTTP
        status of 400 or more.
    """
    import httpx
    from airflow.sdk import BaseHook, BaseNotifier

    class PopdataWebhookNotifier(BaseNotifier):
        """POST a JSON payload to the URL of an Airflow HTTP connection."""

        template_fields: Sequence[str] = ()

        def __init__(self, conn_id: str, payload: Mapping[str, Any]) -> None:
            """Remember the connection id and the payload.

            Args:
                conn_id: the Airflow connection holding the URL and any credentials.
                payload: the JSON body.
            """
            super().__init__()
            self.conn_id = conn_id
            self.payload = dict(payload)

        def notify(self, context: Any) -> None:
            """Send the payload.

            Args:
                context: the Airflow context (unused: the payload is complete).
            """
            conn = BaseHook.get_connection(self.conn_id)
            extra = conn.extra_dejson or {}
            headers = {str(k): str(v) for k, v in (extra.get("headers") or {}).items()}
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
            auth = (conn.login, conn.password or "") if conn.login else None
            response = httpx.post(
                _webhook_url(conn),
                content=json.dumps(self.payload, ensure_ascii=False).encode("utf-8"),
                headers=headers,
                auth=auth,
                timeout=float(extra.get("timeout") or 10),
            )
            response.raise_for_status()

    return PopdataWebhookNotifier


def _smtp_recipients(conn_id: str, environ: Mapping[str, str]) -> list[str]:
    """Who receives the e-mail: ``POPDATA_ALERT_SMTP_TO`` or the connection's extra ``"to"``.

    Args:
        conn_id: the SMTP connection.
        environ: the environment.

    Returns:
        The addresses.

    Raises:
        ValueError: none is configured.
    """
    raw: object = environ.get(ENV_SMTP_TO)
    if not raw:
        from airflow.sdk import BaseHook

        raw = (BaseHook.get_connection(conn_id).extra_dejson or {}).get("to")
    items: Iterable[object] = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list) else []
    recipients = [str(item).strip() for item in items if str(item).strip()]
    if not recipients:
        raise ValueError(f"no recipients: set {ENV_SMTP_TO} or the SMTP connection's extra 'to'")
    return recipients


def configured_notifiers(failure: Alert, environ: Mapping[str, str] | None = None) -> list[tuple[str, Any]]:
    """The notifiers configured in the environment, ready to send ``failure``.

    Args:
        failure: the message to send (a gate failure, an overdue feed...).
        environ: the environment (default ``os.environ``).

    Returns:
        ``(label, notifier)`` pairs, e.g. ``("webhook popdata_webhook", notifier)``; empty
        when nothing is configured. A notifier that cannot be set up (no recipients) is
        logged and left out.
    """
    env = os.environ if environ is None else environ
    notifiers: list[tuple[str, Any]] = []
    smtp_conn = (env.get(ENV_SMTP_CONN_ID) or "").strip()
    if smtp_conn:
        try:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            notifiers.append(
                (
                    f"smtp {smtp_conn}",
                    SmtpNotifier(
                        to=_smtp_recipients(smtp_conn, env),
                        subject=failure.subject,
                        html_content=failure.html,
                        smtp_conn_id=smtp_conn,
                    ),
                )
            )
        except Exception as exc:
            logger.warning("alert via smtp %s cannot be set up: %s", smtp_conn, _describe(exc))
    webhook_conn = (env.get(ENV_WEBHOOK_CONN_ID) or "").strip()
    if webhook_conn:
        try:
            notifier = webhook_notifier_class()(conn_id=webhook_conn, payload=failure.payload())
            notifiers.append((f"webhook {webhook_conn}", notifier))
        except Exception as exc:
            logger.warning("alert via webhook %s cannot be set up: %s", webhook_conn, _describe(exc))
    return notifiers


def _describe(exc: BaseException) -> str:
    """Describe a notifier error without leaking a URL (webhook URLs often hold a token).

    Args:
        exc: what the notifier raised.

    Returns:
        The exception type, plus the HTTP status for an HTTP error, or the first line of the
        message (truncated) for anything that is not an httpx error.
    """
    name = type(exc).__name__
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status is not None:
        return f"{name} (HTTP {status})"
    if type(exc).__module__.startswith("httpx"):
        return name
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{name}: {message[:200]}" if message else name


def _context_value(context: Mapping[str, Any] | None, key: str) -> Any:
    """Read ``key`` from an Airflow context that may be missing or partial.

    Args:
        context: the task's Airflow context, or ``None``.
        key: e.g. ``"run_id"``.

    Returns:
        The value, or ``None``.
    """
    if context is None:
        return None
    try:
        return context.get(key)
    except Exception:
        return None


def notify_gate_failure(
    context: Mapping[str, Any] | None,
    *,
    feed: str,
    file_name: str,
    reason: str,
    failed: Sequence[str],
    file_id: int | None = None,
    data_docs: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Tell every configured notifier that a file failed the expectation gate; never raises.

    Args:
        context: the task's Airflow context (``get_current_context()``), or ``None``.
        feed: ``agency/feed``.
        file_name: the file's name.
        reason: the quarantine reason code.
        failed: the failed critical expectations: names and counts only, no data values.
        file_id: the ledger's file id.
        data_docs: where the Data Docs site is.
        environ: the environment (default ``os.environ``).

    Returns:
        How many notifiers sent the alert.
    """
    try:
        ti = _context_value(context, "ti") or _context_value(context, "task_instance")
        dag = _context_value(context, "dag")
        map_index = getattr(ti, "map_index", None)
        failure = GateFailure(
            feed=feed,
            file_name=file_name,
            reason=reason,
            failed=tuple(str(item) for item in failed),
            file_id=file_id,
            dag_id=getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None),
            run_id=_context_value(context, "run_id") or getattr(ti, "run_id", None),
            task_id=getattr(ti, "task_id", None),
            map_index=map_index if isinstance(map_index, int) else None,
            data_docs=data_docs,
        )
    except Exception as exc:
        logger.warning("alert for %s %s not sent: %s", feed, file_name, _describe(exc))
        return 0
    return send_alert(context, failure, environ=environ, what=f"{feed} {file_name}")


def send_alert(
    context: Mapping[str, Any] | None,
    alert: Alert,
    *,
    environ: Mapping[str, str] | None = None,
    what: str | None = None,
) -> int:
    """Send ``alert`` through every configured notifier; never raises.

    Args:
        context: the task's Airflow context, or ``None`` (outside a task).
        alert: the message.
        environ: the environment (default ``os.environ``).
        what: how the log names the alert (default its subject).

    Returns:
        How many notifiers sent it (0 when none is configured: logged once per process).
    """
    global _unconfigured_logged
    what = what or alert.subject
    try:
        notifiers = configured_notifiers(alert, environ)
    except Exception as exc:
        logger.warning("alert %s not sent: %s", what, _describe(exc))
        return 0
    env = os.environ if environ is None else environ
    if not notifiers:
        if not (env.get(ENV_SMTP_CONN_ID) or env.get(ENV_WEBHOOK_CONN_ID)) and not _unconfigured_logged:
            _unconfigured_logged = True
            logger.warning(UNCONFIGURED_MESSAGE)
        return 0
    sent = 0
    for label, notifier in notifiers:
        try:
            notifier.notify(dict(context or {}))
        except Exception as exc:
            logger.warning("alert via %s failed (the load is not affected): %s", label, _describe(exc))
        else:
            sent += 1
            logger.info("alert via %s sent: %s", label, what)
    return sent
