"""The overdue rule of popdata.monitor.arrivals.judge, on hand-picked dates."""

from __future__ import annotations

from datetime import date

import pytest

from popdata.config.feeds import Feed, default_feeds
from popdata.monitor.arrivals import OverdueFeeds, judge


def _feed(name: str) -> Feed:
    return next(f for f in default_feeds() if f.feed == name)


@pytest.mark.parametrize(
    ("last", "as_of", "expected"),
    [
        (date(2014, 5, 31), date(2014, 6, 30), (date(2014, 6, 30), 0, "on_time")),  # due today
        (date(2014, 5, 31), date(2014, 7, 1), (date(2014, 6, 30), 1, "grace")),
        (date(2014, 5, 31), date(2014, 7, 7), (date(2014, 6, 30), 7, "grace")),  # last day of grace
        (date(2014, 5, 31), date(2014, 7, 8), (date(2014, 6, 30), 8, "overdue")),
        (date(2014, 1, 31), date(2014, 2, 28), (date(2014, 2, 28), 0, "on_time")),  # month end to month end
        (date(2014, 6, 15), date(2014, 6, 1), (date(2014, 7, 15), 0, "on_time")),  # as_of before the extract
    ],
)
def test_monthly_feed(last: date, as_of: date, expected: tuple[date, int, str]) -> None:
    feed = _feed("birth_certificates")
    assert feed.cadence == "monthly" and feed.grace_days == 7
    assert judge(feed, last, as_of) == expected


def test_quarterly_and_yearly_feeds() -> None:
    assert judge(_feed("birth_approvals"), date(2014, 3, 31), date(2014, 7, 8)) == (
        date(2014, 6, 30),
        8,
        "overdue",
    )
    assert judge(_feed("assistance_rolls"), date(2013, 12, 31), date(2014, 12, 31)) == (
        date(2014, 12, 31),
        0,
        "on_time",
    )


def test_no_file_and_irregular_feeds_are_never_overdue() -> None:
    assert judge(_feed("birth_certificates"), None, date(2014, 7, 8)) == (None, None, "no_file")
    assert judge(_feed("regions"), date(2000, 1, 1), date(2014, 7, 8)) == (None, None, "irregular")


def test_grace_days_come_from_config() -> None:
    feed = _feed("death_records").model_copy(update={"grace_days": 0})
    assert judge(feed, date(2014, 5, 31), date(2014, 7, 1))[2] == "overdue"
    with pytest.raises(ValueError, match="grace_days"):
        Feed.model_validate({**_feed("death_records").model_dump(), "grace_days": -1})


def test_overdue_alert_is_bilingual_and_carries_no_data_values() -> None:
    from popdata.monitor.arrivals import ArrivalState

    state = ArrivalState(
        agency="health",
        feed="death_records",
        cadence="monthly",
        grace_days=7,
        as_of=date(2014, 7, 8),
        last_extract_date=date(2014, 5, 31),
        last_file_id=3,
        due_date=date(2014, 6, 30),
        days_overdue=8,
        status="overdue",
    )
    alert = OverdueFeeds(as_of=date(2014, 7, 8), feeds=(state,))
    assert "数据逾期未报" in alert.subject and "Feed overdue" in alert.subject
    assert "health/death_records" in alert.text and "2014-06-30" in alert.text
    payload = alert.payload()
    assert payload["event"] == "popdata.feed_overdue"
    assert payload["feeds"][0]["days_overdue"] == 8
    assert "<h3>" in alert.html
