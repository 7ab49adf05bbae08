"""``make bench``: generated counties through the whole chain, on both Airflow topologies (issue 9).

For each size (default 100 000, 300 000 and 1 000 000 persons) and each topology (``local``:
LocalExecutor; ``celery``: CeleryExecutor with two workers on the Redis at 127.0.0.1:6379):

1. generate the county once (cached under ``var/bench-link/persons_<N>_seed_<S>/``, shared with
   ``make bench-link``; in a child process);
2. hard-link its drop into a fresh landing folder, create a fresh warehouse and Airflow metadata
   database on the configured server (the embedded default unless ``POPDATA_WAREHOUSE_URL`` and
   ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` name another), and start the topology's services with
   ``popdata services start`` on a free port and a queue of its own
   (:func:`popdata.services.isolated_environment`; the migrations are done when it returns, and
   the clock starts then);
3. let the scheduler do everything (every feed's ingest with validation, linkage, cross-feed
   suites, reconciliation) until :func:`popdata.chain.chain_state` says the chain is done, sampling
   memory every second: the proportional set size (PSS: shared pages counted once) of every
   Airflow process and its children (task processes, DuckDB inside linkage), and of the
   PostgreSQL server;
4. stop the services and drop both databases.

Prints one table: wall time (services started and migrated → chain done), each stage's span from the DAG runs
(first start to last end: stages overlap, the scheduler runs them as data arrives), rows read per
second of wall time, peak memory; then the targets: 1 000 000 persons in under 20 minutes, peak
under 8 GiB, each tripling of persons at most 3.5× the time. Figures are printed, never asserted.

    python -m popdata.bench_e2e [--persons 100000 300000 1000000] [--executor local celery] [--seed S]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from popdata import bench_link, services
from popdata.chain import ChainFailed, chain_state, expected_files
from popdata.config.settings import load_settings
from popdata.progress import new_table, print_renderables, progress_bar
from popdata.warehouse import db

SIZES = (100_000, 300_000, 1_000_000)
EXECUTORS = ("local", "celery")
STAGES = ("ingest", "link", "cross-feed", "reconcile")
STAGE_HEADERS = {"ingest": "ingest s", "link": "link s", "cross-feed": "xfeed s", "reconcile": "recon s"}
TARGET_1M_SECONDS = 20 * 60
TARGET_PEAK_MIB = 8 * 1024
TARGET_TRIPLING = 3.5


@dataclass
class E2EResult:
    """One size on one topology."""

    persons: int
    executor: str
    wall_seconds: float | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    files: int = 0
    rows_read: int = 0
    peak_airflow_mib: float = 0.0
    peak_postgres_mib: float = 0.0
    #: task id → (task instances, seconds they ran in all): where the time went
    tasks: dict[str, tuple[int, float]] = field(default_factory=dict)
    error: str | None = None

    @property
    def peak_mib(self) -> float:
        """Airflow (with its tasks) and PostgreSQL together."""
        return self.peak_airflow_mib + self.peak_postgres_mib


class MemorySampler(threading.Thread):
    """Samples, every ``interval`` seconds, the PSS of the process trees of some pids (read from
    pid files as they appear) and of the PostgreSQL server; keeps the peaks."""

    def __init__(self, pid_files: list[Path], postgres_root: int | None, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid_files, self.postgres_root, self.interval = pid_files, postgres_root, interval
        self.peak_airflow = 0.0
        self.peak_postgres = 0.0
        self._stop_event = threading.Event()

    @staticmethod
    def _tree_pss(pid: int) -> float:
        import psutil

        try:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for process in processes:
            try:
                total += process.memory_full_info().pss
            except psutil.Error:
                continue
        return total / 2**20

    def run(self) -> None:
        """Sample until :meth:`stop`."""
        while not self._stop_event.wait(self.interval):
            pids = []
            for path in self.pid_files:
                try:
                    pids.append(int(path.read_text().strip()))
                except (OSError, ValueError):
                    continue
            self.peak_airflow = max(self.peak_airflow, sum(self._tree_pss(pid) for pid in pids))
            if self.postgres_root:
                self.peak_postgres = max(self.peak_postgres, self._tree_pss(self.postgres_root))

    def stop(self) -> None:
        """End the sampling."""
        self._stop_event.set()
        self.join(timeout=10)


def _postgres_root(server_url: sa.URL) -> int | None:
    """The postmaster's pid of the server (asked of the server itself: its data directory)."""
    engine = sa.create_engine(server_url.set(database="postgres"))
    try:
        with engine.connect() as conn:
            data_dir = conn.execute(sa.text("SHOW data_directory")).scalar_one()
        pid_line = (Path(data_dir) / "postmaster.pid").read_text().splitlines()[0]
        return int(pid_line)
    except (OSError, ValueError, sa.exc.SQLAlchemyError):
        return None  # another machine's server or no right to read its folder: not sampled
    finally:
        engine.dispose()


