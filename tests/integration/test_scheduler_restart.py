"""The scheduler crashes during a run and is started again: the warehouse ends as a clean run's (issue 10).

What is injected: the LocalExecutor services (``popdata services start --executor local``, as
``make up``) run part of the sample drop (:data:`airflow_harness.DROP`) on throwaway databases
and folders, the whole drop landed at once: the scans of the feeds with region codes hold their
files back until the region reference is published (:func:`popdata.ingest.pipeline.register`),
whatever order the scheduler runs the ingest DAGs in. As soon as one of the files is
half-way through its ``load_file`` task (staged or validated, not yet published), the
scheduler's process group is killed with SIGKILL (a crash, not a clean stop): the scheduler and
the LocalExecutor's workers, which supervise the task processes, die at once. The task
processes, each in its own process group, are orphaned: they go on with their load and die at
their next write to the dead supervisor (the log line after ``pipeline.load``). A few seconds
later ``popdata services start`` is run again with the same environment: it starts what is
not running, i.e. the scheduler alone, the way ``make up`` starts it, its output appended to
``var/logs/scheduler.log``. The restarted scheduler must then take the chain (ingest → linkage
→ reconciliation) to its end by itself (:func:`airflow_harness.wait_for_chain`, timeout
:data:`RECOVERY_TIMEOUT`). In the runs so far it gave every ``load_file`` task instance of the
dead scheduler a second try, which found its file where the first had left it
(:func:`popdata.ingest.pipeline.load` resumes at the ledger's step).

What is compared: the clean reference is the same drop taken through the same steps in
process, without Airflow, into a database of its own: every file registered and loaded
(reference data first), :func:`popdata.linkage.link.run`, :func:`popdata.reconcile.run.reconcile`
and the cross-feed checks (:func:`popdata.quality.cross_feed.run_checks`, what the DAG
``quality__cross_feed`` runs after the publishes), both as of the date the DAGs take (an
asset-triggered run has no logical date: the latest extract date of a loaded file). After the
crash, once the chain and the cross-feed checks have caught up, every file has a final ledger
row and a receipt, the invariants hold (:func:`popdata.quality.invariants.check`) and the
warehouse's fingerprint (:func:`popdata.quality.fingerprint.fingerprint`: one checksum per
table, file ids and person keys labelled, instants left out) equals the reference's in every
table.

``.venv/bin/pytest -m reliability tests/integration/test_scheduler_restart.py`` (about three
minutes; ``-s`` prints what the crash hit).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psutil
import pytest
import sqlalchemy as sa
from airflow_harness import (
    DROP,
    REPO,
    TopologyRun,
    copy_drop,
    diagnosis,
    ledger_states,
    services_running,
    start_services,
    unpause_chain,
    wait_for_chain,
)

from popdata.chain import CROSS_FEED_DAG, RECONCILE_DAG
from popdata.config.settings import load_settings
from popdata.ingest.pipeline import FINAL_STAGES
from popdata.linkage import link
from popdata.monitor.arrivals import latest_loaded_extract
from popdata.quality import cross_feed, fingerprint, invariants
from popdata.reconcile.run import reconcile
from popdata.services import running_pid
from popdata.warehouse import migrate

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

CRASH_WAIT = 300.0
"""Seconds the scheduler gets to take a file half-way through its load before the test gives up."""
DOWN_SECONDS = 5.0
"""How long the scheduler stays dead before it is started again."""
RECOVERY_TIMEOUT = 1200.0
"""Seconds the restarted scheduler gets for the rest of the chain and the cross-feed checks.
Generous: on the development machine it had the task instances of the dead scheduler retried
within half a minute and finished about 65 s after the restart; the margin covers Airflow's task
heartbeat timeout (``[scheduler] task_instance_heartbeat_timeout``, 300 s by default), after
which a task instance left *running* is failed for a retry (``retry_delay`` 30 s)."""


@dataclass
class Crash:
    """What the scheduler was doing when it was killed, and what survived it."""

    scheduler_pid: int
    ledger: list[tuple[Any, ...]]
    """The ledger's (file_id, rel_path, stage, status) at the kill."""
    running: list[tuple[Any, ...]]
    """The running ``load_file`` task instances (dag_id, map_index, try_number) at the kill."""
    orphans: list[psutil.Process]
    """The processes of the scheduler's tree outside its process group (the task processes),
    which the group's SIGKILL does not reach."""


