"""Is each feed's next file overdue by its cadence? Checked as of a date, recorded, alerted once.

A feed's *due date* is its latest loaded file's extract date plus one cadence period (month end to
month end, :func:`popdata.reconcile.other.due_date`, the rule ``mart.feed_quality.days_late``
uses). As of a date ``as_of`` the feed is

``on_time``
    the due date has not passed (``as_of <= due``);
``grace``
    the due date has passed by at most the feed's ``grace_days`` (config);
``overdue``
    it has passed by more: the view shows the feed red and an alert goes out;
``no_file``
    no file of the feed was ever loaded (nothing to count from: shown, not alerted);
``irregular``
    the feed has no cadence (``stats/regions``).

Only loaded files count (``loaded``, ``loaded_with_rejections``): a quarantined file asks the agency
to send again, so the feed stays due. Files whose extract date is after ``as_of`` are left out, so
a check as of a past date gives the answer it gave then: ``as_of`` is the DAG run's date or the
reference date of ``popdata run``, never the wall clock.

:func:`check_arrivals` records one row per feed in ``audit.feed_arrival_checks`` (re-running a
date replaces its rows) and sends the overdue alert through the configured Airflow notifiers
(:mod:`popdata.quality.alerts`) once per feed and due date: a re-run, or the next day's check of
the same missed file, does not alert again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal

import sqlalchemy as sa

from popdata.config.feeds import Feed, default_feeds
from popdata.reconcile.other import due_date

logger = logging.getLogger(__name__)

ArrivalStatus = Literal["on_time", "grace", "overdue", "no_file", "irregular"]

STATUS_LABELS: dict[str, tuple[str, str]] = {
    "on_time": ("按时", "on time"),
    "grace": ("宽限期内", "within grace"),
    "overdue": ("逾期", "overdue"),
    "no_file": ("从未收到", "never received"),
    "irregular": ("不定期", "irregular"),
}
"""Chinese and English words for each status (the view and the alert use them)."""


@dataclass(frozen=True, slots=True)
class ArrivalState:
    """One feed's arrival state as of a date."""

    agency: str
    feed: str
    cadence: str
    grace_days: int
    as_of: date
    last_extract_date: date | None
    last_file_id: int | None
    due_date: date | None
    days_overdue: int | None
    status: ArrivalStatus
    alerted: bool = False
    """Whether the overdue alert for this feed and due date has been sent (by this or an earlier check)."""

    @property
    def label(self) -> str:
        """``agency/feed``."""
        return f"{self.agency}/{self.feed}"


def judge(
    feed: Feed, last_extract: date | None, as_of: date
) -> tuple[date | None, int | None, ArrivalStatus]:
    """The due date, days past it and status of ``feed`` whose latest loaded extract is ``last_extract``.

    Pure: the whole rule of the module docstring, tested on its own.
    """
    if feed.cadence == "irregular":
        return None, None, "irregular"
    if last_extract is None:
        return None, None, "no_file"
    due = due_date(last_extract, feed.cadence)
    if due is None:  # pragma: no cover - every cadence but irregular has a period
        return None, None, "irregular"
    late = max(0, (as_of - due).days)
    if late == 0:
        return due, 0, "on_time"
    return due, late, "grace" if late <= feed.grace_days else "overdue"


_LATEST = sa.text(
    """
    SELECT DISTINCT ON (feed) feed, extract_date, file_id
    FROM audit.file_ledger
    WHERE status IN ('loaded', 'loaded_with_rejections') AND extract_date <= :as_of
    ORDER BY feed, extract_date DESC, file_id DESC
    """
)


def latest_loaded_extract(conn: sa.Connection) -> date | None:
    """The latest extract date of any loaded file: what the warehouse's data is "as of"."""
    value = conn.execute(
        sa.text(
            "SELECT max(extract_date) FROM audit.file_ledger"
            " WHERE status IN ('loaded', 'loaded_with_rejections')"
        )
    ).scalar()
    return value if isinstance(value, date) else None


