"""The one module of popdata that imports Airflow: it turns feed configs into DAGs.

Every feed YAML in ``contracts/feeds/`` becomes one DAG, ``ingest__<agency>__<feed>``:

    register_drops → load_file[*] → summarize

``register_drops`` checks that the warehouse is at this code's revision, looks at the
landing folder and registers complete drops in ``audit.file_ledger``; ``load_file``, a
mapped task, runs once per file and does write, audit, publish
(:func:`popdata.ingest.pipeline.load`: stage, validate, publish, each step logged with
its seconds); ``summarize`` logs the outcome of every file of the run. Tasks pass only file
ids; every task is safe to re-run, and a retried ``load_file`` resumes at the step the
ledger says the file reached (see :mod:`popdata.ingest.pipeline`). One task per file, not
one per step: a task process costs seconds of start-up on a small machine
(docs/performance.md, "Per-task cost"). A scan that finds no file to load skips the rest of
its run (``register_drops`` is *skipped*, and so, without starting, are the others): an idle
feed costs one short task per scan.

When ``load_file`` quarantines a file because a ``quarantine_file`` expectation failed, it
alerts through the notifiers configured in :mod:`popdata.quality.alerts`; an alert never fails
the task. Great Expectations' Data Docs are built by the cross-feed DAG, which runs after any
file is loaded (``build_data_docs``: see :func:`build_cross_feed_dag`).

The landing and outbox folders come from the run's params (``popdata run``
passes them) or from the environment (``POPDATA_LANDING``, ``POPDATA_OUTBOX``).
Nothing here does I/O at import time; task bodies import the pipeline lazily.

Every task works through :func:`popdata.warehouse.db.pipeline_engine`: it acts as the role
``popdata_loader`` (docs/security.md), so PostgreSQL checks the loader's grants and row-level
policies; tasks never migrate (``popdata db upgrade``, run first by ``popdata run`` and
``make up``, does that as the platform) and fail with that advice when the warehouse is behind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import (
    DAG,
    Asset,
    AssetAny,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import AirflowSkipException

from popdata.config.feeds import Feed, default_feeds

if TYPE_CHECKING:
    import sqlalchemy as sa

    from popdata.config.settings import Settings

log = logging.getLogger(__name__)

START_DATE = datetime(2010, 1, 1)  # before any extract: runs "as of" 2012–2014 must be schedulable


def _folders(params: dict[str, Any]) -> tuple[Path, Path, float]:
    from popdata.config.settings import load_settings

    settings = load_settings()
    landing = Path(params.get("landing") or settings.landing)
    outbox = Path(params.get("outbox") or settings.outbox)
    quiet = params.get("quiet_seconds")
    return landing, outbox, float(settings.quiet_seconds if quiet is None else quiet)


def _alert_if_gate_failed(
    engine: sa.Engine, settings: Settings, file_id: int, context: Mapping[str, Any] | None
) -> None:
    """Alert when ``file_id`` was quarantined by the expectation gate; never raises.

    Reads the ledger's ``quarantine_reason`` (other quarantine reasons do not alert) and the
    failed ``quarantine_file`` expectations with their counts from ``audit.dq_results``.
    """
    try:
        import sqlalchemy as sa

        from popdata.ingest import pipeline
        from popdata.quality import alerts, docs

        with engine.connect() as conn:
            ledger = (
                conn.execute(
                    sa.text(
                        "SELECT agency, feed, file_name, quarantine_reason FROM audit.file_ledger"
                        " WHERE file_id = :id"
                    ),
                    {"id": file_id},
                )
                .mappings()
                .first()
            )
            if ledger is None:
                return
            code, _, detail = str(ledger["quarantine_reason"] or "").partition(": ")
            if code != pipeline.DQ_CRITICAL_FAILED:
                return
            try:
                rows = conn.execute(
                    sa.text(
                        "SELECT expectation, column_name, unexpected_count, element_count FROM audit.dq_results"
                        " WHERE file_id = :id AND severity = 'quarantine_file' AND NOT success"
                        " ORDER BY expectation, column_name"
                    ),
                    {"id": file_id},
                ).all()
                failed = [
                    f"{r.expectation}({r.column_name or ''}): "
                    f"{'?' if r.unexpected_count is None else r.unexpected_count} of "
                    f"{'?' if r.element_count is None else r.element_count} rows"
                    for r in rows
                ]
            except sa.exc.DBAPIError:  # the detail names them too (without counts)
                failed = []
            failed = failed or [item for item in detail.split(" (a copy is in ")[0].split(", ") if item]
        alerts.notify_gate_failure(
            context,
            feed=f"{ledger['agency']}/{ledger['feed']}",
            file_name=str(ledger["file_name"]),
            reason=code,
            failed=failed,
            file_id=file_id,
            data_docs=docs.index_path(docs.docs_root(settings)).as_uri(),
        )
    except Exception:  # an alert must never fail the load
        log.warning("could not send the gate-failure alert for file %s", file_id, exc_info=True)


def _data_docs_task() -> Any:
    """A ``build_data_docs`` task: builds the Data Docs site and prints its index; never fails."""

    @task(task_id="build_data_docs")
    def build_data_docs() -> str | None:
        """Build the Great Expectations Data Docs site and print its index; never fails."""
        try:
            from popdata.config.settings import load_settings
            from popdata.quality import docs

            index = docs.build_data_docs(docs.docs_root(load_settings()))
        except Exception as exc:  # Data Docs never fail a load
            print(f"Data Docs not built: {type(exc).__name__}: {exc}")
            return None
        if index is None:
            print("Data Docs: not built (nothing recorded yet, or see the log above)")
            return None
        print(f"Data Docs: {index.as_uri()}")
        return str(index)

    return build_data_docs()


def core_asset(feed: Feed) -> Asset:
    """The Airflow asset a feed's ``load_file`` updates: its ``core`` tables."""
    return Asset(name=f"core.{feed.feed}", uri=feed.asset_uri, group="popdata")