def run_once(persons: int, seed: int, executor: str, *, timeout: float) -> E2EResult:
    """One size through the chain on one topology (the module docstring's steps 2–4)."""
    result = E2EResult(persons, executor)
    settings = load_settings()
    server = make_url(db.warehouse_url(settings))
    metadata_server = make_url(db.airflow_metadata_url(settings))
    tag = uuid.uuid4().hex[:8]
    warehouse_url = server.set(database=f"popdata_bench_e2e_{tag}").render_as_string(hide_password=False)
    metadata_url = metadata_server.set(database=f"airflow_bench_e2e_{tag}").render_as_string(
        hide_password=False
    )
    work = Path(tempfile.mkdtemp(prefix=f"popdata-bench-e2e-{executor}-"))
    landing, var = work / "landing", work / "var"
    shutil.copytree(bench_link.cache_dir(persons, seed) / "landing", landing, copy_function=os.link)
    expected = expected_files(landing)
    env = services.isolated_environment(
        settings.home,
        work,
        warehouse_url=warehouse_url,
        metadata_url=metadata_url,
        queue=f"popdata_bench_{tag}",
    )
    for url in (warehouse_url, metadata_url):
        db.ensure_database(url)
    warehouse, metadata = sa.create_engine(warehouse_url), sa.create_engine(metadata_url)
    popdata = str(Path(sys.executable).with_name("popdata"))
    pid_files = [
        var / "run" / f"airflow-{s.name}.pid"
        for s in services.Topology(executor=executor, workers=2 if executor == "celery" else 0).services()  # type: ignore[arg-type]
    ]
    sampler = MemorySampler(pid_files, _postgres_root(server))
    try:
        sampler.start()
        # both databases are migrated by `services start`, before the clock starts: a deployment
        # has them already
        subprocess.run(
            [popdata, "services", "start", "--executor", executor, "--workers", "2"],
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
        started = time.monotonic()
        while True:
            state = chain_state(warehouse, metadata, expected)
            if state.done:
                result.wall_seconds = time.monotonic() - started
                break
            if time.monotonic() - started > timeout:
                result.error = f"not done after {timeout:.0f} s ({state.files}/{expected} files)"
                break
            time.sleep(2)
        result.stage_seconds, result.files, result.rows_read = (
            state.stage_seconds,
            state.files,
            state.rows_read,
        )
        result.tasks = task_seconds(metadata)
    except ChainFailed as exc:
        result.error = str(exc)
    except subprocess.CalledProcessError as exc:
        result.error = (
            f"{' '.join(exc.cmd[1:3])} failed: {(exc.stderr or b'').decode(errors='replace')[-500:]}"
        )
    finally:
        subprocess.run([popdata, "services", "stop"], env=env, check=False, capture_output=True, timeout=300)
        sampler.stop()
        result.peak_airflow_mib, result.peak_postgres_mib = sampler.peak_airflow, sampler.peak_postgres
        warehouse.dispose()
        metadata.dispose()
        for url in (warehouse_url, metadata_url):
            db.drop_database(url)
        if result.error:
            print(f"{persons} persons on {executor}: {result.error}; logs in {var / 'logs'}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return result


def task_seconds(metadata: sa.Engine) -> dict[str, tuple[int, float]]:
    """Task instances a worker ran (a scan that skipped included, not the tasks the scheduler
    skipped after it) and their seconds, summed per task id, from Airflow's metadata."""
    with metadata.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT task_id, count(*) AS n,"
                " coalesce(sum(extract(epoch FROM end_date - start_date)), 0) AS seconds"
                " FROM task_instance WHERE coalesce(hostname, '') <> ''"  # a worker ran it
                " AND start_date IS NOT NULL GROUP BY task_id"
            )
        ).all()
    return {str(r.task_id): (int(r.n), float(r.seconds)) for r in rows}


