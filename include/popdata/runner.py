"""``popdata run``: process every pending drop of a landing folder through the real Airflow DAGs.

The DAGs run in this process with ``dag.test()`` against Airflow's metadata
database (the embedded default's ``airflow`` database unless
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` says otherwise): the same DAGs, tasks
and code path as the scheduler, without needing one to be up.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from popdata import airflow_env
from popdata.config.feeds import Feed, default_feeds
from popdata.config.settings import Settings
from popdata.ingest import arrive
from popdata.progress import new_table, progress_bar
from popdata.warehouse import db, migrate

log = logging.getLogger(__name__)

# Reference data first: region names in other feeds resolve against stats/regions.
_AGENCY_ORDER = {"stats": 0, "police": 1, "health": 2, "fp": 3}


@dataclass
class RunReport:
    """What one ``popdata run`` did."""

    as_of: date | None
    dag_runs: dict[str, str] = field(default_factory=dict)
    dag_seconds: dict[str, float] = field(default_factory=dict)
    failed_tasks: dict[str, list[str]] = field(default_factory=dict)
    unconfigured: list[Path] = field(default_factory=list)
    waited_seconds: float = 0.0
    seconds: float = 0.0
    data_docs: Path | None = None
    village_files: list[Path] = field(default_factory=list)
    """Files written from accepted village reports before the run (popdata.intake.batch)."""

    @property
    def failed(self) -> list[str]:
        """DAG ids whose run did not succeed."""
        return [d for d, state in self.dag_runs.items() if state != "success"]


def feeds_with_files(landing: Path, feeds: tuple[Feed, ...]) -> list[Feed]:
    """Configured feeds that have at least one data file in the landing folder, reference data first."""
    chosen = [
        f for f in feeds if any(arrive.is_data_file(p) for p in (landing / f.agency / f.feed).glob("*"))
    ]
    return sorted(chosen, key=lambda f: (_AGENCY_ORDER.get(f.agency, 9), f.feed))


def reference_date(landing: Path, feeds: list[Feed]) -> date | None:
    """The latest extract date among the files (manifests first, then file names)."""
    latest: date | None = None
    for feed in feeds:
        for path in (landing / feed.agency / feed.feed).glob("*"):
            if not path.is_file() or not arrive.is_data_file(path):
                continue
            found: date | None = None
            manifest = path.with_name(path.name + arrive.MANIFEST_SUFFIX)
            if manifest.is_file():
                with contextlib.suppress(arrive.ManifestError):
                    found = arrive.manifest_extract_date(arrive.read_manifest(manifest))
            found = found or arrive.check_file_name(path.name, feed.feed).extract_date
            if found and (latest is None or found > latest):
                latest = found
    return latest


def wait_until_quiet(landing: Path, feeds: list[Feed], quiet_seconds: float) -> float:
    """Sleep until every file without a manifest has been still for the quiet period; returns seconds waited."""
    waited = 0.0
    while True:
        drops = [
            d
            for f in feeds
            for d in arrive.find_drops(landing, f, quiet_seconds=quiet_seconds, now=time.time())
        ]
        busy = [d for d in drops if not d.complete]
        if not busy:
            return waited
        newest = max(d.path.stat().st_mtime for d in busy)
        pause = max(0.5, min(quiet_seconds, newest + quiet_seconds - time.time()))
        print(f"waiting {pause:.0f}s: {len(busy)} file(s) changed less than {quiet_seconds:.0f}s ago")
        time.sleep(pause)
        waited += pause


def prepare_airflow(settings: Settings, *, verbose: bool = False) -> None:
    """Point Airflow at this project and migrate its metadata database when needed."""
    import os

    if not verbose:
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    airflow_env.apply(settings, db.airflow_metadata_url(settings))
    from airflow.utils import db as airflow_db

    if not _airflow_metadata_current(airflow_db):
        with contextlib.redirect_stdout(io.StringIO()):
            airflow_db.upgradedb()


def _airflow_metadata_current(airflow_db: Any) -> bool:
    """True when Airflow's metadata database is at the head revision of this Airflow."""
    from airflow.utils.session import create_session
    from alembic.script import ScriptDirectory

    try:
        heads = set(ScriptDirectory.from_config(airflow_db._get_alembic_config()).get_heads())
        with create_session() as session:
            current = airflow_db._get_current_revision(session)
    except Exception:  # any doubt: let upgradedb decide
        return False
    return current is not None and current in heads