def _doc(feed: Feed) -> str:
    required = ", ".join(c.name for c in feed.required_columns)
    return (
        f"### {feed.title_zh} — `{feed.agency}/{feed.feed}`\n\n"
        f"Ingests every complete drop in `<landing>/{feed.agency}/{feed.feed}/` "
        f"({feed.kind}, key `{', '.join(feed.key)}`; required columns: {required}).\n\n"
        "`register_drops` → `load_file`, one per file: stage (decode, normalise, COPY to staging), "
        "validate (Great Expectations suite "
        f"`{feed.suite or 'none'}`), publish (core"
        f"{', ' + ', '.join(feed.publishes) if feed.publishes else ''} and the ledger in one transaction, "
        "then the receipt in `<outbox>/" + feed.agency + "/receipts/`) → `summarize`. A scan with no file "
        "to load skips. Data Docs (default `<POPDATA_VAR>/gx/site/index.html`) are built by "
        "`quality__cross_feed` after any load. A failed `quarantine_file` expectation alerts through the notifiers set by "
        "`POPDATA_ALERT_SMTP_CONN_ID` / `POPDATA_ALERT_WEBHOOK_CONN_ID`.\n\n"
        "Params: `landing`, `outbox` (default from `POPDATA_LANDING` / `POPDATA_OUTBOX`), "
        "`quiet_seconds` (default `POPDATA_QUIET_SECONDS`, 60).\n\n" + (__doc__ or "")
    )


def _feed_schedule(feed: Feed) -> str | AssetOrTimeSchedule | None:
    """A feed's scan schedule: its cron; a feed that resolves region codes also scans when a
    region reference is published, so the files its last scan held back for the reference
    (:func:`popdata.ingest.pipeline.register`) load at once instead of at the next tick."""
    references = [f for f in default_feeds() if f.kind == "reference"]
    if feed.schedule is None or not feed.resolves_regions or not references:
        return feed.schedule
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(feed.schedule, timezone="UTC"),
        assets=AssetAny(*(core_asset(reference) for reference in references)),
    )


