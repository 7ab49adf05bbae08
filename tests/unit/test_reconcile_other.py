"""Pure helpers of popdata.reconcile.other: due dates by cadence, days late, lateness per file."""

from __future__ import annotations

from datetime import date

import pytest

from popdata.reconcile.other import LedgerFile, add_months, days_late, due_date, file_lateness
from popdata.warehouse import scripts


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2014, 1, 31), 1, date(2014, 2, 28)),  # month end → month end
        (date(2014, 2, 28), 1, date(2014, 3, 31)),
        (date(2014, 1, 15), 1, date(2014, 2, 15)),
        (date(2013, 12, 31), 3, date(2014, 3, 31)),
        (date(2012, 2, 29), 12, date(2013, 2, 28)),
        (date(2014, 1, 30), 1, date(2014, 2, 28)),  # clamped to the shorter month
    ],
)
def test_add_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_due_date_by_cadence() -> None:
    assert due_date(date(2014, 1, 31), "monthly") == date(2014, 2, 28)
    assert due_date(date(2013, 12, 31), "quarterly") == date(2014, 3, 31)
    assert due_date(date(2013, 1, 15), "yearly") == date(2014, 1, 15)
    assert due_date(date(2014, 3, 3), "weekly") == date(2014, 3, 10)
    assert due_date(date(2014, 3, 3), "daily") == date(2014, 3, 4)
    assert due_date(date(2014, 3, 3), "irregular") is None
    assert due_date(None, "monthly") is None
    assert due_date(date(2014, 3, 3), None) is None


def test_days_late_is_never_negative() -> None:
    assert days_late(date(2014, 3, 5), date(2014, 2, 28)) == 5
    assert days_late(date(2014, 2, 28), date(2014, 2, 28)) == 0
    assert days_late(date(2014, 2, 20), date(2014, 2, 28)) == 0
    assert days_late(date(2014, 2, 20), None) is None


def test_file_lateness_uses_the_previous_extract_date_of_the_feed() -> None:
    files = [
        LedgerFile(1, "death_records", date(2014, 1, 31), date(2014, 2, 3)),  # first: no previous
        LedgerFile(2, "death_records", date(2014, 2, 28), date(2014, 3, 2)),  # due 02-28 → 2
        LedgerFile(3, "death_records", date(2014, 2, 28), date(2014, 3, 10)),  # second office → 10
        LedgerFile(4, "death_records", date(2014, 4, 30), date(2014, 5, 1)),  # March missing: due 03-31 → 31
        LedgerFile(5, "death_records", date(2014, 4, 30), date(2014, 5, 2), duplicate=True),
        LedgerFile(6, "regions", date(2011, 12, 31), date(2014, 1, 1)),
        LedgerFile(7, "regions", date(2012, 12, 31), date(2014, 1, 1)),  # irregular: never late
    ]
    cadences = {"death_records": "monthly", "regions": "irregular"}
    assert file_lateness(files, cadences) == {1: None, 2: 2, 3: 10, 4: 31, 5: None, 6: None, 7: None}


def test_statements_split_and_bind_only_what_they_use() -> None:
    script = (
        "-- head\nSELECT :a\n-- statement\n-- only a comment\n-- statement\nSELECT CAST(:b AS date), 'x::y'\n"
    )
    statements = scripts.statements(script)
    assert statements == ["SELECT :a", "SELECT CAST(:b AS date), 'x::y'"]
    assert scripts.bound(statements[0], {"a": 1, "b": 2}) == {"a": 1}
    assert scripts.bound(statements[1], {"a": 1, "b": 2, "y": 3}) == {"b": 2}