def arrival_states(
    conn: sa.Connection, as_of: date, feeds: Sequence[Feed] | None = None
) -> list[ArrivalState]:
    """Every configured feed's state as of ``as_of``, computed from the ledger (nothing written)."""
    latest = {r.feed: (r.extract_date, int(r.file_id)) for r in conn.execute(_LATEST, {"as_of": as_of})}
    states = []
    for feed in feeds if feeds is not None else default_feeds():
        last_extract, last_file = latest.get(feed.feed, (None, None))
        due, late, status = judge(feed, last_extract, as_of)
        states.append(
            ArrivalState(
                agency=feed.agency,
                feed=feed.feed,
                cadence=feed.cadence,
                grace_days=feed.grace_days,
                as_of=as_of,
                last_extract_date=last_extract,
                last_file_id=last_file,
                due_date=due,
                days_overdue=late,
                status=status,
            )
        )
    return states


_ALREADY_ALERTED = sa.text(
    "SELECT DISTINCT feed, due_date FROM audit.feed_arrival_checks WHERE alerted_at IS NOT NULL"
)
_DELETE = sa.text("DELETE FROM audit.feed_arrival_checks WHERE as_of = :as_of")
_INSERT = sa.text(
    """
    INSERT INTO audit.feed_arrival_checks (as_of, agency, feed, cadence, grace_days, last_extract_date,
                                           last_file_id, due_date, days_overdue, status, alerted_at)
    VALUES (:as_of, :agency, :feed, :cadence, :grace_days, :last_extract_date, :last_file_id, :due_date,
            :days_overdue, :status, CASE WHEN :alerted THEN now() END)
    """
)
_MARK_ALERTED = sa.text(
    "UPDATE audit.feed_arrival_checks SET alerted_at = now() WHERE as_of = :as_of AND feed = :feed"
)


@dataclass(frozen=True, slots=True)
class ArrivalCheck:
    """What one check found and did."""

    as_of: date
    states: tuple[ArrivalState, ...]
    newly_overdue: tuple[ArrivalState, ...]
    """Overdue feeds not alerted before for their due date (the alert goes out for these)."""
    notifiers_sent: int

    @property
    def overdue(self) -> tuple[ArrivalState, ...]:
        """Every overdue feed, alerted now or before."""
        return tuple(s for s in self.states if s.status == "overdue")

    def summary(self) -> str:
        """One line per state that needs attention, then a count line."""
        lines = [
            f"  {s.label:<32}{s.status:<10} due {s.due_date}  last extract {s.last_extract_date}"
            f"  {s.days_overdue} days past due"
            for s in self.states
            if s.status in ("overdue", "grace")
        ]
        lines.append(
            f"arrivals as of {self.as_of}: {len(self.overdue)} overdue "
            f"({len(self.newly_overdue)} newly alerted), "
            f"{sum(s.status == 'on_time' for s in self.states)} on time, "
            f"{sum(s.status == 'no_file' for s in self.states)} never received"
        )
        return "\n".join(lines)


