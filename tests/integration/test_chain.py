"""popdata.chain.chain_state on hand-made ledgers and DAG runs: when is a drop all the way through?

The metadata database here holds only the columns of Airflow's tables that chain_state reads
(``dag_run``, ``task_instance``, ``asset``, ``asset_event``, ``dagrun_asset_event``), the warehouse
only the ledger's columns it reads and the linkage runs' ledger of migration 0013; the real
schemas are exercised by the topology tests and ``make bench``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from popdata.chain import LINK_DAG, LINK_TASK, RECONCILE_DAG, ChainFailed, chain_state
from popdata.config.feeds import default_feeds, feed_by_id
from popdata.linkage import runs
from popdata.linkage.link import LinkRunResult
from popdata.warehouse.scripts import SQL_DIR, statements

T0 = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
REGISTRY = feed_by_id("police__household_registry")
REGIONS = feed_by_id("stats__regions")


class Chain:
    """A warehouse ledger and a metadata database to write runs and asset events into."""

    def __init__(self, warehouse: sa.Engine, metadata: sa.Engine) -> None:
        self.warehouse, self.metadata = warehouse, metadata
        with warehouse.begin() as conn:
            conn.execute(sa.text("CREATE SCHEMA audit"))
            conn.execute(
                sa.text(
                    "CREATE TABLE audit.file_ledger (file_id bigserial, feed text, status text,"
                    " rows_read bigint, published_at timestamptz)"
                )
            )
            for statement in statements((SQL_DIR / "0013_link_runs.sql").read_text(encoding="utf-8")):
                conn.execute(sa.text(statement))
        with metadata.begin() as conn:
            for ddl in (
                "CREATE TABLE dag_run (id serial PRIMARY KEY, dag_id text, state text,"
                " start_date timestamptz, end_date timestamptz)",
                "CREATE TABLE task_instance (dag_id text, task_id text, state text,"
                " start_date timestamptz, end_date timestamptz)",
                "CREATE TABLE asset (id serial PRIMARY KEY, uri text)",
                "CREATE TABLE asset_event (id serial PRIMARY KEY, asset_id int, source_dag_id text)",
                "CREATE TABLE dagrun_asset_event (dag_run_id int, event_id int)",
            ):
                conn.execute(sa.text(ddl))

    def file(self, feed: str, *, status: str | None = "loaded", minute: int = 0) -> None:
        """A ledger row (status None: in flight)."""
        published = T0 + timedelta(minutes=minute) if status == "loaded" else None
        with self.warehouse.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO audit.file_ledger (feed, status, rows_read, published_at) VALUES (:f, :s, 10, :p)"
                ),
                {"f": feed, "s": status, "p": published},
            )

    def run(self, dag_id: str, state: str, start: float, end: float | None) -> int:
        """A DAG run from minute ``start`` to minute ``end``; returns its id."""
        with self.metadata.begin() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "INSERT INTO dag_run (dag_id, state, start_date, end_date) VALUES (:d, :s, :a, :b) RETURNING id"
                    ),
                    {
                        "d": dag_id,
                        "s": state,
                        "a": T0 + timedelta(minutes=start),
                        "b": None if end is None else T0 + timedelta(minutes=end),
                    },
                ).scalar_one()
            )

    def linked(self, start: float, end: float) -> None:
        """A linkage run's ``link_persons`` ran from ``start`` to ``end`` and read every published file."""
        with self.warehouse.begin() as conn:
            runs.record_run(
                conn,
                runs.published_files(conn, default_feeds()),
                LinkRunResult(*([0] * 9), scorer_available=True),
            )
        with self.metadata.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO task_instance VALUES (:d, :t, 'success', :a, :b)"),
                {
                    "d": LINK_DAG,
                    "t": LINK_TASK,
                    "a": T0 + timedelta(minutes=start),
                    "b": T0 + timedelta(minutes=end),
                },
            )

    def event(self, uri: str, source_dag_id: str, consumed_by: int | None = None) -> None:
        """An asset event of ``uri`` emitted by ``source_dag_id``, consumed by run ``consumed_by``."""
        with self.metadata.begin() as conn:
            asset_id = conn.execute(sa.text("SELECT id FROM asset WHERE uri = :u"), {"u": uri}).scalar()
            if asset_id is None:
                asset_id = conn.execute(
                    sa.text("INSERT INTO asset (uri) VALUES (:u) RETURNING id"), {"u": uri}
                ).scalar_one()
            event_id = conn.execute(
                sa.text("INSERT INTO asset_event (asset_id, source_dag_id) VALUES (:a, :s) RETURNING id"),
                {"a": asset_id, "s": source_dag_id},
            ).scalar_one()
            if consumed_by is not None:
                conn.execute(
                    sa.text("INSERT INTO dagrun_asset_event VALUES (:r, :e)"),
                    {"r": consumed_by, "e": event_id},
                )

    def state(self, expected: int) -> bool:
        """chain_state(...).done."""
        return chain_state(self.warehouse, self.metadata, expected).done