def run(
    settings: Settings,
    *,
    landing: Path,
    outbox: Path,
    as_of: date | None = None,
    quiet_seconds: float | None = None,
    verbose: bool = False,
    progress: bool = True,
) -> RunReport:
    """Run the ingest DAG of every feed with files in ``landing``; returns what happened.

    ``progress`` shows a bar over the DAG runs (the current DAG id and the elapsed time)
    when stdout is a terminal, one line per DAG run otherwise; with ``verbose`` (Airflow's
    own log lines on screen) it is always one line per DAG run.
    """
    started = time.monotonic()
    landing, outbox = landing.resolve(), outbox.resolve()
    if not landing.is_dir():
        raise FileNotFoundError(f"landing folder {landing} does not exist")
    outbox.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(db.get_engine(settings))
    # accepted village reports (村级直报) become files of fp/village_reports first, so that this run
    # loads them like any drop (the scheduler's batching DAG does the same every few minutes)
    from popdata.intake import batch

    village_files = [b.path for b in batch.write_pending(db.pipeline_engine(settings), landing)]
    feeds = default_feeds()
    chosen = feeds_with_files(landing, feeds)
    report = RunReport(as_of=as_of or reference_date(landing, chosen), village_files=village_files)
    report.unconfigured = arrive.unconfigured_files(landing, feeds)
    quiet = settings.quiet_seconds if quiet_seconds is None else quiet_seconds
    report.waited_seconds = wait_until_quiet(landing, chosen, quiet)

    prepare_airflow(settings, verbose=verbose)
    from popdata.orchestration import (
        build_cross_feed_dag,
        build_feed_dag,
        build_link_dag,
        build_monitor_dag,
        build_reconcile_dag,
    )

    logical = datetime.combine(report.as_of or date.today(), datetime.min.time(), tzinfo=UTC)
    conf: dict[str, Any] = {"landing": str(landing), "outbox": str(outbox), "quiet_seconds": quiet}
    dags = [(build_feed_dag(feed), conf) for feed in chosen]
    if chosen:
        # what the scheduler does through assets: linkage after the feeds publish, reconciliation
        # after linkage, cross-feed suites after the feeds publish
        dags.append((build_link_dag(feeds), {}))
        dags.append((build_reconcile_dag(), {"outbox": str(outbox)}))
        dags.append((build_cross_feed_dag(feeds), {}))
        # the daily arrival check, as of the run's reference date (its logical date)
        dags.append((build_monitor_dag(), {}))
    # with --verbose, Airflow's log lines would tear a live bar: one plain line per DAG run instead
    with progress_bar(len(dags), "running DAG", enabled=progress, lines=True, live=not verbose) as bar:
        for dag, dag_conf in dags:
            with bar.step(dag.dag_id):
                dag_started = time.monotonic()
                dag_run = dag.test(logical_date=logical, run_conf=dag_conf)
                report.dag_seconds[dag.dag_id] = time.monotonic() - dag_started
            state = str(getattr(dag_run.state, "value", dag_run.state))
            report.dag_runs[dag.dag_id] = state
            if state != "success":
                report.failed_tasks[dag.dag_id] = _failed_tasks(settings, dag.dag_id, dag_run.run_id)
    report.data_docs = _data_docs_index(settings)
    report.seconds = time.monotonic() - started
    return report


def _data_docs_index(settings: Settings) -> Path | None:
    """The Data Docs site's ``index.html`` when the DAGs' ``build_data_docs`` tasks built one."""
    from popdata.quality import docs

    index = docs.index_path(docs.docs_root(settings))
    return index if index.is_file() else None


_HEADLINE_SQL = """
SELECT reference_date, sum(persons) AS persons,
       sum(persons) FILTER (WHERE sex = 'M') AS men,
       sum(persons) FILTER (WHERE sex = 'F') AS women,
       count(DISTINCT village_code) AS villages
FROM mart.population
GROUP BY reference_date ORDER BY reference_date DESC LIMIT 1
"""


def _failed_tasks(settings: Settings, dag_id: str, run_id: str) -> list[str]:
    """``task[map index]: state`` of the task instances of a run that did not succeed."""
    engine = sa.create_engine(db.airflow_metadata_url(settings))
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text(
                    "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = :d AND run_id = :r"
                    " AND state IN ('failed', 'upstream_failed') ORDER BY task_id, map_index"
                ),
                {"d": dag_id, "r": run_id},
            ).all()
    finally:
        engine.dispose()
    return [f"{t.task_id}{f'[{t.map_index}]' if t.map_index >= 0 else ''}: {t.state}" for t in found]


