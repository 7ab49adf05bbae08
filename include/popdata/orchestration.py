"""The one module of popdata that imports Airflow: it turns feed configs into DAGs.

Every feed YAML in ``contracts/feeds/`` becomes one DAG, ``ingest__<agency>__<feed>``:

    register_drops → stage_file[*] → validate_file[*] → publish_file[*] → summarize

``register_drops`` runs the warehouse migrations when needed, looks at the
landing folder and registers complete drops in ``audit.file_ledger``; the three
mapped tasks run once per file (write, audit, publish); ``summarize`` logs the
outcome of every file of the run. Tasks pass only file ids; every task is safe
to re-run (see :mod:`popdata.ingest.pipeline`).

The landing and outbox folders come from the run's params (``popdata run``
passes them) or from the environment (``POPDATA_LANDING``, ``POPDATA_OUTBOX``).
Nothing here does I/O at import time; task bodies import the pipeline lazily.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from popdata.config.feeds import Feed, default_feeds

START_DATE = datetime(2010, 1, 1)  # before any extract: runs "as of" 2012–2014 must be schedulable


def _folders(params: dict[str, Any]) -> tuple[Path, Path, float]:
    from popdata.config.settings import load_settings

    settings = load_settings()
    landing = Path(params.get("landing") or settings.landing)
    outbox = Path(params.get("outbox") or settings.outbox)
    quiet = params.get("quiet_seconds")
    return landing, outbox, float(settings.quiet_seconds if quiet is None else quiet)


def _doc(feed: Feed) -> str:
    required = ", ".join(c.name for c in feed.required_columns)
    return (
        f"### {feed.title_zh} — `{feed.agency}/{feed.feed}`\n\n"
        f"Ingests every complete drop in `<landing>/{feed.agency}/{feed.feed}/` "
        f"({feed.kind}, key `{', '.join(feed.key)}`; required columns: {required}).\n\n"
        "`register_drops` → `stage_file` (decode, normalise, COPY to staging) → "
        "`validate_file` (Great Expectations suite "
        f"`{feed.suite or 'none'}`) → `publish_file` (core"
        f"{', ' + ', '.join(feed.publishes) if feed.publishes else ''} and the ledger in one transaction, "
        "then the receipt in `<outbox>/" + feed.agency + "/receipts/`).\n\n"
        "Params: `landing`, `outbox` (default from `POPDATA_LANDING` / `POPDATA_OUTBOX`), "
        "`quiet_seconds` (default `POPDATA_QUIET_SECONDS`, 60).\n\n" + (__doc__ or "")
    )


def build_feed_dag(feed: Feed) -> DAG:
    """The ingest DAG of one feed."""
    from popdata.config.settings import load_settings

    retries = load_settings().task_retries
    with DAG(
        dag_id=feed.dag_id,
        description=f"Ingest {feed.agency}/{feed.feed} ({feed.title_zh})",
        schedule=feed.schedule,
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
            """Migrate the warehouse when needed and register the complete drops of this feed."""
            import time

            from popdata.config.feeds import feed_by_id
            from popdata.ingest import pipeline
            from popdata.warehouse import db, migrate

            landing, _outbox, quiet = _folders(get_current_context()["params"])
            engine = db.get_engine()
            migrate.upgrade(engine)
            found = pipeline.register(
                engine, feed_by_id(feed_id), landing, quiet_seconds=quiet, now=time.time()
            )
            for note in found.waiting:
                print(f"waiting: {note}")
            return list(found.file_ids)

        @task(task_id="stage_file", map_index_template="{{ task.op_kwargs['file_id'] }}")
        def stage_file(file_id: int) -> int:
            """Decode, normalise and COPY one file into staging (or quarantine it)."""
            from popdata.config.settings import load_settings
            from popdata.ingest import pipeline
            from popdata.warehouse import db

            landing, outbox, _ = _folders(get_current_context()["params"])
            reached = pipeline.stage(
                db.get_engine(), load_settings(), file_id, landing=landing, outbox=outbox
            )
            print(f"file {file_id}: {reached}")
            return file_id

        @task(task_id="validate_file", map_index_template="{{ task.op_kwargs['file_id'] }}")
        def validate_file(file_id: int) -> int:
            """Run the feed's expectation suite on the staged rows; a critical failure quarantines."""
            from popdata.config.settings import load_settings
            from popdata.ingest import pipeline
            from popdata.warehouse import db

            landing, outbox, _ = _folders(get_current_context()["params"])
            reached = pipeline.validate(
                db.get_engine(), load_settings(), file_id, outbox=outbox, landing=landing
            )
            print(f"file {file_id}: {reached}")
            return file_id

        @task(task_id="publish_file", map_index_template="{{ task.op_kwargs['file_id'] }}")
        def publish_file(file_id: int) -> int:
            """Publish to core and marts in one transaction and write the receipt."""
            from popdata.ingest import pipeline
            from popdata.warehouse import db

            _, outbox, _ = _folders(get_current_context()["params"])
            reached = pipeline.publish(db.get_engine(), file_id, outbox=outbox)
            print(f"file {file_id}: {reached}")
            return file_id

        @task(task_id="summarize", trigger_rule="none_failed")
        def summarize(file_ids: list[int]) -> dict[str, int]:
            """Log the outcome of every file of this run; returns counts by status."""
            from collections import Counter

            import sqlalchemy as sa

            from popdata.warehouse import db

            ids = [int(i) for i in file_ids or []]
            if not ids:
                print("no new files")
                return {}
            with db.get_engine().connect() as conn:
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
        published = publish_file.expand(
            file_id=validate_file.expand(file_id=stage_file.expand(file_id=file_ids))
        )
        # summarize reads the ids from register_drops (a plain list), after every file is done
        published >> summarize(file_ids)  # type: ignore[arg-type]  # an XComArg resolves to the list at run time
    return dag


def build_all() -> dict[str, DAG]:
    """One DAG per configured feed, keyed by dag id."""
    return {feed.dag_id: build_feed_dag(feed) for feed in default_feeds()}