def _clean_reference(engine: sa.Engine, load_drops: Callable[..., None], work: Path) -> date:
    """The drop loaded, linked, reconciled and cross-checked in process into ``engine``'s empty
    database; returns the date the reconciliation and the cross-feed checks were run as of.

    The settings are the services' (:func:`popdata.services.isolated_environment`: no
    ``POPDATA_*`` variable of the caller, local state under ``work/var``), so that nothing is
    written to the repository's ``var/`` (quarantined files, GX validation records).
    """
    landing, outbox = work / "landing", work / "outbox"
    copy_drop(landing)
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("POPDATA_")]:
            patch.delenv(name)
        patch.setenv("POPDATA_HOME", str(REPO))
        patch.setenv("POPDATA_VAR", str(work / "var"))
        migrate.upgrade(engine)
        load_drops(engine, landing, outbox)
        link.run(engine)
        # the reconciliation and cross-feed runs are asset-triggered: no logical date, so
        # orchestration._run_date takes the latest extract date of a loaded file
        with engine.connect() as conn:
            as_of = latest_loaded_extract(conn)
        assert as_of is not None
        reconcile(engine, outbox, as_of)
        cross_feed.run_checks(engine, load_settings(), as_of=as_of)
    return as_of


def _mid_load(run: TopologyRun) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] | None:
    """(ledger, running loads) when a ``load_file`` task runs and a file is half-way through its
    load (staged or validated, not published), else None."""
    ledger = ledger_states(run)
    if not any(status is None and stage in ("staged", "validated") for *_, stage, status in ledger):
        return None
    with run.metadata.connect() as conn:
        running = [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT dag_id, map_index, try_number FROM task_instance"
                    " WHERE dag_id LIKE 'ingest\\_\\_%' AND task_id = 'load_file' AND state = 'running'"
                )
            )
        ]
    return (ledger, running) if running else None


def _crash_scheduler(run: TopologyRun) -> Crash:
    """Wait for a file half-way through its load, then SIGKILL the scheduler's process group."""
    pid_path = run.run_dir / "airflow-scheduler.pid"
    deadline = time.monotonic() + CRASH_WAIT
    while (found := _mid_load(run)) is None:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no file half-way through its load after {CRASH_WAIT:.0f} s\n{diagnosis(run)}"
            )
        time.sleep(0.1)
    pid = running_pid(pid_path)
    assert pid is not None, f"no scheduler running ({pid_path})"
    orphans = [p for p in psutil.Process(pid).children(recursive=True) if _group(p) not in (pid, None)]
    os.killpg(pid, signal.SIGKILL)
    ledger, running = found
    deadline = time.monotonic() + 60
    while running_pid(pid_path) is not None:  # dead, and reaped (a zombie still answers kill(pid, 0))
        assert time.monotonic() < deadline, f"the killed scheduler {pid} is still there after 60 s"
        time.sleep(0.2)
    return Crash(pid, ledger, running, orphans)


def _group(process: psutil.Process) -> int | None:
    """The process group of ``process`` (None when it is gone)."""
    try:
        return os.getpgid(process.pid)
    except ProcessLookupError:
        return None


def _wait_for_cross_feed(run: TopologyRun, *, since: float, timeout: float) -> None:
    """Wait until every publish of the drop's feeds was consumed by a cross-feed run that
    succeeded and no cross-feed run is queued or running (the chain's end does not wait for it)."""
    sources = [f"ingest__{folder.replace('/', '__')}" for folder in DROP]
    while True:
        with run.metadata.connect() as conn:
            events, unchecked = conn.execute(
                sa.text(
                    "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS ("
                    "  SELECT 1 FROM dagrun_asset_event d JOIN dag_run r ON r.id = d.dag_run_id"
                    "  WHERE d.event_id = e.id AND r.dag_id = :dag AND r.state = 'success'))"
                    " FROM asset_event e WHERE e.source_dag_id IN :sources"
                ).bindparams(sa.bindparam("sources", expanding=True)),
                {"dag": CROSS_FEED_DAG, "sources": sources},
            ).one()
            busy = conn.execute(
                sa.text(
                    "SELECT count(*) FROM dag_run WHERE dag_id = :dag AND state IN ('queued', 'running')"
                ),
                {"dag": CROSS_FEED_DAG},
            ).scalar_one()
        if events and not unchecked and not busy:
            return
        if time.monotonic() - since > timeout:
            raise AssertionError(
                f"{CROSS_FEED_DAG}: {unchecked} of {events} publishes not checked, {busy} runs busy"
                f" after {timeout:.0f} s\n{diagnosis(run)}"
            )
        time.sleep(5)


def _retried(run: TopologyRun) -> list[tuple[Any, ...]]:
    """(dag_id, task_id, map_index, state, try_number) of the task instances tried more than once."""
    with run.metadata.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT dag_id, task_id, map_index, state, try_number FROM task_instance"
                    " WHERE try_number > 1 ORDER BY dag_id, task_id, map_index"
                )
            )
        ]


def _kill(processes: list[psutil.Process]) -> list[str]:
    """SIGKILL the processes still alive (those this test's services started); returns what was alive."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
                process.kill()
        except psutil.NoSuchProcess:
            continue
    return alive


@dataclass
class Outcome:
    """The faulty run and the clean reference, for the tests of this module."""

    run: TopologyRun
    crash: Crash
    restart_output: str
    restarted_pid: int | None
    """The scheduler's pid right after the restart."""
    recovery_seconds: float
    orphans_at_end: list[str]
    """Orphaned task processes still alive when the chain had finished (killed then)."""
    clean: sa.Engine
    clean_sums: dict[str, fingerprint.TableSum]
    faulty_sums: dict[str, fingerprint.TableSum]
    as_of: date


