"""Airflow's own services on throwaway databases and folders, for the tests that run the chain
through the scheduler (the topology tests, the scheduler-restart test).

:func:`services_running` starts the services the way ``popdata services start`` does
(api-server, scheduler, dag-processor, triggerer, and for Celery two workers behind the
machine's Redis at 127.0.0.1:6379 on a queue of the test's own), on fresh databases, folders
and a free port, with part of the sample drop (:data:`DROP`) in the landing folder, and stops
them on the way out whatever happened. :func:`unpause_chain` lets the scheduler start;
:func:`wait_for_chain` waits until every file of the drop has a final ledger row, the last
linkage read every published file and a reconciliation consumed every linkage's event
(:func:`popdata.chain.chain_state`), and on a timeout fails with the ledger's states, the task
instances that did not succeed and the end of the scheduler's log.

Not a test module: the tests of this folder import it by its name (pytest puts the folder on
``sys.path``, as no ``__init__.py`` makes ``tests`` a package).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from popdata.chain import ChainFailed, ChainState, chain_state, expected_files
from popdata.services import isolated_environment

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "fixtures" / "sample_landing"
POPDATA = str(Path(sys.executable).with_name("popdata"))
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
CHAIN_TIMEOUT = 900.0
"""Seconds the scheduler gets for the whole chain (about 3 minutes on the development machine)."""

DROP = {
    "stats/regions": ("regions_20111231.csv",),
    "police/household_registry": ("household_registry_20140630.csv",),
    "health/birth_certificates": ("birth_certificates_20140630.csv",),
    "police/birth_registrations": ("birth_registrations_20140630.csv",),
    "health/death_records": ("death_records_20140630.csv",),
    "police/hukou_cancellations": ("hukou_cancellations_20140630.csv",),
}
"""The part of the sample drop each run takes: every kind of feed the chain needs (the region
reference, a registry snapshot, births from health and police, deaths and cancellations), one
file each, so that a scheduler run fits the test suite's time (the whole sample drop is about
250 task instances: ten minutes per topology on two cores). Only these feeds' DAGs and the
chain's are unpaused (:data:`CHAIN_DAGS`): the others would scan an empty folder every two minutes."""

CHAIN_DAGS = (
    *(f"ingest__{folder.replace('/', '__')}" for folder in DROP),
    "link__persons",
    "quality__cross_feed",
    "reconcile__agencies",
)


@dataclass
class TopologyRun:
    """One installation started by :func:`services_running`, and what it left behind."""

    executor: str
    warehouse: sa.Engine
    metadata: sa.Engine
    log_dir: Path
    work: Path
    """``landing``, ``outbox`` and ``var`` (pid files in ``var/run``, logs in ``var/logs``)."""
    env: dict[str, str]
    """The environment the services were started with (``popdata``/``airflow`` commands reuse it)."""
    expected: int
    """Files of the drop: the ledger rows the chain must finish."""
    started: float
    """``time.monotonic()`` when ``popdata services start`` was called."""

    @property
    def landing(self) -> Path:
        return self.work / "landing"

    @property
    def outbox(self) -> Path:
        return self.work / "outbox"

    @property
    def run_dir(self) -> Path:
        return self.work / "var" / "run"


def copy_drop(landing: Path, folders: Iterable[str] = tuple(DROP)) -> None:
    """Copy :data:`DROP` (and the files' manifests), or its ``folders``, from the sample drop into ``landing``."""
    for folder in folders:
        (landing / folder).mkdir(parents=True)
        for name in DROP[folder]:
            for path in (SAMPLE / folder).glob(f"{name}*"):
                shutil.copy2(path, landing / folder / path.name)


def start_services(run: TopologyRun, *, workers: int = 2) -> subprocess.CompletedProcess[str]:
    """``popdata services start --executor <run.executor>`` in the run's environment.

    Starts every service of the topology that is not running (its pid file names no live
    process) and leaves the running ones alone: after a crash it restarts just what died.
    """
    return subprocess.run(
        [POPDATA, "services", "start", "--executor", run.executor, "--workers", str(workers)],
        env=run.env,
        check=True,
        timeout=600,
        capture_output=True,
        text=True,
    )