_FEEDS_SQL = """
SELECT agency, feed, count(*) AS files,
       count(*) FILTER (WHERE status = 'loaded') AS loaded,
       count(*) FILTER (WHERE status = 'loaded_with_rejections') AS with_rejections,
       count(*) FILTER (WHERE status = 'quarantined') AS quarantined,
       count(*) FILTER (WHERE status = 'duplicate') AS duplicate,
       count(*) FILTER (WHERE status IS NULL) AS in_flight,
       coalesce(sum(rows_read), 0) AS rows_read, coalesce(sum(rows_loaded), 0) AS rows_loaded,
       coalesce(sum(rows_rejected), 0) AS rows_rejected
FROM audit.file_ledger GROUP BY agency, feed ORDER BY agency, feed
"""

# the per-feed figures of the summary, in the order of its columns
FEED_COUNTS = (
    "files",
    "loaded",
    "with_rejections",
    "quarantined",
    "duplicate",
    "in_flight",
    "rows_read",
    "rows_loaded",
    "rows_rejected",
)


@dataclass(frozen=True)
class FeedFiles:
    """The ledger's figures of one feed: files by status and rows read, loaded and rejected."""

    agency: str
    feed: str
    files: int
    loaded: int
    with_rejections: int
    quarantined: int
    duplicate: int
    in_flight: int
    rows_read: int
    rows_loaded: int
    rows_rejected: int

    @property
    def name(self) -> str:
        """``agency/feed``."""
        return f"{self.agency}/{self.feed}"


@dataclass(frozen=True)
class Summary:
    """What :func:`summary` prints, gathered once: ledger figures, warehouse notes and the run."""

    feeds: list[FeedFiles]
    notes: list[str]  # mart.population availability, cross-feed checks, the headline figures
    report: RunReport | None = None


def collect_summary(engine: sa.Engine, report: RunReport | None = None) -> Summary:
    """Read the ledger, the cross-feed checks and the population headline from the warehouse."""
    notes: list[str] = []
    with engine.connect() as conn:
        feeds = [
            FeedFiles(agency=r["agency"], feed=r["feed"], **{k: int(r[k]) for k in FEED_COUNTS})
            for r in conn.execute(sa.text(_FEEDS_SQL)).mappings().all()
        ]
        try:
            latest = conn.execute(sa.text(_HEADLINE_SQL)).mappings().first()
        except sa.exc.DBAPIError as exc:
            conn.rollback()
            latest = None
            notes.append(f"mart.population unavailable: {str(exc.orig).splitlines()[0]}")
        try:
            checks = conn.execute(
                sa.text(
                    "SELECT DISTINCT ON (suite) suite, batch, success, unexpected_count, element_count"
                    " FROM audit.dq_results WHERE batch IS NOT NULL ORDER BY suite, batch DESC"
                )
            ).all()
        except sa.exc.DBAPIError:  # a warehouse not yet migrated to 0004
            conn.rollback()
            checks = []
        for check in checks:
            notes.append(
                f"cross-feed {check.suite.removeprefix('cross_feed__')} ({check.batch}): "
                f"{'passed' if check.success else 'FAILED'}, {check.unexpected_count} of "
                f"{check.element_count} rows unexpected"
            )
        if latest:
            ratio = f"{100 * latest['men'] / latest['women']:.1f}" if latest["women"] else "n/a"
            notes.append(
                f"mart.population at {latest['reference_date']}: {latest['persons']} registered persons "
                f"in {latest['villages']} villages (men {latest['men']}, women {latest['women']}, "
                f"{ratio} men per 100 women)"
            )
    return Summary(feeds=feeds, notes=notes, report=report)


def feed_lines(feeds: list[FeedFiles]) -> list[str]:
    """The per-feed figures as a fixed-width text table (``popdata status``)."""
    lines = [
        f"{'feed':<32}{'files':>6}{'loaded':>8}{'w/rej':>7}{'quar':>6}{'dup':>5}"
        f"{'rows read':>11}{'loaded':>10}{'rejected':>10}"
    ]
    for r in feeds:
        lines.append(
            f"{r.name:<32}{r.files:>6}{r.loaded:>8}{r.with_rejections:>7}"
            f"{r.quarantined:>6}{r.duplicate:>5}{r.rows_read:>11}{r.rows_loaded:>10}"
            f"{r.rows_rejected:>10}"
        )
    if not feeds:
        lines.append("(no files in the ledger yet)")
    return lines