def check_arrivals(
    engine: sa.Engine,
    as_of: date,
    *,
    feeds: Sequence[Feed] | None = None,
    context: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ArrivalCheck:
    """Judge every feed as of ``as_of``, record the check and alert newly overdue feeds.

    The rows are written first, the alert sent after, and ``alerted_at`` set only when at least
    one notifier sent it. With none configured the state is still recorded and shown in the view,
    and the alert goes out at the first check after a notifier is configured, if the feed is
    still overdue then.
    """
    from popdata.quality import alerts

    with engine.begin() as conn:
        states = arrival_states(conn, as_of, feeds)
        alerted_before = {(r.feed, r.due_date) for r in conn.execute(_ALREADY_ALERTED)}
        states = [replace(s, alerted=(s.feed, s.due_date) in alerted_before) for s in states]
        conn.execute(_DELETE, {"as_of": as_of})
        conn.execute(
            _INSERT,
            [
                {
                    "as_of": s.as_of,
                    "agency": s.agency,
                    "feed": s.feed,
                    "cadence": s.cadence,
                    "grace_days": s.grace_days,
                    "last_extract_date": s.last_extract_date,
                    "last_file_id": s.last_file_id,
                    "due_date": s.due_date,
                    "days_overdue": s.days_overdue,
                    "status": s.status,
                    "alerted": s.alerted,
                }
                for s in states
            ],
        )
    newly = tuple(s for s in states if s.status == "overdue" and not s.alerted)
    sent = 0
    if newly:
        sent = alerts.send_alert(context, OverdueFeeds(as_of=as_of, feeds=newly), environ=environ)
        if sent:
            with engine.begin() as conn:
                conn.execute(_MARK_ALERTED, [{"as_of": as_of, "feed": s.feed} for s in newly])
            states = [replace(s, alerted=True) if s in newly else s for s in states]
    return ArrivalCheck(as_of=as_of, states=tuple(states), newly_overdue=newly, notifiers_sent=sent)


def latest_states(conn: sa.Connection) -> list[ArrivalState]:
    """The states of the latest recorded check (what the view shows); empty when none was recorded."""
    rows = conn.execute(
        sa.text(
            "SELECT * FROM audit.feed_arrival_checks"
            " WHERE as_of = (SELECT max(as_of) FROM audit.feed_arrival_checks) ORDER BY agency, feed"
        )
    ).all()
    return [
        ArrivalState(
            agency=r.agency,
            feed=r.feed,
            cadence=r.cadence,
            grace_days=r.grace_days,
            as_of=r.as_of,
            last_extract_date=r.last_extract_date,
            last_file_id=r.last_file_id,
            due_date=r.due_date,
            days_overdue=r.days_overdue,
            status=r.status,
            alerted=r.alerted_at is not None,
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class OverdueFeeds:
    """The overdue-feed alert: which feeds, since when, as of which date (no data values)."""

    as_of: date
    feeds: tuple[ArrivalState, ...]
    event: str = "popdata.feed_overdue"

    @property
    def subject(self) -> str:
        """One line for an e-mail subject or a chat title."""
        names = ", ".join(s.label for s in self.feeds)
        return f"[popdata] 数据逾期未报 / Feed overdue ({len(self.feeds)}): {names}"

    def lines(self) -> list[str]:
        """The body, Chinese then English on each line."""
        body = [self.subject, f"检查基准日 / As of: {self.as_of}"]
        for s in self.feeds:
            body.append(
                f"  - {s.label}: 周期 / cadence {s.cadence}, 最新抽取日期 / last extract {s.last_extract_date},"
                f" 应报日 / due {s.due_date}, 逾期 / overdue {s.days_overdue} 天 / days"
                f" (宽限 / grace {s.grace_days})"
            )
        body.append(
            "请联系报送部门补报；收到文件后状态自动恢复。 / Ask the agency to send the file; the state clears when it arrives."
        )
        return body

    @property
    def text(self) -> str:
        """The plain-text message."""
        return "\n".join(self.lines())

    @property
    def html(self) -> str:
        """The message as escaped HTML (for e-mail)."""
        from popdata.quality.alerts import html_message

        return html_message(self.lines())

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body."""
        return {
            "event": self.event,
            "subject": self.subject,
            "text": self.text,
            "as_of": self.as_of.isoformat(),
            "feeds": [
                {
                    "agency": s.agency,
                    "feed": s.feed,
                    "cadence": s.cadence,
                    "last_extract_date": s.last_extract_date.isoformat() if s.last_extract_date else None,
                    "due_date": s.due_date.isoformat() if s.due_date else None,
                    "days_overdue": s.days_overdue,
                    "grace_days": s.grace_days,
                }
                for s in self.feeds
            ],
        }
