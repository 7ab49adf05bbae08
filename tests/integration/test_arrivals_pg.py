"""popdata.monitor.arrivals against PostgreSQL: the check is recorded, the alert goes out once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from popdata.config.feeds import default_feeds
from popdata.monitor import arrivals
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(databases) -> Iterator[sa.Engine]:  # type: ignore[no-untyped-def]
    """A migrated, empty warehouse."""
    eng = sa.create_engine(databases.create("popdata_test_arrivals"))
    migrate.upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


def _file(conn: sa.Connection, feed: str, extract: date, status: str = "loaded") -> int:
    agency = next(f.agency for f in default_feeds() if f.feed == feed)
    return int(
        conn.execute(
            sa.text(
                "INSERT INTO audit.file_ledger (agency, feed, file_name, rel_path, sha256, size_bytes,"
                " received_at, extract_date, status, stage, rows_read, rows_loaded, rows_rejected)"
                " VALUES (:agency, :feed, :name, :name, md5(:name) || md5(:name), 1, now(), :extract,"
                " :status, 'published', 1, 1, 0) RETURNING file_id"
            ),
            {
                "agency": agency,
                "feed": feed,
                "name": f"{feed}_{extract:%Y%m%d}_{status}.csv",
                "extract": extract,
                "status": status,
            },
        ).scalar_one()
    )


class Recorder:
    """Stands in for popdata.quality.alerts.send_alert."""

    def __init__(self, sent: int = 1) -> None:
        self.sent = sent
        self.alerts: list[Any] = []

    def __call__(self, context: Any, alert: Any, *, environ: Any = None, what: Any = None) -> int:
        self.alerts.append(alert)
        return self.sent


def test_check_records_states_and_alerts_once_per_due_date(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from popdata.quality import alerts

    recorder = Recorder()
    monkeypatch.setattr(alerts, "send_alert", recorder)
    with engine.begin() as conn:
        deaths = _file(conn, "death_records", date(2014, 5, 31))
        _file(conn, "death_records", date(2014, 6, 30), status="quarantined")  # does not count
        _file(conn, "birth_certificates", date(2014, 6, 30))
        _file(conn, "birth_certificates", date(2014, 8, 31))  # after as_of: left out

    check = arrivals.check_arrivals(engine, date(2014, 7, 10))
    by_feed = {s.feed: s for s in check.states}
    assert by_feed["death_records"].status == "overdue"
    assert by_feed["death_records"].last_file_id == deaths
    assert by_feed["death_records"].due_date == date(2014, 6, 30)
    assert by_feed["death_records"].days_overdue == 10
    assert by_feed["birth_certificates"].status == "on_time"
    assert by_feed["birth_certificates"].last_extract_date == date(2014, 6, 30)
    assert by_feed["prenatal_checks"].status == "no_file"
    assert by_feed["regions"].status == "irregular"
    assert [s.feed for s in check.newly_overdue] == ["death_records"]
    assert len(recorder.alerts) == 1 and "health/death_records" in recorder.alerts[0].text

    # the same date again, then the next day: the same missed file is not alerted twice
    again = arrivals.check_arrivals(engine, date(2014, 7, 10))
    later = arrivals.check_arrivals(engine, date(2014, 7, 11))
    assert again.newly_overdue == () and later.newly_overdue == ()
    assert len(recorder.alerts) == 1
    assert [s.feed for s in later.overdue] == ["death_records"] and later.overdue[0].alerted

    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT as_of, count(*) FROM audit.feed_arrival_checks GROUP BY as_of ORDER BY as_of")
        ).all()
        latest = arrivals.latest_states(conn)
    feeds = len(default_feeds())  # one state per feed, the village reports' (irregular) included
    assert [(r[0], r[1]) for r in rows] == [(date(2014, 7, 10), feeds), (date(2014, 7, 11), feeds)]
    assert {s.feed: s.status for s in latest}["death_records"] == "overdue"
    assert all(s.as_of == date(2014, 7, 11) for s in latest)


def test_a_new_file_clears_the_state_and_the_next_miss_alerts_again(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from popdata.quality import alerts

    recorder = Recorder()
    monkeypatch.setattr(alerts, "send_alert", recorder)
    with engine.begin() as conn:
        _file(conn, "death_records", date(2014, 5, 31))
    arrivals.check_arrivals(engine, date(2014, 7, 10))
    with engine.begin() as conn:
        _file(conn, "death_records", date(2014, 6, 30))
    cleared = arrivals.check_arrivals(engine, date(2014, 7, 12))
    assert {s.feed: s.status for s in cleared.states}["death_records"] == "on_time"
    missed = arrivals.check_arrivals(engine, date(2014, 8, 12))
    assert [s.due_date for s in missed.newly_overdue] == [date(2014, 7, 31)]
    assert len(recorder.alerts) == 2


def test_unsent_alert_is_retried_at_the_next_check(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from popdata.quality import alerts

    recorder = Recorder(sent=0)  # no notifier configured
    monkeypatch.setattr(alerts, "send_alert", recorder)
    with engine.begin() as conn:
        _file(conn, "death_records", date(2014, 5, 31))
    first = arrivals.check_arrivals(engine, date(2014, 7, 10))
    assert not first.overdue[0].alerted
    recorder.sent = 1
    second = arrivals.check_arrivals(engine, date(2014, 7, 11))
    assert [s.feed for s in second.newly_overdue] == ["death_records"] and second.overdue[0].alerted
    with engine.connect() as conn:
        alerted = (
            conn.execute(sa.text("SELECT as_of FROM audit.feed_arrival_checks WHERE alerted_at IS NOT NULL"))
            .scalars()
            .all()
        )
    assert alerted == [date(2014, 7, 11)]