def build_feed_dag(feed: Feed) -> DAG:
    """The ingest DAG of one feed."""
    from popdata.config.settings import load_settings

    retries = load_settings().task_retries
    with DAG(
        dag_id=feed.dag_id,
        description=f"Ingest {feed.agency}/{feed.feed} ({feed.title_zh})",
        schedule=_feed_schedule(feed),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["ingest", feed.agency, feed.feed],
        doc_md=_doc(feed),
        default_args={"retries": retries, "retry_delay": timedelta(seconds=30), "owner": "popdata"},
        params={
            "landing": Param(None, type=["null", "string"], description="landing folder"),
            "outbox": Param(None, type=["null", "string"], description="outbox folder"),
            "quiet_seconds": Param(None, type=["null", "number"], description="quiet period for files"),
        },
    ) as dag:
        feed_id = feed.feed_id

        @task(task_id="register_drops")
        def register_drops() -> list[int]:
            """Check the warehouse's revision and register the complete drops of this feed; skips
            (and with it the rest of the run) when no file needs loading."""
            import time

            from popdata.config.feeds import feed_by_id
            from popdata.config.settings import load_settings
            from popdata.ingest import pipeline
            from popdata.warehouse import db, migrate

            landing, _outbox, quiet = _folders(get_current_context()["params"])
            engine = db.pipeline_engine()
            migrate.require_head(engine)
            found = pipeline.register(
                engine,
                feed_by_id(feed_id),
                landing,
                quiet_seconds=quiet,
                now=time.time(),
                reference_wait_seconds=load_settings().reference_wait_seconds,
            )
            for note in found.waiting:
                print(f"waiting: {note}")
            if not found.file_ids:
                raise AirflowSkipException(
                    f"no file to load ({len(found.waiting)} still arriving)"
                    if found.waiting
                    else "no file to load"
                )
            return list(found.file_ids)

        @task(
            task_id="load_file",
            map_index_template="{{ task.op_kwargs['file_id'] }}",
            outlets=[core_asset(feed)],
        )
        def load_file(file_id: int) -> str:
            """Write, audit, publish one file: stage (decode, normalise, COPY), validate (the GX suite;
            a failed quarantine_file gate quarantines and alerts), publish (core, marts, ledger in one
            transaction, then the receipt). A retry resumes at the step the ledger says."""
            from popdata.config.settings import load_settings
            from popdata.ingest import pipeline
            from popdata.warehouse import db

            context = get_current_context()
            landing, outbox, _ = _folders(context["params"])
            engine, settings = db.pipeline_engine(), load_settings()
            steps = pipeline.load(engine, settings, file_id, landing=landing, outbox=outbox)
            for step, reached, seconds in steps:
                print(f"file {file_id}: {step} → {reached} ({seconds:.1f} s)")
            reached = steps[-1][1]
            if reached == "quarantined":
                _alert_if_gate_failed(engine, settings, file_id, context)
            return reached

        @task(task_id="summarize", trigger_rule="none_failed_min_one_success")
        def summarize(file_ids: list[int]) -> dict[str, int]:
            """Log the outcome of every file of this run; returns counts by status."""
            from collections import Counter

            import sqlalchemy as sa

            from popdata.warehouse import db

            ids = [int(i) for i in file_ids or []]
            with db.pipeline_engine().connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT file_id, file_name, status, rows_read, rows_loaded, rows_rejected"
                        " FROM audit.file_ledger WHERE file_id = ANY(:ids) ORDER BY file_id"
                    ),
                    {"ids": ids},
                ).all()
            for r in rows:
                print(
                    f"{r.file_id} {r.file_name}: {r.status} read={r.rows_read} loaded={r.rows_loaded} "
                    f"rejected={r.rows_rejected}"
                )
            return dict(Counter(str(r.status) for r in rows))

        file_ids = register_drops()
        loaded = load_file.expand(file_id=file_ids)
        # summarize reads the ids from register_drops (a plain list), after every file is done
        summary = summarize(file_ids)  # type: ignore[arg-type]  # an XComArg resolves to the list at run time
        loaded >> summary
    return dag


CROSS_FEED_DAG_ID = "quality__cross_feed"


