"""Mention extraction without a database: batches, the kept duplicate, shared values, dtypes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from popdata.config.feeds import default_feeds
from popdata.linkage import mentions as mentions_module
from popdata.linkage.mentions import (
    MENTION_COLUMNS,
    coerce_mentions,
    empty_mentions,
    extract_mentions,
    share_equal_values,
)
from popdata.linkage.roles import person_feeds


class _Result:
    """What ``conn.execute`` returns: the column names and rows fetched a batch at a time."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def keys(self) -> list[str]:
        return list(MENTION_COLUMNS)

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        batch, self._rows = self._rows[:size], self._rows[size:]
        return batch


class _Conn:
    """A connection answering the first feed's statement with ``rows`` and every other with none."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.calls = 0

    def execute(self, statement: Any, params: Any) -> _Result:
        self.calls += 1
        return _Result(self.rows if self.calls == 1 else [])


def _row(key: str, role: str, extract: dt.date, **values: Any) -> tuple[Any, ...]:
    row: dict[str, Any] = dict.fromkeys(MENTION_COLUMNS)
    row.update(
        mention_id=f"household_registry|{key}|{role}",
        feed="household_registry",
        source_key=key,
        role=role,
        id_valid=False,
        extract_date=extract,
    )
    row.update(values)
    return tuple(row[c] for c in MENTION_COLUMNS)


ROWS = [
    _row("K3", "subject", dt.date(2014, 5, 31), name="王芳", sex="2", region_code="430102001001"),
    _row("K1", "subject", dt.date(2014, 5, 31), name="李四", sex="0", birth_date=dt.date(1950, 2, 2)),
    _row("K2", "subject", dt.date(2014, 5, 31), id_no="X", id_valid=None, region_code="430102001001"),
    _row("K1", "subject", dt.date(2014, 6, 30), name="李肆", sex="1", household_no="H1"),
    _row("K3", "subject", dt.date(2014, 5, 31), name="王芳芳"),
]


@pytest.mark.parametrize("batch", [1, 2, 100_000])
def test_extract_mentions_in_batches_is_the_frame_of_all_rows(
    batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mentions_module, "FETCH_ROWS", batch)
    conn = _Conn(ROWS)
    out = extract_mentions(conn, default_feeds())  # type: ignore[arg-type]
    assert conn.calls == len(person_feeds(default_feeds()))
    everything = coerce_mentions(pd.DataFrame(ROWS, columns=list(MENTION_COLUMNS)))
    expected = everything.sort_values(["mention_id", "extract_date"], ascending=[True, False], kind="stable")
    expected = expected.drop_duplicates("mention_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(out, expected)
    assert out.dtypes.equals(empty_mentions().dtypes)
    # the latest extract of K1, the first row of K3 (same extract date); sex 0 is no sex
    assert out["name"].tolist() == ["李肆", None, "王芳"]
    assert out["sex"].tolist() == ["1", None, "2"]
    assert out["id_valid"].tolist() == [False, False, False]
    assert len({id(v) for v in out["feed"]}) == 1
    assert out["region_code"].iloc[1] is out["region_code"].iloc[2]


def test_extract_mentions_of_nothing_is_the_empty_frame() -> None:
    out = extract_mentions(_Conn([]), default_feeds())  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(out, empty_mentions())


def test_share_equal_values_keeps_values_and_none() -> None:
    values = pd.Series(["a" + str(i % 3) if i % 4 else None for i in range(12)], dtype=object, name="x")
    values.iloc[1] = "".join(["a", "1"])  # an equal string, another object
    shared = share_equal_values(values)
    pd.testing.assert_series_equal(shared, values)
    assert len({id(v) for v in shared if v is not None}) == 3
    assert share_equal_values(pd.Series([None, None], dtype=object)).tolist() == [None, None]
