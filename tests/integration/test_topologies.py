"""The Airflow topologies of ``make up`` and ``make up-celery`` run the whole chain alike (issue 9).

Each run (:func:`airflow_harness.run_topology`, shared with the scheduler-restart test) starts
the services the way ``popdata services start`` does (api-server, scheduler, dag-processor,
triggerer, and for Celery two workers behind the machine's Redis at 127.0.0.1:6379 on a queue
of the test's own), on throwaway databases, folders and a free port, with part of the sample
drop (:data:`airflow_harness.DROP`) in the landing folder. The scheduler then does everything by itself: the
ingest DAGs scan the drop on their schedule, the published feeds trigger linkage (assets), linkage
triggers reconciliation. The run is over when every file of the drop has a final ledger row, the
last linkage read every published file and a reconciliation consumed every linkage's event
(:func:`popdata.chain.chain_state`).

Then: the Celery run's tasks ran on both workers (each reports its own host name), and its
warehouse equals the LocalExecutor run's, table by table (every ``mart`` and ``ops`` table, by a
checksum of its rows without the columns that name files or persons by surrogate: file ids and
person keys depend on the order the scheduler happened to run things in) and the person index
as a partition of the records into persons.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from airflow_harness import DROP, TopologyRun, run_topology

pytestmark = [pytest.mark.integration, pytest.mark.topology]


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2):
            return True
    except OSError:
        return False


EXCLUDED_COLUMN = ("file_id", "person_key", "_at", "mention_id")
"""Columns left out of the table checksums: surrogates whose values depend on the order of the
runs (file ids, person keys, mention ids) and instants."""


def table_checksums(engine: sa.Engine) -> dict[str, tuple[int, str]]:
    """``schema.table`` → (rows, md5 of the sorted rows) for every mart and ops table."""
    with engine.connect() as conn:
        columns = conn.execute(
            sa.text(
                "SELECT c.table_schema || '.' || c.table_name AS name, c.column_name FROM information_schema.columns c"
                " JOIN information_schema.tables t USING (table_schema, table_name)"
                " WHERE c.table_schema IN ('mart', 'ops') AND t.table_type = 'BASE TABLE'"
                " ORDER BY 1, c.ordinal_position"
            )
        ).all()
        by_table: dict[str, list[str]] = {}
        for name, column in columns:
            if not any(part in column for part in EXCLUDED_COLUMN):
                by_table.setdefault(name, []).append(column)
        sums: dict[str, tuple[int, str]] = {}
        for name, kept in by_table.items():
            schema, table = name.split(".")
            listed = ", ".join(f'"{c}"' for c in kept)
            rows = (
                conn.execute(sa.text(f'SELECT ({listed})::text AS r FROM "{schema}"."{table}"'))
                .scalars()
                .all()
            )
            digest = hashlib.md5("\n".join(sorted(rows)).encode(), usedforsecurity=False).hexdigest()
            sums[name] = (len(rows), digest)
    return sums


def person_partition(engine: sa.Engine) -> set[frozenset[tuple[str, str, str]]]:
    """The person index as a partition: one set of (feed, source_key, role) per person."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT person_key, feed, source_key, role FROM core.record_link")).all()
    persons: dict[Any, set[tuple[str, str, str]]] = {}
    for key, feed, source_key, role in rows:
        persons.setdefault(key, set()).add((feed, source_key, role))
    return {frozenset(records) for records in persons.values()}


@pytest.fixture(scope="module")
def runs(module_databases: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, TopologyRun]]:
    """The sample drop through the LocalExecutor topology, then through the Celery one."""
    if not _redis_reachable():
        pytest.skip("no Redis at 127.0.0.1:6379 (the Celery broker of make up-celery)")
    done: dict[str, TopologyRun] = {}
    try:
        for executor in ("local", "celery"):
            done[executor] = run_topology(executor, module_databases, tmp_path_factory.mktemp(executor))
        yield done
    finally:
        for run in done.values():
            run.warehouse.dispose()
            run.metadata.dispose()


def _hosts(run: TopologyRun) -> dict[str, int]:
    with run.metadata.connect() as conn:
        return dict(
            conn.execute(
                sa.text(
                    "SELECT hostname, count(*) FROM task_instance WHERE state = 'success' GROUP BY hostname"
                )
            ).all()
        )


def test_celery_tasks_ran_on_both_workers(runs: dict[str, TopologyRun]) -> None:
    hosts = _hosts(runs["celery"])
    assert hosts.get("popdata-worker-1", 0) > 0 and hosts.get("popdata-worker-2", 0) > 0, hosts
    assert set(hosts) == {"popdata-worker-1", "popdata-worker-2"}, hosts
    assert not any(host.startswith("popdata-worker-") for host in _hosts(runs["local"]))


def test_every_file_has_a_final_ledger_row_in_both(runs: dict[str, TopologyRun]) -> None:
    outcomes = []
    for run in runs.values():
        with run.warehouse.connect() as conn:
            outcomes.append(
                sorted(
                    conn.execute(
                        sa.text(
                            "SELECT feed, file_name, status, rows_read, rows_loaded, rows_rejected FROM audit.file_ledger"
                        )
                    ).all()
                )
            )
    assert outcomes[0] == outcomes[1]
    assert len(outcomes[0]) == sum(len(names) for names in DROP.values())


def test_celery_results_equal_the_local_executor_run(runs: dict[str, TopologyRun]) -> None:
    local, celery = (table_checksums(runs[e].warehouse) for e in ("local", "celery"))
    assert len(local) >= 15 and sum(n for n, _ in local.values()) > 0
    differing = {
        name: (local.get(name), celery.get(name))
        for name in local.keys() | celery.keys()
        if local.get(name) != celery.get(name)
    }
    assert differing == {}


def test_the_person_index_is_the_same_partition(runs: dict[str, TopologyRun]) -> None:
    local, celery = (person_partition(runs[e].warehouse) for e in ("local", "celery"))
    assert len(local) > 100
    assert local == celery


def test_the_linkage_ran_once_after_the_loads(runs: dict[str, TopologyRun]) -> None:
    """The first publish triggers the linkage; it waits for the other loads and links them all at once.

    Every ingest run starts together (the DAGs are unpaused by one command and the files are
    there from the start), so one linkage reads every file; the run queued by the publishes
    during the wait finds nothing new and is skipped.
    """
    for executor, run in runs.items():
        with run.warehouse.connect() as conn:
            linkages = conn.execute(sa.text("SELECT published_files FROM audit.link_runs")).scalars().all()
            published = conn.execute(
                sa.text(
                    "SELECT count(*) FROM audit.file_ledger WHERE published_at IS NOT NULL AND feed <> 'regions'"
                )
            ).scalar_one()
        assert linkages == [published], (executor, linkages, published)
        with run.metadata.connect() as conn:
            states = dict(
                conn.execute(
                    sa.text(
                        "SELECT state, count(*) FROM task_instance"
                        " WHERE dag_id = 'link__persons' AND task_id = 'link_persons' GROUP BY state"
                    )
                ).all()
            )
        assert states.get("success") == 1, (executor, states)