def build_cross_feed_dag(feeds: tuple[Feed, ...]) -> DAG:
    """The DAG of the cross-feed suites: runs whenever a feed publishes (Airflow assets).

    ``list_checks`` → ``run_check[*]`` (one mapped task per reviewed check in
    ``expectations/cross_feed/``) → ``alert_failures`` → ``build_data_docs`` (a teardown: it runs
    even when a check failed, never fails, and does not count for the run's state; it renders
    Great Expectations' Data Docs from every validation recorded so far, the files' included:
    this DAG runs after any file is loaded). Results go to ``audit.dq_results`` under the batch ``cross_feed:<date>`` of the run (its
    logical date, or for an asset-triggered run the latest extract date of a loaded file), so a
    re-run of the same day replaces its rows. Failures alert and never block any file.
    """
    from popdata.config.settings import load_settings

    with DAG(
        dag_id=CROSS_FEED_DAG_ID,
        description="Cross-feed quality suites (跨部门数据质量检查)",
        schedule=AssetAny(*(core_asset(feed) for feed in feeds)),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["quality", "cross_feed"],
        doc_md=(build_cross_feed_dag.__doc__ or "") + "\n\nSee docs/quality.md.",
        default_args={
            "retries": load_settings().task_retries,
            "retry_delay": timedelta(seconds=30),
            "owner": "popdata",
        },
    ) as dag:

        @task(task_id="list_checks")
        def list_checks() -> list[str]:
            """The names of the reviewed cross-feed checks (the warehouse must be at the code's revision)."""
            from popdata.config.settings import load_settings
            from popdata.quality import cross_feed
            from popdata.warehouse import db, migrate

            migrate.require_head(db.pipeline_engine())
            return [check.name for check in cross_feed.load_checks(load_settings().expectations_dir)]

        @task(task_id="run_check", map_index_template="{{ task.op_kwargs['name'] }}")
        def run_check(name: str) -> dict[str, Any]:
            """Validate one check's batch and record it; returns its counts."""
            from popdata.config.settings import load_settings
            from popdata.quality import cross_feed
            from popdata.warehouse import db

            settings = load_settings()
            check = next(c for c in cross_feed.load_checks(settings.expectations_dir) if c.name == name)
            (outcome,) = cross_feed.run_checks(
                db.pipeline_engine(), settings, as_of=_run_date(get_current_context()), checks=[check]
            )
            first = outcome.result.outcomes[0]
            print(
                f"{name}: {'passed' if outcome.result.success else 'FAILED'} "
                f"({first.unexpected_count} of {first.element_count} rows unexpected)"
            )
            return {
                "check": name,
                "success": outcome.result.success,
                "failed": [
                    f"{o.expectation}({o.column_name or ''}): {o.unexpected_count} of {o.element_count} rows"
                    for o in outcome.result.failed
                ],
            }

        @task(task_id="alert_failures")
        def alert_failures(results: list[dict[str, Any]]) -> int:
            """Alert once per failed check; returns how many failed."""
            from popdata.config.settings import load_settings
            from popdata.quality import alerts, docs

            context = get_current_context()
            # index by length: iterating Airflow's lazy XCom sequence probes one offset past the end
            # and logs a 404 as an error
            results = [results[i] for i in range(len(results))]
            failed = [r for r in results if not r["success"]]
            for r in failed:
                alerts.notify_gate_failure(
                    context,
                    feed="cross_feed",
                    file_name=str(r["check"]),
                    reason="cross_feed_failed",
                    failed=list(r["failed"]),
                    data_docs=docs.index_path(docs.docs_root(load_settings())).as_uri(),
                )
            print(f"{len(failed)} of {len(results)} cross-feed checks failed")
            return len(failed)

        results = run_check.expand(name=list_checks())
        alerted = alert_failures(results)  # type: ignore[arg-type]  # an XComArg resolves at run time
        alerted >> _data_docs_task().as_teardown()
    return dag


LINK_DAG_ID = "link__persons"

#: How often ``wait_for_loads`` looks at the ingest runs (seconds).
LINK_SETTLE_POKE_SECONDS = 30.0

#: What ``link_persons`` updates: the person index (``core.record_link`` and friends).
PERSON_INDEX_ASSET = Asset(name="core.record_link", uri="x-popdata://core/record_link", group="popdata")


