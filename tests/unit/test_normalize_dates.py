"""Unit tests for popdata.normalize.dates: agency date formats, Excel serials, placeholders."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from popdata.normalize.dates import (
    DATE_IMPOSSIBLE,
    DATE_UNPARSEABLE,
    ParsedDate,
    excel_serial_to_datetime,
    parse_date,
    parse_dates,
)

APRIL_1 = date(2014, 4, 1)


@pytest.mark.parametrize(
    "raw",
    [
        "2014-04-01",
        "20140401",
        "2014/4/1",
        "2014/04/01",
        "2014.4.1",
        "2014年4月1日",
        "2014年04月01日",
        " 2014-04-01 ",
        "２０１４－０４－０１",
        "41730",
        41730,
        41730.0,
        20140401,
        "20140401.0",
        date(2014, 4, 1),
        datetime(2014, 4, 1),
    ],
)
def test_formats(raw: object) -> None:
    parsed = parse_date(raw)
    assert parsed == ParsedDate(APRIL_1, None, None, False)


def test_excel_serial_1900_system() -> None:
    assert excel_serial_to_datetime(41730) == datetime(2014, 4, 1)
    assert excel_serial_to_datetime(61) == datetime(1900, 3, 1)  # after the fake 1900-02-29
    assert excel_serial_to_datetime(59) == datetime(1900, 2, 28)
    assert excel_serial_to_datetime(1) == datetime(1900, 1, 1)
    assert excel_serial_to_datetime(41730.5) == datetime(2014, 4, 1, 12, 0)


def test_excel_serial_out_of_plausible_range() -> None:
    assert parse_date("1234").error == DATE_UNPARSEABLE
    assert parse_date(99999).error == DATE_UNPARSEABLE
    assert parse_date(2014).error == DATE_UNPARSEABLE


@pytest.mark.parametrize(
    ("raw", "expected_time"),
    [
        ("2014-03-02 14:30", time(14, 30)),
        ("2014-03-02 14:30:15", time(14, 30, 15)),
        ("2014-03-02T14:30:00", time(14, 30)),
        ("2014/3/2 9:05", time(9, 5)),
        ("2014年3月2日 14时30分", time(14, 30)),
        ("2014年3月2日14:30", time(14, 30)),
        ("201403021430", time(14, 30)),
        ("20140302143015", time(14, 30, 15)),
        (datetime(2014, 3, 2, 14, 30), time(14, 30)),
        ("2014-03-02", None),
        (datetime(2014, 3, 2), None),  # .xlsx date-only cell: midnight is no time
    ],
)
def test_time_allowed(raw: object, expected_time: time | None) -> None:
    parsed = parse_date(raw, allow_time=True)
    assert parsed.value == date(2014, 3, 2)
    assert parsed.time == expected_time
    assert parsed.error is None


def test_serial_with_fraction_carries_time() -> None:
    parsed = parse_date(41730.75, allow_time=True)
    assert parsed.value == APRIL_1
    assert parsed.time == time(18, 0)


def test_time_accepted_and_dropped_when_not_allowed() -> None:
    parsed = parse_date("2014-03-02 14:30")
    assert parsed.value == date(2014, 3, 2)
    assert parsed.time is None
    assert parsed.error is None


@pytest.mark.parametrize("raw", ["2014-02-30", "2013-02-29", "2014-13-01", "20140431", "2014-03-02 25:00"])
def test_impossible(raw: str) -> None:
    parsed = parse_date(raw, allow_time=True)
    assert parsed.value is None
    assert parsed.error == DATE_IMPOSSIBLE
    assert not parsed.placeholder


def test_leap_day_is_fine() -> None:
    assert parse_date("2012-02-29").value == date(2012, 2, 29)


@pytest.mark.parametrize("raw", ["abc", "2014-4", "14-4-1", "2014-04-01x", "April 1", True])
def test_unparseable(raw: object) -> None:
    parsed = parse_date(raw)
    assert parsed.value is None
    assert parsed.error == DATE_UNPARSEABLE


@pytest.mark.parametrize(
    "raw",
    [
        "19000101",
        "1900-01-01",
        "1900/1/1",
        "1900.1.1",
        "1900年1月1日",
        "1900-01-01 00:00:00",
        "0000-00-00",
        datetime(1900, 1, 1),
        "不详",
        "无",
        "-",
    ],
)
def test_placeholders(raw: object) -> None:
    parsed = parse_date(raw)
    assert parsed == ParsedDate(None, None, None, True)


@pytest.mark.parametrize("raw", [None, "", "   ", float("nan")])
def test_blank(raw: object) -> None:
    assert parse_date(raw) == ParsedDate(None, None, None, False)


def test_parse_dates_batch_memoised() -> None:
    values = ["2014-04-01", "2014-02-30", "2014-04-01", None, 41730, "不详"]
    results = parse_dates(values)
    assert [r.value for r in results] == [APRIL_1, None, APRIL_1, None, APRIL_1, None]
    assert [r.error for r in results] == [None, DATE_IMPOSSIBLE, None, None, None, None]
    assert results[5].placeholder
    assert results[0] is results[2]


def test_parse_dates_keys_by_type() -> None:
    # True == 1 as dict keys; a bool is not a serial number and must not share the memo entry.
    results = parse_dates([41730, 41730.0, True, 1])
    assert results[0].value == APRIL_1
    assert results[1].value == APRIL_1
    assert results[2].error == DATE_UNPARSEABLE
    assert results[3].error == DATE_UNPARSEABLE


def test_parse_dates_allow_time() -> None:
    results = parse_dates(["2014-03-02 14:30", "2014-03-02 14:30"], allow_time=True)
    assert results[0].time == time(14, 30)