def run_lines(report: RunReport) -> list[str]:
    """One line per DAG run (and its failed tasks), unconfigured files, Data Docs, reference date, time."""
    lines: list[str] = []
    for dag_id, state in report.dag_runs.items():
        lines.append(f"DAG run {dag_id}: {state}")
        lines.extend(f"    {task}" for task in report.failed_tasks.get(dag_id, []))
    if report.failed_tasks:
        lines.append("(popdata run --verbose shows Airflow's log with each task's error)")
    if report.unconfigured:
        lines.append(
            f"{len(report.unconfigured)} file(s) belong to feeds this version does not ingest yet; "
            "they stay in the landing folder untouched, e.g. "
            + ", ".join(p.name for p in report.unconfigured[:3])
        )
    if report.village_files:
        lines.append(
            f"{len(report.village_files)} file(s) written from accepted village reports (村级直报), e.g. "
            + ", ".join(p.name for p in report.village_files[:3])
        )
    if report.data_docs is not None:
        lines.append(f"Data Docs (数据质量文档): {report.data_docs.as_uri()}")
    lines.append(f"as of {report.as_of}; took {report.seconds:.1f}s")
    return lines


def summary_text(data: Summary) -> str:
    """:class:`Summary` as plain text: the feed table, the notes, then the run's lines."""
    lines = feed_lines(data.feeds) + data.notes
    if data.report is not None:
        lines += run_lines(data.report)
    return "\n".join(lines)


def summary(engine: sa.Engine, report: RunReport | None = None) -> str:
    """A readable summary of the warehouse: files by status, rows, and headline figures."""
    return summary_text(collect_summary(engine, report))


def files_table(feeds: list[FeedFiles]) -> Table:
    """The ledger's files per feed: status counts and rows read, loaded and rejected, with totals.

    Files by status: loaded, loaded with rejections (``w/ rej``), quarantined (``quar``),
    duplicate (``dup``) and still in flight (no status yet).
    """
    table = new_table(
        "files per feed",
        [
            "feed",
            ("files", "right"),
            ("loaded", "right"),
            ("w/ rej", "right"),
            ("quar", "right"),
            ("dup", "right"),
            ("in flight", "right"),
            ("rows read", "right"),
            ("rows loaded", "right"),
            ("rejected", "right"),
        ],
    )
    for r in feeds:
        table.add_row(r.name, *(f"{getattr(r, k):,}" for k in FEED_COUNTS))
    if not feeds:
        table.add_row("(no files in the ledger yet)", *([""] * len(FEED_COUNTS)))
    else:
        table.add_section()
        table.add_row("total", *(f"{sum(getattr(r, k) for r in feeds):,}" for k in FEED_COUNTS))
    return table


def dag_runs_table(report: RunReport) -> Table:
    """The DAG runs of one ``popdata run``: state, seconds and the tasks that did not succeed."""
    table = new_table("DAG runs", ["DAG", "state", ("seconds", "right"), "failed tasks"])
    for dag_id, state in report.dag_runs.items():
        seconds = report.dag_seconds.get(dag_id)
        table.add_row(
            dag_id,
            state,
            "—" if seconds is None else f"{seconds:.1f}",
            ", ".join(report.failed_tasks.get(dag_id, [])),
        )
    if not report.dag_runs:
        table.add_row("(no feed with files: no DAG ran)", "", "", "")
    else:
        table.add_section()
        table.add_row("total", f"{len(report.failed)} failed", f"{sum(report.dag_seconds.values()):.1f}", "")
    return table


def summary_renderables(data: Summary) -> list[RenderableType]:
    """:class:`Summary` for a rich console: the files table, the DAG runs table, then the text lines.

    The text lines are those of :func:`summary` after its feed table (notes, ``DAG run <id>: <state>``,
    Data Docs, reference date), kept as plain lines so that scripts can grep them.
    """
    renderables: list[RenderableType] = [files_table(data.feeds), Text("")]
    if data.report is not None:
        renderables += [dag_runs_table(data.report), Text("")]
    lines = data.notes + (run_lines(data.report) if data.report is not None else [])
    renderables.extend(Text(line) for line in lines)
    return renderables