@pytest.fixture
def chain(databases) -> Iterator[Chain]:  # type: ignore[no-untyped-def]
    warehouse = sa.create_engine(databases.create("popdata_test_chain"))
    metadata = sa.create_engine(databases.create("airflow_test_chain"))
    try:
        yield Chain(warehouse, metadata)
    finally:
        warehouse.dispose()
        metadata.dispose()


def _a_whole_chain(chain: Chain) -> tuple[int, int]:
    """Two files published, linked, reconciled; the reconciliation run was created from the
    linkage task's event before the linkage run was marked finished (as Airflow does)."""
    chain.file(REGIONS.feed, minute=1)
    chain.file(REGISTRY.feed, minute=2)
    ingest = chain.run(REGISTRY.dag_id, "success", 1, 3)
    link = chain.run(LINK_DAG, "success", 2.5, 6.01)
    chain.linked(3, 6)
    reconcile = chain.run(RECONCILE_DAG, "success", 6.0, 7)  # starts 0.6 s before the link run ends
    chain.event(REGIONS.asset_uri, REGIONS.dag_id)  # the reference triggers no linkage
    chain.event(REGISTRY.asset_uri, REGISTRY.dag_id, consumed_by=link)
    chain.event("x-popdata://core/record_link", LINK_DAG, consumed_by=reconcile)
    return ingest, link


def test_done_when_the_last_linkage_read_every_publish_and_every_linkage_event_reconciled(
    chain: Chain,
) -> None:
    _a_whole_chain(chain)
    state = chain_state(chain.warehouse, chain.metadata, expected=2)
    assert state.done
    assert state.stage_seconds["link"] == 180  # the linkage task, not its run's wait for the loads
    # a file the drop holds but the ledger does not (not registered yet): not done
    assert not chain.state(expected=3)


def test_a_skipped_linkage_run_needs_no_reconciliation(chain: Chain) -> None:
    """The events of publishes during a linkage queue a second run; it finds nothing new and is skipped."""
    _a_whole_chain(chain)
    chain.run(LINK_DAG, "success", 6.1, 6.2)  # link_persons skipped: no task row, no event
    assert chain.state(expected=2)


def test_not_done_while_a_publish_waits_for_linkage(chain: Chain) -> None:
    _a_whole_chain(chain)
    chain.file(REGISTRY.feed, minute=8)
    chain.event(REGISTRY.asset_uri, REGISTRY.dag_id)  # a later file: no linkage after it yet
    assert not chain.state(expected=3)
    chain.run(LINK_DAG, "success", 8, 9)
    assert not chain.state(expected=3)  # the run is there, its linkage has not read the file
    chain.linked(8, 9)
    chain.event("x-popdata://core/record_link", LINK_DAG)  # the linkage's own event
    assert not chain.state(expected=3)  # linked, but not reconciled yet
    reconcile = chain.run(RECONCILE_DAG, "running", 9, None)
    with chain.metadata.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO dagrun_asset_event SELECT :r, max(id) FROM asset_event"), {"r": reconcile}
        )
    assert not chain.state(expected=3)  # the reconciliation is still running
    with chain.metadata.begin() as conn:
        conn.execute(sa.text("UPDATE dag_run SET state = 'success' WHERE id = :r"), {"r": reconcile})
    assert chain.state(expected=3)


def test_not_done_with_a_file_in_flight(chain: Chain) -> None:
    _a_whole_chain(chain)
    chain.file(REGISTRY.feed, status=None)
    assert not chain.state(expected=3)


def test_a_failed_linkage_run_fails_the_chain(chain: Chain) -> None:
    _a_whole_chain(chain)
    chain.run(LINK_DAG, "failed", 8, 9)
    with pytest.raises(ChainFailed, match=LINK_DAG):
        chain.state(expected=2)