def build_link_dag(feeds: tuple[Feed, ...]) -> DAG:
    """The DAG of the master person index: runs whenever a feed with persons publishes (Airflow assets).

    ``wait_for_loads`` (a sensor in reschedule mode: it holds no worker slot between pokes): an
    asset-triggered run waits until no ingest run of a feed with persons is queued or running, so
    that one linkage follows a drop's loads instead of one per publish, and the linkage (the
    largest task in memory) never runs beside the big loads. It gives up after
    ``POPDATA_LINK_SETTLE_SECONDS`` (default an hour: a feed that keeps loading must not hold the
    index back) and the linkage runs anyway; manual runs (``popdata run``, a trigger from the UI)
    do not wait.

    ``link_persons``: :func:`popdata.linkage.link.run` links every person role of every current
    record to a stable ``person_key`` in one transaction (exact ids, births, probabilistic,
    recorded merges), refreshes ``ops.clerical_review`` and ``ops.id_corrections`` and records
    what it read in ``audit.link_runs``. An asset-triggered run whose data the last linkage
    already read (the events of the publishes during a linkage queue a second run) is skipped
    and updates no asset, so reconciliation does not run again for nothing; a manual run
    always links. Safe to re-run: the same data gives the same keys.
    """
    from popdata.config.settings import load_settings

    settings = load_settings()
    person_feeds = tuple(feed for feed in feeds if feed.persons)
    ingest_dag_ids = tuple(feed.dag_id for feed in person_feeds)
    with DAG(
        dag_id=LINK_DAG_ID,
        description="Master person index (人员主索引)",
        schedule=AssetAny(*(core_asset(feed) for feed in person_feeds)),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["linkage"],
        doc_md=(build_link_dag.__doc__ or "") + "\n\nSee docs/linkage.md.",
        default_args={
            "retries": settings.task_retries,
            "retry_delay": timedelta(seconds=30),
            "owner": "popdata",
        },
    ) as dag:

        @task.sensor(
            task_id="wait_for_loads",
            poke_interval=LINK_SETTLE_POKE_SECONDS,
            timeout=max(settings.link_settle_seconds, 1.0),
            mode="reschedule",
            soft_fail=True,
        )
        def wait_for_loads() -> bool:
            """True once no ingest run of a feed with persons is queued or running."""
            context = get_current_context()
            if not _asset_triggered(context) or settings.link_settle_seconds <= 0:
                return True
            ti: Any = context["ti"]
            busy = [
                dag_id
                for dag_id in ingest_dag_ids
                if ti.get_dr_count(dag_id=dag_id, states=["queued", "running"])
            ]
            if busy:
                print(f"waiting for the loads of {', '.join(busy)}")
            return not busy

        @task(task_id="link_persons", outlets=[PERSON_INDEX_ASSET], trigger_rule="none_failed")
        def link_persons() -> dict[str, int]:
            """Link every current mention to a person; returns the counts."""
            from popdata.linkage import link, runs
            from popdata.warehouse import db, migrate

            engine = db.pipeline_engine()
            migrate.require_head(engine)
            if _asset_triggered(get_current_context()):
                with engine.connect() as conn:
                    if runs.linked_everything(conn, person_feeds):
                        raise AirflowSkipException(
                            "the last linkage read every published file: nothing new to link"
                        )
            result = link.run(engine)
            print(result.summary())
            return {
                "mentions": result.mentions,
                "id_exact": result.id_exact,
                "probabilistic": result.probabilistic,
                "new": result.new,
                "merges": result.merges,
                "reviews": result.reviews,
                "corrections": result.corrections,
            }

        wait_for_loads() >> link_persons()
    return dag


def _asset_triggered(context: Mapping[str, Any]) -> bool:
    """True for a run the scheduler created from asset events (not a manual or scheduled one)."""
    run_type = getattr(context["dag_run"], "run_type", None)
    return getattr(run_type, "value", run_type) == "asset_triggered"


