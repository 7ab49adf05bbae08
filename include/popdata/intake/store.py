"""Accepting a submission: limits, idempotency, the check, the audit trail (intake.*).

:func:`submit` does it all in one transaction, serialised per token (an advisory lock), so two
retries of one POST racing each other still make one report:

1. **Idempotency**: a ``client_id`` the token has used before answers with that report's
   reference number (``replayed``) when the report is the same, and refuses it (``conflict``) when
   it differs; it never makes a second report.
2. **Rate limits**: past ``per_minute`` submissions of the token in the last minute, or
   ``per_day`` in the last day (not counting those refused for the limit itself), a new report is
   refused (``rate_limited``, with the seconds to wait); the answer to a retry is never held back.
3. **The check** (:func:`popdata.intake.reports.check_report`): refused fields come back with a
   reason code each (``invalid``); nothing of the report is stored.
4. **The report** is stored with its reference number, ``VR`` + the Beijing date + a 7-digit
   number, waiting for a batch (:mod:`popdata.intake.batch`) to write it to a file.

Every submission, whatever its outcome, leaves one row in ``intake.submissions``: the token
(who), the time (when), the report type, outcome, reference number, reasons and the values
masked as the receipts mask them (what): identity numbers keep their address code and last two
characters, names their first character.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from popdata.ingest.rows import mask_value
from popdata.intake import reports
from popdata.intake.tokens import Clerk
from popdata.normalize.codes import RegionResolver

BEIJING = ZoneInfo("Asia/Shanghai")
CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
LOCK_NAMESPACE = 715011
"""First key of the per-token advisory lock (the second is the token id)."""

Status = Literal["accepted", "replayed", "invalid", "conflict", "rate_limited"]
Channel = Literal["form", "api"]


@dataclass(frozen=True)
class Limits:
    """How much one token may submit (``POPDATA_VILLAGE_*`` settings)."""

    per_minute: int = 20
    per_day: int = 500


@dataclass(frozen=True)
class Outcome:
    """What became of one submission."""

    status: Status
    report_no: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    """Field → reason code (``invalid``, and ``client_id`` for a malformed one)."""
    retry_after: int | None = None
    """Seconds to wait (``rate_limited``)."""

    @property
    def stored(self) -> bool:
        """True when a report exists for the submission (made now, or earlier by the same client id)."""
        return self.status in ("accepted", "replayed")


def beijing_date(moment: datetime) -> date:
    """The calendar date in Beijing of an instant (the date a report is made)."""
    return moment.astimezone(BEIJING).date()


def reference_number(report_id: int, day: date) -> str:
    """``VR`` + ``YYYYMMDD`` + the 7-digit report id: what the clerk is told."""
    return f"VR{day:%Y%m%d}{report_id:07d}"


_NUMBER_LIKE_ID = re.compile(r"\d{14}[\dXx]|\d{17}[\dXx]")
"""A 15- or 18-character identity number, wherever a clerk typed it (spaces and full width ignored)."""


def masked(values: Mapping[str, object]) -> dict[str, str | None]:
    """Values as the audit keeps them: identity numbers and names masked, dates and codes kept.

    A value that holds something shaped like an identity number is masked as one whatever the
    field it was typed into (a number in 孩次 or 出生日期 is a phone's typing mistake, and the
    audit must not keep it whole).
    """
    feed = reports.village_feed()
    names = {c.name for c in feed.columns}
    id_column = feed.column("id_no")
    out: dict[str, str | None] = {}
    for name, value in values.items():
        if value is None:
            out[name] = None
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        compact = "".join(unicodedata.normalize("NFKC", text).split())
        if _NUMBER_LIKE_ID.search(compact):
            out[name] = mask_value(id_column, compact)
        elif name in names:
            out[name] = mask_value(feed.column(name), text)
        else:  # a field the report type does not have: keep its name, never its value
            out[name] = "*" if text else text
    return out


def _audit(
    conn: sa.Connection,
    *,
    clerk: Clerk | None,
    channel: Channel,
    client_id: str | None,
    code: str | None,
    outcome: str,
    report_no: str | None = None,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, object] | None = None,
    at: datetime | None = None,
) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO intake.submissions (submitted_at, token_id, village_code, channel, client_id,"
            " report_type, outcome, report_no, errors, masked_fields)"
            " VALUES (coalesce(CAST(:at AS timestamptz), now()), :t, :v, :ch, :c, :rt, :o, :n,"
            " CAST(:e AS jsonb), CAST(:m AS jsonb))"
        ),
        {
            "at": at,
            "t": clerk.token_id if clerk else None,
            "v": clerk.village_code if clerk else None,
            "ch": channel,
            "c": (client_id or "")[:64] or None,
            "rt": (code or "")[:32] or None,
            "o": outcome,
            "n": report_no,
            "e": json.dumps(dict(errors), ensure_ascii=False) if errors else None,
            "m": json.dumps(masked(values), ensure_ascii=False) if values else None,
        },
    )


def record_refusal(
    engine: sa.Engine,
    *,
    outcome: Literal["unauthorized", "too_large", "invalid"],
    channel: Channel,
    clerk: Clerk | None = None,
    client_id: str | None = None,
    code: str | None = None,
    errors: Mapping[str, str] | None = None,
) -> None:
    """Audit a submission refused before :func:`submit` (no token, too large, unreadable body)."""
    with engine.begin() as conn:
        _audit(
            conn, clerk=clerk, channel=channel, client_id=client_id, code=code, outcome=outcome, errors=errors
        )


def submit(
    engine: sa.Engine,
    clerk: Clerk,
    *,
    channel: Channel,
    client_id: str,
    code: str,
    submitted: Mapping[str, object],
    resolver: RegionResolver | None,
    limits: Limits = Limits(),
    now: datetime | None = None,
) -> Outcome:
    """Accept, replay or refuse one report (see the module docstring); always audited."""
    moment = now or datetime.now(UTC)
    day = beijing_date(moment)
    with engine.begin() as conn:
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(:ns, CAST(:t AS integer))"),
            {"ns": LOCK_NAMESPACE, "t": clerk.token_id},
        )
        audit = functools.partial(
            _audit, conn, clerk=clerk, channel=channel, client_id=client_id, code=code, at=moment
        )
        if not CLIENT_ID.match(client_id or ""):
            errors = {"client_id": "client_id_invalid"}
            audit(outcome="invalid", errors=errors, values=submitted)
            return Outcome("invalid", errors=errors)
        existing = conn.execute(
            sa.text(
                "SELECT report_no, report_type, fields FROM intake.village_reports"
                " WHERE token_id = :t AND client_id = :c"
            ),
            {"t": clerk.token_id, "c": client_id},
        ).one_or_none()
        checked = reports.check_report(
            code,
            submitted,
            village_code=clerk.village_code,
            report_date=day,
            clerk=clerk.label,
            resolver=resolver,
        )
        if existing is not None:
            same = (
                checked.ok
                and checked.report_type is not None
                and existing.report_type == checked.report_type.value
                and {k: v for k, v in existing.fields.items() if k != "clerk"} == checked.values
            )
            status: Status = "replayed" if same else "conflict"
            audit(outcome=status, report_no=existing.report_no, values=submitted)
            return Outcome(status, report_no=existing.report_no)
        # the limits hold back new reports and refusals, never the answer to a retry
        wait = _rate_limited(conn, clerk, limits, moment)
        if wait is not None:
            audit(outcome="rate_limited", values=submitted)
            return Outcome("rate_limited", retry_after=wait)
        if not checked.ok or checked.report_type is None:
            errors = checked.errors_by_field()
            audit(outcome="invalid", errors=errors, values=submitted)
            return Outcome("invalid", errors=errors)
        report_id = int(conn.execute(sa.text("SELECT nextval('intake.village_report_numbers')")).scalar_one())
        report_no = reference_number(report_id, day)
        conn.execute(
            sa.text(
                "INSERT INTO intake.village_reports (report_id, report_no, token_id, client_id, village_code,"
                " report_type, report_date, fields, accepted_at)"
                " VALUES (:id, :no, :t, :c, :v, :rt, :d, CAST(:f AS jsonb), :at)"
            ),
            {
                "id": report_id,
                "no": report_no,
                "t": clerk.token_id,
                "c": client_id,
                "v": clerk.village_code,
                "rt": checked.report_type.value,
                "d": day,
                "f": json.dumps({**checked.values, "clerk": clerk.label}, ensure_ascii=False),
                "at": moment,
            },
        )
        audit(outcome="accepted", report_no=report_no, values=checked.values)
        return Outcome("accepted", report_no=report_no)


def _rate_limited(conn: sa.Connection, clerk: Clerk, limits: Limits, moment: datetime) -> int | None:
    """Seconds to wait when the token is over a limit (counted over the submissions it made that
    were not themselves refused for the limit: waiting ``Retry-After`` is then always enough)."""
    row = conn.execute(
        sa.text(
            "SELECT count(*) FILTER (WHERE submitted_at > CAST(:m AS timestamptz) - interval '1 minute'),"
            " count(*),"
            " min(submitted_at) FILTER (WHERE submitted_at > CAST(:m AS timestamptz) - interval '1 minute'),"
            " min(submitted_at)"
            " FROM intake.submissions WHERE token_id = :t AND outcome <> 'rate_limited'"
            " AND submitted_at > CAST(:m AS timestamptz) - interval '1 day'"
        ),
        {"t": clerk.token_id, "m": moment},
    ).one()
    minute, day, first_in_minute, first_in_day = row
    if minute >= limits.per_minute and first_in_minute is not None:
        return max(1, int((first_in_minute + timedelta(minutes=1) - moment).total_seconds()) + 1)
    if day >= limits.per_day and first_in_day is not None:
        return max(1, int((first_in_day + timedelta(days=1) - moment).total_seconds()) + 1)
    return None


@dataclass(frozen=True)
class ReportStatus:
    """Where a report is on its way to the warehouse (what the clerk's reference number shows)."""

    report_no: str
    report_type: str
    accepted_at: datetime
    file_name: str | None
    """The batch file that carries it, once written."""
    file_status: str | None
    """That file's status in the ledger (``loaded``, ``quarantined`` …), once it was read."""
    rows_rejected: int | None
    file_id: int | None

    def as_json(self) -> dict[str, Any]:
        """The status as the API returns it."""
        return {
            "report_no": self.report_no,
            "report_type": self.report_type,
            "accepted_at": self.accepted_at.isoformat(),
            "file": self.file_name,
            "file_status": self.file_status,
            "file_rows_rejected": self.rows_rejected,
        }


def report_status(conn: sa.Connection, clerk: Clerk, report_no: str) -> ReportStatus | None:
    """The status of one of the clerk's village's reports (None for another village's or none)."""
    row = conn.execute(
        sa.text(
            "SELECT r.report_no, r.report_type, r.accepted_at, b.file_name, l.status, l.rows_rejected, l.file_id"
            " FROM intake.village_reports r"
            " LEFT JOIN intake.batches b ON b.batch_id = r.batch_id AND b.dropped_at IS NOT NULL"
            " LEFT JOIN LATERAL (SELECT f.status, f.rows_rejected, f.file_id FROM audit.file_ledger f"
            "   WHERE f.agency = 'fp' AND f.feed = 'village_reports' AND f.file_name = b.file_name"
            "   ORDER BY f.file_id LIMIT 1) l ON true"
            " WHERE r.report_no = :n AND r.village_code = :v"
        ),
        {"n": report_no, "v": clerk.village_code},
    ).one_or_none()
    return ReportStatus(*row) if row is not None else None
