"""Reconciliation other than births: deaths, fp KPIs, registry completeness, feed and linkage quality, audits.

:func:`refresh_other` rebuilds the tables of migration 0007 for one reference date inside the
caller's transaction (``sql/reconcile_other.sql``; every table deleted and refilled, so a re-run
gives identical tables):

- ``mart.death_reconciliation``, ``ops.deaths_not_cancelled``, ``ops.paid_after_death``
- ``mart.fp_approvals``, ``mart.prenatal_check_progress``, ``mart.social_fee``
- ``mart.registry_completeness``, ``mart.feed_quality``, ``mart.linkage_quality``
- ``mart.cross_department_audits``

Lateness of files against their feed's cadence is computed here (:func:`due_date`,
:func:`days_late`) and handed to the SQL in a temporary table. The definitions are in
docs/warehouse.md.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from popdata.config.feeds import Feed, default_feeds
from popdata.warehouse.scripts import run_script

SQL_FILE = Path(__file__).resolve().parent.parent / "warehouse" / "sql" / "reconcile_other.sql"

PRENATAL_INDICATOR = "孕前优生健康检查(对)"
"""The ``annual_targets`` indicator of the pre-pregnancy check target (couples)."""

FEE_RATE_INDICATOR = "社会抚养费征收到位率(%)"
"""The ``annual_targets`` indicator of the social-fee collection rate target (percent)."""

TIMEZONE = "Asia/Shanghai"
"""The day a file was received is its ``received_at`` in this time zone."""

NOT_CANCELLED_AFTER_DAYS = 30
"""A death is listed when more than this many days passed before the reference date (in the SQL)."""

TABLES = (
    "ops.deaths_not_cancelled",
    "ops.paid_after_death",
    "mart.death_reconciliation",
    "mart.fp_approvals",
    "mart.prenatal_check_progress",
    "mart.social_fee",
    "mart.registry_completeness",
    "mart.feed_quality",
    "mart.linkage_quality",
    "mart.cross_department_audits",
)
"""The tables :func:`refresh_other` rebuilds, in the order it fills them."""

_CADENCE_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
_CADENCE_DAYS = {"daily": 1, "weekly": 7}


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months; a month end maps to the month end (Jan 31 + 1 → Feb 28)."""
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    is_month_end = day.day == calendar.monthrange(day.year, day.month)[1]
    return date(year, month + 1, last if is_month_end else min(day.day, last))


def due_date(previous_extract: date | None, cadence: str | None) -> date | None:
    """When the next file is due: the previous file's extract date plus one cadence period.

    ``None`` when there is no previous file or the cadence is ``irregular`` (or unknown).
    """
    if previous_extract is None or cadence is None:
        return None
    if cadence in _CADENCE_DAYS:
        return previous_extract + timedelta(days=_CADENCE_DAYS[cadence])
    if cadence in _CADENCE_MONTHS:
        return add_months(previous_extract, _CADENCE_MONTHS[cadence])
    return None


def days_late(received: date, due: date | None) -> int | None:
    """Days between the due date and the day received, 0 when on time or early, ``None`` without a due date."""
    if due is None:
        return None
    return max(0, (received - due).days)


@dataclass(frozen=True, slots=True)
class LedgerFile:
    """One received file as lateness sees it."""

    file_id: int
    feed: str
    extract_date: date
    received_date: date
    duplicate: bool = False


def file_lateness(files: Iterable[LedgerFile], cadences: Mapping[str, str]) -> dict[int, int | None]:
    """Days late of every file: against the latest earlier extract date of its feed, by the feed's cadence.

    Duplicates (a resend of loaded bytes) are neither judged (``None``) nor count as a previous file;
    files with the same extract date (several offices) share the same previous extract date.
    """
    by_feed: dict[str, list[LedgerFile]] = {}
    for f in files:
        by_feed.setdefault(f.feed, []).append(f)
    out: dict[int, int | None] = {}
    for feed, items in by_feed.items():
        extracts = sorted({f.extract_date for f in items if not f.duplicate})
        for f in items:
            if f.duplicate:
                out[f.file_id] = None
                continue
            earlier = [d for d in extracts if d < f.extract_date]
            previous = earlier[-1] if earlier else None
            out[f.file_id] = days_late(f.received_date, due_date(previous, cadences.get(feed)))
    return out


def _fill_lateness(conn: sa.Connection, reference_date: date, feeds: Sequence[Feed]) -> None:
    """Create and fill the temporary table ``rec_o_lateness`` (file_id, cadence, days_late)."""
    cadences = {f.feed: f.cadence for f in feeds}
    rows = conn.execute(
        sa.text(
            "SELECT file_id, feed, extract_date, CAST(received_at AT TIME ZONE :tz AS date) AS received_date,"
            " status = 'duplicate' AS duplicate"
            " FROM audit.file_ledger WHERE extract_date <= CAST(:reference_date AS date)"
        ),
        {"tz": TIMEZONE, "reference_date": reference_date},
    ).all()
    files = [
        LedgerFile(int(r.file_id), r.feed, r.extract_date, r.received_date, bool(r.duplicate)) for r in rows
    ]
    lateness = file_lateness(files, cadences)
    conn.execute(sa.text("DROP TABLE IF EXISTS rec_o_lateness"))
    conn.execute(
        sa.text(
            "CREATE TEMP TABLE rec_o_lateness (file_id bigint PRIMARY KEY, cadence text, days_late integer)"
        )
    )
    if files:
        conn.execute(
            sa.text(
                "INSERT INTO rec_o_lateness (file_id, cadence, days_late) VALUES (:file_id, :cadence, :late)"
            ),
            [
                {"file_id": f.file_id, "cadence": cadences.get(f.feed), "late": lateness[f.file_id]}
                for f in files
            ],
        )


def refresh_other(conn: sa.Connection, reference_date: date) -> dict[str, int]:
    """Rebuild the marts and work lists of migration 0007 as of ``reference_date``; rows per table.

    Runs in the caller's transaction (nothing is committed here); the tables are deleted and
    refilled, so running it twice gives identical tables.
    """
    _fill_lateness(conn, reference_date, default_feeds())
    params: dict[str, Any] = {
        "reference_date": reference_date,
        "prenatal_indicator": PRENATAL_INDICATOR,
        "fee_rate_indicator": FEE_RATE_INDICATOR,
        "timezone": TIMEZONE,
    }
    run_script(conn, SQL_FILE.name, params)
    return {
        table: int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())  # names are constants
        for table in TABLES
    }