@contextmanager
def services_running(
    executor: str, databases: Any, work: Path, *, folders: Iterable[str] = tuple(DROP)
) -> Iterator[TopologyRun]:
    """Fresh databases and folders under ``work`` with :data:`DROP` (or its ``folders``) landed,
    the services of ``executor`` started (DAGs paused); stops the services on the way out,
    whatever happened. ``expected`` counts the files landed: a caller that lands more later
    updates it."""
    copy_drop(work / "landing", folders)
    warehouse_url = databases.create("popdata_test_topology")
    metadata_url = databases.create("airflow_test_topology")
    env = isolated_environment(
        REPO,
        work,
        warehouse_url=warehouse_url,
        metadata_url=metadata_url,
        queue=f"popdata_test_{uuid.uuid4().hex[:8]}",
        extra={"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"},
    )
    run = TopologyRun(
        executor,
        sa.create_engine(warehouse_url),
        sa.create_engine(metadata_url),
        work / "var" / "logs",
        work=work,
        env=env,
        expected=expected_files(work / "landing"),
        started=time.monotonic(),
    )
    try:
        start_services(run)
        yield run
    finally:
        subprocess.run([POPDATA, "services", "stop"], env=env, check=False, timeout=300, capture_output=True)


def unpause_chain(run: TopologyRun, dags: Sequence[str] = CHAIN_DAGS) -> None:
    """Unpause ``dags`` (default :data:`CHAIN_DAGS`) once the dag-processor has put every DAG of
    the chain in the metadata database."""
    deadline = time.monotonic() + 300
    while True:
        with run.metadata.connect() as conn:
            known = set(conn.execute(sa.text("SELECT dag_id FROM dag")).scalars())
        if known >= set(CHAIN_DAGS):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"DAGs not parsed after 300 s: {sorted(set(CHAIN_DAGS) - known)}")
        time.sleep(2)
    pattern = "^(" + "|".join(dags) + ")$"
    done = subprocess.run(
        [AIRFLOW, "dags", "unpause", "--treat-dag-id-as-regex", "--yes", pattern],
        env=run.env,
        check=False,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def ledger_states(run: TopologyRun) -> list[tuple[Any, ...]]:
    """(file_id, rel_path, stage, status) of every ledger row, by file id."""
    with run.warehouse.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text("SELECT file_id, rel_path, stage, status FROM audit.file_ledger ORDER BY file_id")
            )
        ]


def unfinished_tasks(run: TopologyRun) -> list[tuple[Any, ...]]:
    """(dag_id, task_id, map_index, state, try_number) of every task instance that has not succeeded."""
    with run.metadata.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT dag_id, task_id, map_index, state, try_number FROM task_instance"
                    " WHERE state IS DISTINCT FROM 'success' AND state IS DISTINCT FROM 'skipped'"
                    " ORDER BY dag_id, task_id, map_index"
                )
            )
        ]


def log_tail(run: TopologyRun, service: str = "scheduler", lines: int = 60) -> str:
    """The last ``lines`` lines of ``var/logs/<service>.log``."""
    path = run.log_dir / f"{service}.log"
    if not path.exists():
        return f"(no {path})"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def diagnosis(run: TopologyRun) -> str:
    """Where the chain is stuck: the ledger's states, the unfinished task instances, the scheduler's log."""
    parts = [f"logs in {run.log_dir}", "ledger (file_id, rel_path, stage, status):"]
    parts += [f"  {row}" for row in ledger_states(run)]
    parts.append("task instances not succeeded (dag_id, task_id, map_index, state, try_number):")
    parts += [f"  {row}" for row in unfinished_tasks(run)]
    parts += ["last lines of the scheduler's log:", log_tail(run)]
    return "\n".join(parts)


def wait_for_chain(run: TopologyRun, *, since: float, timeout: float = CHAIN_TIMEOUT) -> ChainState:
    """Wait until :func:`popdata.chain.chain_state` says the drop went all the way through.

    Fails (with :func:`diagnosis`) when ``timeout`` seconds have passed since ``since``
    (a ``time.monotonic()`` value), or when a linkage or reconciliation run failed.
    """
    while True:
        try:
            state = chain_state(run.warehouse, run.metadata, run.expected)
        except ChainFailed as failed:
            raise AssertionError(f"{run.executor}: {failed}\n{diagnosis(run)}") from failed
        if state.done:
            return state
        if time.monotonic() - since > timeout:
            raise AssertionError(
                f"{run.executor}: the chain did not finish in {timeout:.0f} s ({state.files} of "
                f"{run.expected} files registered, {state.in_flight} in flight)\n{diagnosis(run)}"
            )
        time.sleep(5)


def run_topology(executor: str, databases: Any, work: Path) -> TopologyRun:
    """Start the services of ``executor`` on fresh databases and folders, wait for the chain, stop them."""
    with services_running(executor, databases, work) as run:
        unpause_chain(run)
        wait_for_chain(run, since=run.started)
    return run
