"""The reference date of a DAG run: its logical date, or for an asset-triggered run the data's date."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from popdata.warehouse import db, migrate

pytestmark = pytest.mark.integration

QUEUED = SimpleNamespace(run_after=datetime(2026, 11, 28, 20, 13, tzinfo=UTC))


@pytest.fixture
def warehouse(databases, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:  # type: ignore[no-untyped-def]
    """A migrated warehouse that ``db.get_engine()`` (what the tasks use) points at."""
    url = databases.create("popdata_test_run_date")
    monkeypatch.setenv("POPDATA_WAREHOUSE_URL", url)
    db._engine.cache_clear()
    engine = sa.create_engine(url)
    migrate.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        db._engine.cache_clear()


def _file(engine: sa.Engine, extract: date, status: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO audit.file_ledger (agency, feed, file_name, rel_path, sha256, size_bytes,"
                " received_at, extract_date, status, stage, rows_read, rows_loaded, rows_rejected)"
                " VALUES ('health', 'death_records', :n, :n, md5(:n) || md5(:n), 1, now(), :d, :s,"
                " 'published', 1, 1, 0)"
            ),
            {"n": f"death_records_{extract:%Y%m%d}_{status}.csv", "d": extract, "s": status},
        )


def test_logical_date_wins(warehouse: sa.Engine) -> None:
    from popdata.orchestration import _run_date

    _file(warehouse, date(2014, 6, 30), "loaded")
    context = {"logical_date": datetime(2014, 3, 31, tzinfo=UTC), "dag_run": QUEUED}
    assert _run_date(context) == date(2014, 3, 31)


def test_asset_triggered_run_is_about_the_latest_loaded_extract_not_the_wall_clock(
    warehouse: sa.Engine,
) -> None:
    from popdata.orchestration import _run_date

    context = {"logical_date": None, "dag_run": QUEUED}
    assert _run_date(context) == date(2026, 11, 28)  # an empty ledger: nothing else to go by
    _file(warehouse, date(2014, 5, 31), "loaded")
    _file(warehouse, date(2014, 6, 30), "loaded_with_rejections")
    _file(warehouse, date(2014, 7, 31), "quarantined")  # not loaded: the data is not as of then
    assert _run_date(context) == date(2014, 6, 30)