def _run_date(context: Mapping[str, Any]) -> Any:
    """The date a run is about (its reference date).

    A scheduled or manual run: its logical date. An asset-triggered run has none: it is about the
    data that triggered it, so its date is the latest extract date of a loaded file (what
    ``popdata run`` takes as its reference date), never the wall clock — re-running it gives the
    same marts. Only an empty ledger falls back to the run's run-after date.
    """
    logical = context.get("logical_date")
    if logical is not None:
        return logical.date()
    from popdata.monitor.arrivals import latest_loaded_extract
    from popdata.warehouse import db

    with db.pipeline_engine().connect() as conn:
        latest = latest_loaded_extract(conn)
    return latest or context["dag_run"].run_after.date()


RECONCILE_DAG_ID = "reconcile__agencies"


def build_reconcile_dag() -> DAG:
    """The reconciliation DAG: every mart and work list of the contract, after each linkage run.

    ``reconcile``: :func:`popdata.reconcile.run.reconcile` rebuilds the birth, death,
    family-planning, completeness and quality marts and the ``ops`` work lists in one
    transaction as of the run's date (its logical date; for an asset-triggered run the latest
    extract date of a loaded file, as ``popdata run`` does), then writes each work list to the receiving agency's outbox in that
    agency's format with a Chinese cover note. Re-running the same date gives identical tables.

    ``write_run_report``: the run report for people without Airflow access
    (:func:`popdata.dashboard.report.write_run_report`): one self-contained HTML file with every
    chart embedded, and a PNG of each chart, in ``<outbox>/reports/<reference date>/``; a re-run
    replaces them.

    ``check_invariants``: :func:`popdata.quality.invariants.check` (what ``popdata check`` runs):
    row accounting per file, no file left in flight, every person role linked, no person key
    lost, every work-list row traced to its source record. A broken invariant fails the task.
    """
    from popdata.config.settings import load_settings

    with DAG(
        dag_id=RECONCILE_DAG_ID,
        description="Cross-agency reconciliation (跨部门比对): marts and work lists",
        schedule=PERSON_INDEX_ASSET,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["reconcile"],
        doc_md=(build_reconcile_dag.__doc__ or "") + "\n\nSee docs/warehouse.md.",
        params={"outbox": Param(None, type=["null", "string"], description="outbox folder")},
        default_args={
            "retries": load_settings().task_retries,
            "retry_delay": timedelta(seconds=30),
            "owner": "popdata",
        },
    ) as dag:

        @task(task_id="reconcile")
        def reconcile() -> dict[str, int]:
            """Rebuild the marts and work lists as of the run's date; returns rows per table."""
            from popdata.reconcile.run import reconcile as run_reconciliation
            from popdata.warehouse import db, migrate

            context = get_current_context()
            _, outbox, _ = _folders(context["params"])
            engine = db.pipeline_engine()
            migrate.require_head(engine)
            result = run_reconciliation(engine, outbox, _run_date(context))
            print(result.summary())
            return result.rows

        @task(task_id="write_run_report")
        def write_run_report() -> str:
            """Write the HTML run report and its chart PNGs to the outbox; returns the report's path."""
            from popdata.dashboard.report import write_run_report as write_report
            from popdata.warehouse import db

            context = get_current_context()
            _, outbox, _ = _folders(context["params"])
            files = write_report(db.pipeline_engine(), outbox, _run_date(context))
            print(f"run report: {files.html} ({len(files.pngs)} charts)")
            return str(files.html)

        @task(task_id="check_invariants")
        def check_invariants() -> dict[str, int]:
            """Check the warehouse's invariants; fails (and alerts) when one is broken."""
            from popdata.quality import invariants
            from popdata.warehouse import db

            results = invariants.check(db.pipeline_engine())
            for result in results:
                print(result.line())
            broken = [r.line() for r in results if not r.ok]
            if broken:
                raise RuntimeError("broken invariants:\n" + "\n".join(broken))
            return {r.name: r.checked for r in results}

        reconciled = reconcile()
        reconciled >> write_run_report()
        reconciled >> check_invariants()
    return dag


MONITOR_DAG_ID = "monitor__feed_arrivals"