def tasks_table(results: list[E2EResult]) -> Table:
    """Per task id: instances and seconds run (summed over instances), for each run."""
    task_ids = sorted(
        {t for r in results for t in r.tasks},
        key=lambda t: -max(r.tasks.get(t, (0, 0.0))[1] for r in results),
    )
    columns: list[str | tuple[str, str]] = [
        "task",
        *((f"{r.persons:,} {r.executor}", "right") for r in results),
    ]
    table = new_table("task instances × seconds run, summed (where the time goes)", columns)
    for task_id in task_ids:
        cells = []
        for r in results:
            n, seconds = r.tasks.get(task_id, (0, 0.0))
            cells.append(f"{n} × {seconds / n:.1f} = {seconds:.0f}" if n else "")
        table.add_row(task_id, *cells)
    return table


def results_table(results: list[E2EResult]) -> Table:
    """One row per size and topology; peak MiB is Airflow's (with its tasks) + PostgreSQL's."""
    columns: list[str | tuple[str, str]] = [
        ("persons", "right"),
        "on",
        ("files", "right"),
        ("rows", "right"),
        ("wall s", "right"),
        *((STAGE_HEADERS[stage], "right") for stage in STAGES),
        ("rows/s", "right"),
        ("peak MiB", "right"),
        "status",
    ]
    table = new_table(None, columns)
    for r in results:
        wall = r.wall_seconds
        table.add_row(
            f"{r.persons:,}",
            r.executor,
            f"{r.files:,}",
            f"{r.rows_read:,}",
            "" if wall is None else f"{wall:.0f}",
            *(f"{r.stage_seconds.get(stage, 0.0):.0f}" for stage in STAGES),
            "" if not wall else f"{r.rows_read / wall:,.0f}",
            f"{r.peak_airflow_mib:,.0f}+{r.peak_postgres_mib:,.0f}",
            r.error or "done",
        )
    return table


def target_lines(results: list[E2EResult]) -> list[str]:
    """The issue's targets, judged on the results (growth ratios between consecutive sizes)."""
    lines: list[str] = []
    for executor in dict.fromkeys(r.executor for r in results):
        done = sorted(
            (r for r in results if r.executor == executor and r.wall_seconds), key=lambda r: r.persons
        )
        for smaller, larger in itertools.pairwise(done):
            assert smaller.wall_seconds and larger.wall_seconds
            ratio = larger.wall_seconds / smaller.wall_seconds
            size = larger.persons / smaller.persons
            verdict = "met" if ratio <= TARGET_TRIPLING * size / 3 else "NOT met"
            lines.append(
                f"{executor}: {smaller.persons:,} → {larger.persons:,} persons ({size:.2f}x): time {ratio:.2f}x "
                f"(target ≤ {TARGET_TRIPLING}x per tripling: {verdict})"
            )
        for r in done:
            if r.persons == 1_000_000:
                assert r.wall_seconds
                verdict = "met" if r.wall_seconds < TARGET_1M_SECONDS else "NOT met"
                lines.append(
                    f"{executor}: 1,000,000 persons end to end in {r.wall_seconds / 60:.1f} min (target < 20 min: {verdict})"
                )
        peak = max((r.peak_mib for r in results if r.executor == executor), default=0.0)
        verdict = "met" if peak < TARGET_PEAK_MIB else "NOT met"
        lines.append(
            f"{executor}: peak memory {peak:,.0f} MiB, Airflow + PostgreSQL (target < 8 GiB: {verdict})"
        )
    return lines


def report(results: list[E2EResult]) -> list[RenderableType]:
    """What ``make bench`` prints."""
    return [
        Text("\npopdata bench — whole chain per size and topology (stages overlap; spans from the DAG runs)"),
        results_table(results),
        tasks_table(results),
        *(Text(line) for line in target_lines(results)),
    ]


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--executor", choices=EXECUTORS, nargs="+", default=list(EXECUTORS))
    parser.add_argument("--seed", type=int, default=2014)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds one run may take")
    args = parser.parse_args(argv)
    results: list[E2EResult] = []
    steps = len(args.persons) * (1 + len(args.executor))
    with progress_bar(
        steps, "popdata bench", lines=True, console=Console(stderr=True), transient=True
    ) as bar:
        for persons in args.persons:
            with bar.step(f"generate {persons:,} persons (cached)"):
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "popdata.bench_link",
                        "--persons",
                        str(persons),
                        "--seed",
                        str(args.seed),
                        "--prepare-only",
                    ],
                    check=True,
                )
            for executor in args.executor:
                with bar.step(f"{persons:,} persons on {executor}"):
                    results.append(run_once(persons, args.seed, executor, timeout=args.timeout))
    print_renderables(report(results))


if __name__ == "__main__":
    main()