@pytest.fixture(scope="module")
def outcome(
    module_databases: Any, load_drops: Callable[..., None], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Outcome]:
    """The clean reference, then the run whose scheduler crashes (services stopped before the tests)."""
    work = tmp_path_factory.mktemp("scheduler_restart")
    clean = sa.create_engine(module_databases.create("popdata_test_clean"))
    faulty: TopologyRun | None = None
    crash: Crash | None = None
    try:
        as_of = _clean_reference(clean, load_drops, work / "clean")
        with services_running("local", module_databases, work / "faulty") as faulty:
            try:
                unpause_chain(faulty)
                crash = _crash_scheduler(faulty)
                time.sleep(DOWN_SECONDS)
                restarted = time.monotonic()
                restart = start_services(faulty)
                new_pid = running_pid(faulty.run_dir / "airflow-scheduler.pid")
                wait_for_chain(faulty, since=restarted, timeout=RECOVERY_TIMEOUT)
                recovery = time.monotonic() - restarted
                _wait_for_cross_feed(faulty, since=restarted, timeout=RECOVERY_TIMEOUT)
            finally:
                orphans_at_end = _kill(crash.orphans) if crash else []
        print(  # shown with -s: what the crash hit and how long the recovery took
            f"scheduler {crash.scheduler_pid} killed; loads running: {crash.running}; ledger: {crash.ledger};"
            f" orphaned task processes: {[p.pid for p in crash.orphans]} (alive at the end: {orphans_at_end});"
            f" chain finished {recovery:.0f} s after the restart; task instances tried more than once:"
            f" {_retried(faulty)}"
        )
        yield Outcome(
            run=faulty,
            crash=crash,
            restart_output=restart.stdout,
            restarted_pid=new_pid,
            recovery_seconds=recovery,
            orphans_at_end=orphans_at_end,
            clean=clean,
            clean_sums=fingerprint.fingerprint(clean),
            faulty_sums=fingerprint.fingerprint(faulty.warehouse),
            as_of=as_of,
        )
    finally:
        clean.dispose()
        if faulty is not None:
            faulty.warehouse.dispose()
            faulty.metadata.dispose()


def test_only_the_scheduler_was_started_again(outcome: Outcome) -> None:
    out = outcome.restart_output
    assert "started scheduler" in out, out
    for other in ("api-server", "dag-processor", "triggerer"):
        assert f"{other} already running" in out, out
    assert outcome.restarted_pid not in (None, outcome.crash.scheduler_pid)
    assert outcome.crash.running, outcome.crash  # the crash hit a load in flight


def test_every_file_has_a_final_ledger_row_and_a_receipt(outcome: Outcome) -> None:
    with outcome.run.warehouse.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT file_id, rel_path, status, stage, sha256, rows_read, receipt_path FROM audit.file_ledger"
            )
        ).all()
    assert len(rows) == outcome.run.expected, rows
    assert all(r.status is not None and r.stage in FINAL_STAGES for r in rows), rows
    for r in rows:
        assert r.receipt_path and Path(r.receipt_path).is_file(), r
        receipt = json.loads(Path(r.receipt_path).read_text(encoding="utf-8"))
        assert (receipt["sha256"], receipt["rows_read"]) == (r.sha256, r.rows_read), (r, receipt)


def test_the_invariants_hold(outcome: Outcome) -> None:
    results = invariants.check(outcome.run.warehouse)
    assert [r.line() for r in results if not r.ok] == []


def test_the_warehouse_equals_the_clean_run(outcome: Outcome) -> None:
    clean, faulty = outcome.clean_sums, outcome.faulty_sums
    assert len(clean) >= 30 and sum(s.rows for s in clean.values()) > 0
    assert fingerprint.differences(clean, faulty) == {}


def test_the_dags_took_the_reference_date_of_the_clean_run(outcome: Outcome) -> None:
    """Every reconciliation and cross-feed run was asset-triggered (no logical date), so its date
    was the latest extract date of a loaded file, as for the clean run (orchestration._run_date)."""
    with outcome.run.metadata.connect() as conn:
        runs = conn.execute(
            sa.text(
                "SELECT dag_id, run_type, logical_date FROM dag_run WHERE dag_id IN (:reconcile, :cross_feed)"
            ),
            {"reconcile": RECONCILE_DAG, "cross_feed": CROSS_FEED_DAG},
        ).all()
    assert {r.dag_id for r in runs} == {RECONCILE_DAG, CROSS_FEED_DAG}, runs
    assert all(r.run_type == "asset_triggered" and r.logical_date is None for r in runs), runs
    with outcome.run.warehouse.connect() as conn:
        assert latest_loaded_extract(conn) == outcome.as_of
