"""When has the scheduler finished a drop? The chain's state, read from the two databases.

With the services running (``make up``, ``make up-celery``), nothing tells a caller that a drop
has gone all the way: the ingest DAGs scan on their schedule, published feeds trigger linkage
(assets), linkage triggers reconciliation. :func:`chain_state` reads the file ledger (warehouse)
and Airflow's metadata and says whether every file of the drop has its final ledger row, a
linkage run that succeeded started after the last publish of a feed with persons (those trigger
linkage; the region reference and the annual targets do not; linkage reads everything published
when it starts), and every asset event of the linkage runs was consumed by a reconciliation run
that succeeded; and how long each stage took. Used by ``make bench`` and the topology tests.

The second rule follows the asset events (``asset_event`` and ``dagrun_asset_event``), not the
runs' clocks: a reconciliation run is created from the linkage task's event, milliseconds before
the linkage run is marked finished, so "started after the last linkage ended" missed it. The
first cannot: under ``AssetAny`` Airflow links only some of the feeds' events to the linkage run
that consumed them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from popdata.config.feeds import default_feeds
from popdata.ingest import arrive

LINK_DAG = "link__persons"
RECONCILE_DAG = "reconcile__agencies"
CROSS_FEED_DAG = "quality__cross_feed"
INGEST_PREFIX = "ingest__"


def expected_files(landing: Path) -> int:
    """The files of ``landing`` that the ingest DAGs will register (one ledger row each)."""
    return sum(
        len(arrive.find_drops(landing, feed, quiet_seconds=0, now=time.time() + 3600))
        for feed in default_feeds()
    )


class ChainFailed(RuntimeError):
    """A linkage or reconciliation run failed: the chain will not finish by itself."""


@dataclass
class ChainState:
    """Where the chain is."""

    files: int = 0
    in_flight: int = 0
    rows_read: int = 0
    done: bool = False
    stage_seconds: dict[str, float] = field(default_factory=dict)
    """Stage (``ingest``, ``link``, ``reconcile``, ``cross-feed``) → seconds from its first run's
    start to its last run's end."""


def _span(runs: list[sa.Row[tuple[str, str, datetime, datetime]]]) -> float:
    ended = [r for r in runs if r.start_date and r.end_date]
    if not ended:
        return 0.0
    return (max(r.end_date for r in ended) - min(r.start_date for r in ended)).total_seconds()


def chain_state(warehouse: sa.Engine, metadata: sa.Engine, expected: int) -> ChainState:
    """The chain's state (see the module docstring).

    Raises:
        ChainFailed: a linkage or reconciliation run failed.
    """
    state = ChainState()
    person_feeds = [feed.feed for feed in default_feeds() if feed.persons]
    with warehouse.connect() as conn:
        files, in_flight, rows_read, last_publish = conn.execute(
            sa.text(
                "SELECT count(*), count(*) FILTER (WHERE status IS NULL), coalesce(sum(rows_read), 0),"
                " max(published_at) FILTER (WHERE feed = ANY(:person_feeds)) FROM audit.file_ledger"
            ),
            {"person_feeds": person_feeds},
        ).one()
    state.files, state.in_flight, state.rows_read = int(files), int(in_flight), int(rows_read)
    with metadata.connect() as conn:
        runs = conn.execute(
            sa.text("SELECT dag_id, state, start_date, end_date FROM dag_run ORDER BY start_date NULLS LAST")
        ).all()
    failed = [r for r in runs if r.dag_id in (LINK_DAG, RECONCILE_DAG) and r.state == "failed"]
    if failed:
        raise ChainFailed(f"failed runs: {', '.join(f'{r.dag_id} (started {r.start_date})' for r in failed)}")
    state.stage_seconds = {
        "ingest": _span([r for r in runs if r.dag_id.startswith(INGEST_PREFIX) and r.state == "success"]),
        "link": _span([r for r in runs if r.dag_id == LINK_DAG and r.state == "success"]),
        "reconcile": _span([r for r in runs if r.dag_id == RECONCILE_DAG and r.state == "success"]),
        "cross-feed": _span([r for r in runs if r.dag_id == CROSS_FEED_DAG and r.state == "success"]),
    }
    if state.files < expected or state.in_flight or last_publish is None:
        return state
    chain = [r for r in runs if r.dag_id in (LINK_DAG, RECONCILE_DAG)]
    if any(r.state in ("queued", "running") for r in chain):
        return state
    links = [r for r in chain if r.dag_id == LINK_DAG and r.state == "success" and r.start_date]
    if not links or max(r.start_date for r in links) < last_publish:
        return state
    with metadata.connect() as conn:
        linked, unreconciled = _linkage_events(conn)
    state.done = bool(linked and not unreconciled)
    return state


def _linkage_events(conn: sa.Connection) -> tuple[int, int]:
    """(asset events of the linkage runs, those no successful reconciliation run consumed)."""
    row = conn.execute(
        sa.text(
            "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS ("
            "  SELECT 1 FROM dagrun_asset_event d JOIN dag_run r ON r.id = d.dag_run_id"
            "  WHERE d.event_id = e.id AND r.dag_id = :reconcile AND r.state = 'success'))"
            " FROM asset_event e WHERE e.source_dag_id = :link"
        ),
        {"link": LINK_DAG, "reconcile": RECONCILE_DAG},
    ).one()
    return int(row[0]), int(row[1])
