"""Concurrency (issue 10): the same bytes dropped many times at once are loaded once, by constraint.

Threads start together at a barrier, each with its own connections, as task processes would:
several scans register the same drop at the same moment (the ledger's unique ``(agency, feed,
rel_path, sha256)`` and ``ON CONFLICT DO NOTHING`` give each file one row), then every copy
loads at the same moment (the advisory lock of ``_mark_if_duplicate`` and the unique index
``file_ledger_loaded_once`` let exactly one publish), and a task racing its own retry on one
file publishes it once. Afterwards :mod:`popdata.quality.invariants` holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa

from popdata.config.feeds import feed_by_id
from popdata.config.settings import load_settings
from popdata.ingest import pipeline
from popdata.quality import invariants
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration

REGISTRY = feed_by_id("police__household_registry")
HEADER = "公民身份号码,姓名,性别,出生日期,户号,与户主关系,户籍地区划代码,住址,人口状态"
ROWS = [
    "11010519491231002X,张伟,男,1949-12-31,100000001,户主,120115115001,住址1,正常",
    "120115198001010016,李娜,女,1980-01-01,100000001,配偶,120115115001,住址1,正常",
]
COPIES = 6
T = TypeVar("T")


@pytest.fixture
def engine(databases) -> Iterator[sa.Engine]:  # type: ignore[no-untyped-def]
    eng = sa.create_engine(databases.create("popdata_test_concurrency"), pool_size=COPIES + 2)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


def _at_once(jobs: list[Callable[[], T]]) -> list[T]:
    """Run ``jobs`` in threads released together by a barrier; their results in order."""
    barrier = threading.Barrier(len(jobs))

    def start(job: Callable[[], T]) -> T:
        barrier.wait(timeout=30)
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(start, jobs))


def _drop_copies(landing: Path) -> None:
    folder = landing / "police" / "household_registry"
    folder.mkdir(parents=True)
    data = ("\r\n".join([HEADER, *ROWS]) + "\r\n").encode("gb18030")
    for n in range(1, COPIES + 1):
        (folder / f"household_registry_20140731_{n}.csv").write_bytes(data)


def test_the_same_bytes_dropped_many_times_at_once_load_once(engine: sa.Engine, tmp_path: Path) -> None:
    landing, outbox = tmp_path / "landing", tmp_path / "outbox"
    _drop_copies(landing)
    settings, now = load_settings(), time.time()

    def scan() -> tuple[int, ...]:
        return pipeline.register(engine, REGISTRY, landing, quiet_seconds=0, now=now).file_ids

    scans = _at_once([scan] * 4)
    with engine.connect() as conn:
        ledger_ids = (
            conn.execute(sa.text("SELECT file_id FROM audit.file_ledger ORDER BY file_id")).scalars().all()
        )
    assert len(ledger_ids) == COPIES  # four scans, one row per file
    assert all(tuple(ids) == tuple(ledger_ids) for ids in scans)

    def loader(file_id: int) -> Callable[[], str]:
        return lambda: pipeline.load(engine, settings, file_id, landing=landing, outbox=outbox)[-1][1]

    reached = _at_once([loader(i) for i in ledger_ids])
    assert sorted(reached) == ["duplicate"] * (COPIES - 1) + ["published"]
    with engine.connect() as conn:
        statuses = conn.execute(
            sa.text("SELECT file_id, status, duplicate_of FROM audit.file_ledger ORDER BY file_id")
        ).all()
        assert conn.execute(sa.text("SELECT count(*) FROM core.household_registry_rows")).scalar_one() == len(
            ROWS
        )
    loaded = [r.file_id for r in statuses if r.status == "loaded"]
    assert loaded == [ledger_ids[0]], statuses  # the earliest registered copy, not the fastest thread
    assert all(r.duplicate_of == ledger_ids[0] for r in statuses if r.status == "duplicate")
    assert len(list((outbox / "police").rglob("*.json"))) == COPIES  # a receipt for every copy
    verdicts = {r.name: r for r in invariants.check(engine)}
    assert verdicts["row_accounting"].ok and verdicts["files_final"].ok, verdicts


def test_a_task_racing_its_own_retry_publishes_the_file_once(engine: sa.Engine, tmp_path: Path) -> None:
    """Two task processes on one file (a retry started while the first try still runs)."""
    landing, outbox = tmp_path / "landing", tmp_path / "outbox"
    _drop_copies(landing)
    settings = load_settings()
    (file_id,) = pipeline.register(engine, REGISTRY, landing, quiet_seconds=0, now=time.time()).file_ids[:1]

    def attempt() -> str:
        try:
            return pipeline.load(engine, settings, file_id, landing=landing, outbox=outbox)[-1][1]
        except Exception as exc:  # a try that loses the race may fail; its retry must then finish
            return f"failed: {type(exc).__name__}"

    outcomes = _at_once([attempt, attempt])
    assert "published" in outcomes or all(o.startswith("failed") for o in outcomes), outcomes
    if "published" not in outcomes:  # the retry
        assert pipeline.load(engine, settings, file_id, landing=landing, outbox=outbox)[-1][1] == "published"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM core.household_registry_rows")).scalar_one() == len(
            ROWS
        )
        status = conn.execute(
            sa.text("SELECT status FROM audit.file_ledger WHERE file_id = :f"), {"f": file_id}
        ).scalar_one()
    assert status == "loaded"
    # and once more, as Airflow's retry after both: nothing changes
    assert pipeline.load(engine, settings, file_id, landing=landing, outbox=outbox)[-1][1] == "published"
