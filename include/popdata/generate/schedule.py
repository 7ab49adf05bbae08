"""Extract schedules: when each agency sends a file and which period it covers.

Incremental feeds send one file per past year (dated 12-31) and then one per month
(health, police) or per quarter (fp) of the last year, the last file dated the end
date. The registry sends full snapshots at month ends; rolls and targets once a year.
"""

from __future__ import annotations

import calendar
import datetime as dt

from popdata.generate.writer import Period


def month_end(year: int, month: int) -> dt.date:
    """The last day of a month."""
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def incremental_periods(start: dt.date, end: dt.date, *, months_per_file: int = 1) -> list[Period]:
    """Yearly files for the years before ``end``'s year, then files of ``months_per_file`` months."""
    periods: list[Period] = []
    for year in range(start.year, end.year):
        periods.append(Period(dt.date(year, 12, 31), max(start, dt.date(year, 1, 1)), dt.date(year, 12, 31)))
    month = 1
    first = dt.date(end.year, 1, 1) if end.year > start.year else start
    while True:
        last_month = min(month + months_per_file - 1, 12)
        p_end = month_end(end.year, last_month)
        p_start = max(first, dt.date(end.year, month, 1))
        if p_end >= end:
            periods.append(Period(end, p_start, end))
            break
        periods.append(Period(p_end, p_start, p_end))
        month = last_month + 1
    return periods


def snapshot_dates(end: dt.date, count: int) -> list[dt.date]:
    """The last ``count`` month ends on or before ``end`` (oldest first)."""
    dates: list[dt.date] = []
    year, month = end.year, end.month
    if month_end(year, month) > end:
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    while len(dates) < max(count, 1):
        dates.append(month_end(year, month))
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return sorted(dates)