def build_monitor_dag() -> DAG:
    """Daily check of every feed's arrivals against its cadence (报送及时性).

    One task, ``check_arrivals``: :func:`popdata.monitor.arrivals.check_arrivals` judges every
    feed as of the run's date (its latest loaded extract date plus one cadence period is the due
    date; past it by more than the feed's ``grace_days`` the feed is overdue), records the states
    in ``audit.feed_arrival_checks`` (the population-data view shows the latest) and alerts the
    newly overdue feeds through the notifiers of :mod:`popdata.quality.alerts`, once per feed and
    due date. Re-running a date gives the same states and no second alert.
    """
    from popdata.config.settings import load_settings

    with DAG(
        dag_id=MONITOR_DAG_ID,
        description="Feed arrivals against their cadence (报送及时性): overdue feeds alert",
        schedule="@daily",
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["monitor"],
        doc_md=(build_monitor_dag.__doc__ or "") + "\n\nSee docs/data-docs-and-alerts.md.",
        default_args={
            "retries": load_settings().task_retries,
            "retry_delay": timedelta(seconds=30),
            "owner": "popdata",
        },
    ) as dag:

        @task(task_id="check_arrivals")
        def check_arrivals() -> dict[str, int]:
            """Judge, record and alert; returns how many feeds are in each state."""
            from popdata.monitor import arrivals
            from popdata.warehouse import db, migrate

            context = get_current_context()
            engine = db.pipeline_engine()
            migrate.require_head(engine)
            check = arrivals.check_arrivals(engine, _run_date(context), context=context)
            print(check.summary())
            counts: dict[str, int] = {}
            for state in check.states:
                counts[state.status] = counts.get(state.status, 0) + 1
            return counts

        check_arrivals()
    return dag


VILLAGE_BATCH_DAG_ID = "intake__village_reports"


def build_village_batch_dag() -> DAG:
    """Village direct reports (村级直报) into the landing folder, every five minutes.

    One task, ``write_village_reports``: :func:`popdata.intake.batch.write_pending` writes every
    report the village intake app accepted since the last batch as a file of the feed
    ``fp/village_reports``, with a manifest, in the landing folder; the feed's ingest DAG then
    loads it like any drop (ledger, suite, receipt). A batch a dead try left unwritten is written
    again with the same bytes, so re-running is safe.
    """
    from popdata.config.settings import load_settings

    with DAG(
        dag_id=VILLAGE_BATCH_DAG_ID,
        description="Village direct reports (村级直报) → files of fp/village_reports in the landing folder",
        schedule="*/5 * * * *",
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["intake", "fp"],
        doc_md=(build_village_batch_dag.__doc__ or "") + "\n\nSee docs/village-reports.md.",
        default_args={
            "retries": load_settings().task_retries,
            "retry_delay": timedelta(seconds=30),
            "owner": "popdata",
        },
    ) as dag:

        @task(task_id="write_village_reports")
        def write_village_reports() -> list[str]:
            """Write the pending reports; returns the files written."""
            from popdata.config.settings import load_settings
            from popdata.intake import batch
            from popdata.warehouse import db, migrate

            settings = load_settings()
            engine = db.pipeline_engine(settings)
            migrate.require_head(engine)
            written = batch.write_pending(engine, settings.landing)
            for item in written:
                print(f"{item.path.name}: {item.rows} reports, sha256 {item.sha256[:12]}")
            return [str(item.path) for item in written]

        write_village_reports()
    return dag


def build_all() -> dict[str, DAG]:
    """One DAG per configured feed, the linkage, reconciliation, cross-feed, arrival-monitor and
    village-report batching DAGs, by id."""
    feeds = default_feeds()
    dags = {feed.dag_id: build_feed_dag(feed) for feed in feeds}
    dags[LINK_DAG_ID] = build_link_dag(feeds)
    dags[RECONCILE_DAG_ID] = build_reconcile_dag()
    dags[CROSS_FEED_DAG_ID] = build_cross_feed_dag(feeds)
    dags[MONITOR_DAG_ID] = build_monitor_dag()
    dags[VILLAGE_BATCH_DAG_ID] = build_village_batch_dag()
    return dags
