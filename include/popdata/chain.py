"""When has the scheduler finished a drop? The chain's state, read from the two databases.

With the services running (``make up``, ``make up-celery``), nothing tells a caller that a drop
has gone all the way: the ingest DAGs scan on their schedule, published feeds trigger linkage
(assets), linkage triggers reconciliation. :func:`chain_state` reads the warehouse (the file
ledger and the linkage runs' ledger) and Airflow's metadata and says whether every file of the
drop has its final ledger row, the latest linkage read every file published so far
(:func:`popdata.linkage.runs.linked_everything`: the region reference and the annual targets
describe no persons and trigger no linkage), no linkage or reconciliation run is queued or
running, and every asset event of the linkage runs was consumed by a reconciliation run that
succeeded; and how long each stage took. Used by ``make bench`` and the topology tests.

The last rule follows the asset events (``asset_event`` and ``dagrun_asset_event``), not the
runs' clocks: a reconciliation run is created from the linkage task's event, milliseconds before
the linkage run is marked finished, so "started after the last linkage ended" missed it. A
linkage run that found nothing new is skipped and emits no event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from popdata.config.feeds import default_feeds
from popdata.ingest import arrive
from popdata.linkage import runs as link_runs

LINK_DAG = "link__persons"
#: The linkage task: the link stage is its span (the run starts earlier and waits for the loads).
LINK_TASK = "link_persons"
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
    start to its last run's end (``link``: of the ``link_persons`` task instances that ran)."""


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
    feeds = default_feeds()
    with warehouse.connect() as conn:
        files, in_flight, rows_read = conn.execute(
            sa.text(
                "SELECT count(*), count(*) FILTER (WHERE status IS NULL), coalesce(sum(rows_read), 0)"
                " FROM audit.file_ledger"
            )
        ).one()
        linked = link_runs.linked_everything(conn, feeds)
    state.files, state.in_flight, state.rows_read = int(files), int(in_flight), int(rows_read)
    with metadata.connect() as conn:
        runs = conn.execute(
            sa.text("SELECT dag_id, state, start_date, end_date FROM dag_run ORDER BY start_date NULLS LAST")
        ).all()
        linkage = conn.execute(
            sa.text(
                "SELECT dag_id, state, start_date, end_date FROM task_instance"
                " WHERE dag_id = :link AND task_id = :task AND state = 'success'"
            ),
            {"link": LINK_DAG, "task": LINK_TASK},
        ).all()
    failed = [r for r in runs if r.dag_id in (LINK_DAG, RECONCILE_DAG) and r.state == "failed"]
    if failed:
        raise ChainFailed(f"failed runs: {', '.join(f'{r.dag_id} (started {r.start_date})' for r in failed)}")
    state.stage_seconds = {
        "ingest": _span([r for r in runs if r.dag_id.startswith(INGEST_PREFIX) and r.state == "success"]),
        "link": _span(list(linkage)),
        "reconcile": _span([r for r in runs if r.dag_id == RECONCILE_DAG and r.state == "success"]),
        "cross-feed": _span([r for r in runs if r.dag_id == CROSS_FEED_DAG and r.state == "success"]),
    }
    if state.files < expected or state.in_flight or not linked:
        return state
    if any(r.state in ("queued", "running") for r in runs if r.dag_id in (LINK_DAG, RECONCILE_DAG)):
        return state
    with metadata.connect() as conn:
        events, unreconciled = _linkage_events(conn)
    state.done = bool(events and not unreconciled)
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
