"""``popdata``: the one command-line entry point of the platform.

popdata generate --persons N --seed S --out DIR   a synthetic county and its ground truth
popdata run --landing DIR --outbox DIR            every pending drop, through the Airflow DAGs
popdata status                                    the ledger and the last DAG runs at a glance
popdata check                                     the warehouse's invariants (rows, links, keys, work lists)
popdata fingerprint [--json]                      one checksum per table, equal for two runs of the same drops
popdata db upgrade|url|stop|dictionary            the warehouse schema, its data dictionary, the embedded server
popdata link run|train                            the master person index (docs/linkage.md)
popdata services start [--executor celery]|stop|status   Airflow's services (and Celery workers)
popdata pseudonymise --column NAME IN.csv OUT.csv  an identifier column replaced by its keyed digest
popdata secrets new-hmac-key [--key-id k2]         a fresh pseudonymisation key (docs/security.md)
popdata village token new|revoke|list | batch | serve   village direct reporting (docs/village-reports.md)
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from popdata.config.settings import load_settings

if TYPE_CHECKING:
    from rich.table import Table

    from popdata.generate import GenerationSummary


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """popdata: county population records from every agency in one warehouse."""


# --- generate -----------------------------------------------------------------------------------


@main.command()
@click.option(
    "--persons", type=click.IntRange(min=100), default=10_000, show_default=True, help="true population"
)
@click.option("--seed", type=int, default=2014, show_default=True, help="random seed (same seed, same files)")
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="output folder (landing/ and truth/)"
)
@click.option("--clean/--no-clean", default=False, help="produce files without injected defects")
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="show a progress bar (only on a terminal)",
)
def generate(persons: int, seed: int, out: Path, clean: bool, progress: bool) -> None:
    """Generate a synthetic county: every agency's extracts in the contract's formats, plus ground truth."""
    from popdata.generate import DefectRates, generate_county
    from popdata.progress import make_console

    result = generate_county(
        out, persons=persons, seed=seed, rates=DefectRates.none() if clean else None, progress=progress
    )
    console = make_console()
    console.print(
        f"generated {result.persons} persons (seed {result.seed}) in {result.seconds:.1f}s: "
        f"{result.files} files under {out / 'landing'}, ground truth under {out / 'truth'}",
        soft_wrap=True,
    )
    console.print(_generation_table(result))


def _generation_table(result: GenerationSummary) -> Table:
    """Rows and files of each feed of a generation, with totals."""
    from popdata.progress import new_table

    table = new_table("generated extracts", ["feed", ("rows", "right"), ("files", "right")])
    for feed in sorted(set(result.rows_by_feed) | set(result.files_by_feed)):
        table.add_row(feed, f"{result.rows_by_feed.get(feed, 0):,}", f"{result.files_by_feed.get(feed, 0):,}")
    table.add_section()
    table.add_row("total", f"{sum(result.rows_by_feed.values()):,}", f"{result.files:,}")
    return table


# --- run ------------------------------------------------------------------------------------------


@main.command()
@click.option("--landing", type=click.Path(path_type=Path, file_okay=False), required=True, help="drop zone")
@click.option(
    "--outbox", type=click.Path(path_type=Path, file_okay=False), required=True, help="receipts go here"
)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="reference date (default: the latest extract date among the files)",
)
@click.option(
    "--quiet-seconds",
    type=float,
    default=None,
    help="quiet period for files without a manifest (default POPDATA_QUIET_SECONDS or 60)",
)
@click.option("--verbose", is_flag=True, help="show Airflow's own log lines")
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="a progress bar over the DAG runs on a terminal, one line per DAG run otherwise",
)
def run(
    landing: Path, outbox: Path, as_of: object, quiet_seconds: float | None, verbose: bool, progress: bool
) -> None:
    """Process every pending drop in LANDING end to end through the Airflow DAGs, then print a summary.

    Exits 1 when a DAG run failed. Files already processed (same path, same bytes) are not processed again.
    """
    from popdata import runner
    from popdata.warehouse import db

    settings = load_settings()
    as_of_date: date | None = as_of.date() if as_of is not None else None  # type: ignore[attr-defined]
    report = runner.run(
        settings,
        landing=landing,
        outbox=outbox,
        as_of=as_of_date,
        quiet_seconds=quiet_seconds,
        verbose=verbose,
        progress=progress,
    )
    from popdata.progress import make_console, print_renderables

    console = make_console()
    console.line()
    print_renderables(
        runner.summary_renderables(runner.collect_summary(db.get_engine(settings), report)), console
    )
    click.echo(f"receipts: {outbox.resolve()}/<agency>/receipts/")
    if report.as_of is not None:
        from popdata.dashboard.report import report_path

        run_report = report_path(outbox.resolve(), report.as_of)
        if run_report.is_file():
            click.echo(f"run report: {run_report}")
    click.echo(f"warehouse: {_display_url(db.warehouse_url(settings))}")
    if report.failed:
        click.echo(f"FAILED DAG runs: {', '.join(report.failed)}", err=True)
        sys.exit(1)


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- status -----------------------------------------------------------------------------------------


@main.command()
@click.option("--limit", type=int, default=10, show_default=True, help="how many recent files and DAG runs")
def status(limit: int) -> None:
    """The file ledger and the last DAG runs at a glance."""
    import sqlalchemy as sa

    from popdata import runner
    from popdata.warehouse import db, migrate

    settings = load_settings()
    engine = db.get_engine(settings)
    click.echo(
        f"warehouse: {_display_url(db.warehouse_url(settings))} (schema {migrate.current_revision(engine)})"
    )
    if migrate.current_revision(engine) is None:
        click.echo("the warehouse is empty: run `popdata db upgrade` or `popdata run`")
        return
    click.echo(runner.summary(engine))
    with engine.connect() as conn:
        recent = conn.execute(
            sa.text(
                "SELECT file_id, feed, file_name, status, stage, rows_read, rows_loaded, rows_rejected, received_at"
                " FROM audit.file_ledger ORDER BY file_id DESC LIMIT :n"
            ),
            {"n": limit},
        ).all()
    if recent:
        click.echo("\nrecent files:")
        for r in recent:
            click.echo(
                f"  #{r.file_id:<5}{r.feed:<22}{r.file_name:<42}{(r.status or r.stage):<24}"
                f"read={r.rows_read} loaded={r.rows_loaded} rejected={r.rows_rejected}"
            )
    try:
        airflow = sa.create_engine(db.airflow_metadata_url(settings))
        with airflow.connect() as conn:
            runs = conn.execute(
                sa.text(
                    "SELECT * FROM (SELECT DISTINCT ON (dag_id) dag_id, run_id, state, logical_date, end_date,"
                    " coalesce(end_date, start_date) AS at FROM dag_run"
                    " ORDER BY dag_id, coalesce(end_date, start_date) DESC NULLS LAST) latest"
                    " ORDER BY at DESC NULLS LAST"
                )
            ).all()
        airflow.dispose()
    except sa.exc.SQLAlchemyError:
        runs = []
    click.echo("\nlast run of each DAG:" if runs else "\nno DAG runs recorded yet")
    for r in runs:
        click.echo(f"  {r.dag_id:<40}{r.state:<10}logical {r.logical_date}  ended {r.end_date}")


@main.command()
def check() -> None:
    """Check the warehouse's invariants; exit 1 when one is broken (docs/reliability.md).

    Row accounting per file, no file left in flight, every person role linked, no person key
    lost, every work-list row traced to its source record (:mod:`popdata.quality.invariants`).
    """
    from popdata.quality import invariants
    from popdata.warehouse import db, migrate

    engine = db.get_engine()
    migrate.require_head(engine)
    results = invariants.check(engine)
    for result in results:
        click.echo(result.line())
    broken = [r.name for r in results if not r.ok]
    if broken:
        click.echo(f"broken: {', '.join(broken)}", err=True)
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print a JSON object {table: {rows, md5, left_out}}")
def fingerprint(as_json: bool) -> None:
    """Print one checksum per warehouse table, equal for two runs of the same drops.

    Timestamps and sequence-drawn numbers are left out and person keys replaced by a label of
    the person they name (:mod:`popdata.quality.fingerprint`): compare the output before and
    after a re-run, a restore or a retried task.
    """
    import json

    from popdata.quality import fingerprint as fp
    from popdata.warehouse import db, migrate

    engine = db.get_engine()
    migrate.require_head(engine)
    sums = fp.fingerprint(engine)
    if as_json:
        payload = {t: {"rows": s.rows, "md5": s.md5, "left_out": list(s.left_out)} for t, s in sums.items()}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    for table, found in sums.items():
        click.echo(f"{found.md5}  {found.rows:>10}  {table}")


# --- db -------------------------------------------------------------------------------------------


@main.group(name="db")
def db_group() -> None:
    """The warehouse schema (Alembic) and the embedded PostgreSQL server."""


@db_group.command()
def upgrade() -> None:
    """Create or upgrade the warehouse schemas to the newest migration."""
    from popdata.warehouse import db, migrate

    engine = db.get_engine()
    click.echo(f"warehouse at revision {migrate.upgrade(engine)}")


@db_group.command()
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="where to write the Markdown (default: docs/data-dictionary.md under POPDATA_HOME)",
)
def dictionary(out_path: Path | None) -> None:
    """Upgrade the warehouse, then write its data dictionary (tables, columns, comments, example SQL)."""
    from popdata.warehouse import db, migrate
    from popdata.warehouse.dictionary import write_dictionary

    settings = load_settings()
    engine = db.get_engine(settings)
    revision = migrate.upgrade(engine)
    target = out_path or settings.home / "docs" / "data-dictionary.md"
    click.echo(f"data dictionary of the warehouse at revision {revision}: {write_dictionary(engine, target)}")


@db_group.command()
def logins() -> None:
    """Set the passwords of the login roles from the environment (POPDATA_PIPELINE_PASSWORD, POPDATA_VIEW_PASSWORD).

    Run it as the platform after `popdata db upgrade` where the server asks for passwords (the
    compose deployment); the embedded default and a trust-auth server need none.
    """
    from popdata.warehouse import db, migrate

    engine = db.get_engine()
    migrate.upgrade(engine)
    for login, was_set in db.set_login_passwords(engine).items():
        variable = db.LOGIN_PASSWORD_ENV[login]
        click.echo(f"{login}: " + ("password set" if was_set else f"unchanged ({variable} is not set)"))


@db_group.command()
def url() -> None:
    """Print the warehouse URL (starting the embedded server when it is the default)."""
    from popdata.warehouse import db

    click.echo(db.warehouse_url())


@db_group.command()
def stop() -> None:
    """Stop the embedded PostgreSQL server (the data stays under var/pg)."""
    from popdata.warehouse import db

    click.echo(
        "embedded PostgreSQL stopped"
        if db.stop_embedded(load_settings())
        else "embedded PostgreSQL was not running"
    )


# --- link ---------------------------------------------------------------------------------------


@main.group(name="link")
def link_group() -> None:
    """The master person index: link every person in every record to a stable person_key."""


@link_group.command(name="run")
@click.option(
    "--no-probabilistic",
    is_flag=True,
    help="skip the probabilistic step (exact identity numbers and birth certificates only)",
)
def link_run(no_probabilistic: bool) -> None:
    """Link the current records of every feed to persons (one transaction; re-runnable)."""
    from popdata.linkage import link
    from popdata.warehouse import db, migrate

    engine = db.get_engine()
    migrate.upgrade(engine)
    result = link.run(engine, scorer=None) if no_probabilistic else link.run(engine)
    click.echo(result.summary())


@link_group.command(name="train")
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="where to write the model JSON (default: the versioned model of the package)",
)
def link_train(out_path: Path | None) -> None:
    """Train the probabilistic linkage model on the warehouse's current mentions and id-linked persons."""
    from popdata.linkage import link, probabilistic
    from popdata.warehouse import db

    engine = db.get_engine()
    mentions, persons = link.training_frames(engine)
    target = out_path or probabilistic.DEFAULT_MODEL_PATH
    written = probabilistic.train_model(mentions, persons, target)
    click.echo(f"model trained on {len(mentions)} mentions and {len(persons)} persons: {written}")


# --- pseudonymise / secrets -------------------------------------------------------------------------


@main.command()
@click.option(
    "--column",
    "columns",
    multiple=True,
    required=True,
    help="identifier column to replace by its keyed digest (repeatable)",
)
@click.option(
    "--encoding",
    type=click.Choice(["auto", "utf-8", "gb18030"]),
    default="auto",
    show_default=True,
    help="input encoding (auto: UTF-8 when the whole file decodes as UTF-8, else GB18030)",
)
@click.argument(
    "input_path", metavar="INPUT.csv", type=click.Path(path_type=Path, dir_okay=False, exists=True)
)
@click.argument("output_path", metavar="OUTPUT.csv", type=click.Path(path_type=Path, dir_okay=False))
def pseudonymise(columns: tuple[str, ...], encoding: str, input_path: Path, output_path: Path) -> None:
    """Copy a CSV with identifier columns replaced by HMAC-SHA256 digests under the configured key.

    The key comes from the Airflow connection named by POPDATA_HMAC_CONN_ID or from
    POPDATA_HMAC_KEY (docs/security.md); the output is UTF-8; blank cells stay blank.
    """
    from popdata.privacy.csvfile import pseudonymise_csv
    from popdata.privacy.pseudonym import KeyNotConfiguredError, load_key

    try:
        key = load_key()
        summary = pseudonymise_csv(input_path, output_path, columns, key, encoding=encoding)
    except KeyNotConfiguredError as exc:
        raise click.ClickException(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise click.ClickException(
            f"{input_path} is not {encoding} ({exc.reason} at byte {exc.start})"
        ) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{summary.rows:,} rows ({summary.encoding}) written to {output_path}: {summary.digested:,} "
        f"identifiers replaced by digests under key {key.key_id}, {summary.blank:,} blank"
    )


@main.group(name="secrets")
def secrets_group() -> None:
    """Keys the platform needs that are never in the repository (docs/security.md)."""


@secrets_group.command(name="new-hmac-key")
@click.option(
    "--key-id", default="k1", show_default=True, help="id the digests carry (k2, k3, … when rotating)"
)
def new_hmac_key(key_id: str) -> None:
    """Print a fresh random pseudonymisation key as POPDATA_HMAC_KEY wants it: KEY_ID:BASE64.

    Store it in an Airflow connection or secrets backend (password = the part after the colon,
    extra = {"key_id": KEY_ID}) or in the environment, never in the repository.
    """
    from popdata.privacy.pseudonym import format_env_key, new_key

    try:
        key = new_key(key_id)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--key-id") from None
    click.echo(format_env_key(key))


# --- services ---------------------------------------------------------------------------------------


@main.group()
def services() -> None:
    """Airflow's own services on the project's database, so the UI at http://localhost:8080 shows the runs."""


@services.command()
@click.option(
    "--executor",
    type=click.Choice(["local", "celery"]),
    default="local",
    show_default=True,
    help="local: the scheduler runs the tasks; celery: Celery workers behind the Redis broker",
)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Celery workers")
def start(executor: str, workers: int) -> None:
    """Start api-server, scheduler, dag-processor and triggerer (and the Celery workers) in the
    background; logs in var/logs (docs/scaling.md)."""
    from popdata import runner
    from popdata import services as topology_services
    from popdata.warehouse import db, migrate

    settings = load_settings()
    migrate.upgrade(db.get_engine(settings))
    runner.prepare_airflow(settings)
    topology = topology_services.Topology.from_env(executor, workers)  # type: ignore[arg-type]
    try:
        topology_services.start(settings, topology, db.airflow_metadata_url(settings), echo=click.echo)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Airflow UI: http://localhost:{topology.port}  (user admin; password in "
        f"{settings.airflow_home / 'simple_auth_manager_passwords.json.generated'})"
    )
    click.echo(f"village reports (村级直报): http://localhost:{topology.port}/village/")


@services.command(name="stop")
def stop_services() -> None:
    """Stop the Airflow services started by `popdata services start` (workers included)."""
    from popdata import services as topology_services

    topology_services.stop(load_settings(), echo=click.echo)


@services.command(name="status")
def services_status() -> None:
    """Which Airflow services are running, and with which executor."""
    from popdata import services as topology_services

    settings = load_settings()
    click.echo(f"executor: {topology_services.recorded(settings).executor}")
    for name, pid in topology_services.status(settings).items():
        click.echo(f"{name:<14}{'running (pid ' + str(pid) + ')' if pid else 'stopped'}")


@main.group()
def village() -> None:
    """Village direct reporting (村级直报): tokens for village clerks, batches, the intake app."""


@village.group()
def token() -> None:
    """Per-village tokens: issued by the county, stored as sha256 only."""


@token.command(name="new")
@click.option("--village", "village_code", required=True, help="12-digit village code (统计用区划代码)")
@click.option("--label", required=True, help="who holds it, written as 填报人 (e.g. 东风村计生专干)")
@click.option(
    "--unknown-village",
    is_flag=True,
    help="issue it even when the published region reference does not list the village",
)
def token_new(village_code: str, label: str, unknown_village: bool) -> None:
    """Issue a token and print it once (it is not stored: hand it to the clerk now)."""
    from popdata.intake import tokens
    from popdata.warehouse import db, migrate

    engine = db.get_engine(load_settings())
    migrate.upgrade(engine)
    try:
        with engine.begin() as conn:
            token_id, secret = tokens.issue(conn, village_code, label, require_known=not unknown_village)
    except tokens.TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"token {token_id} for village {village_code.strip()} ({label.strip()}):")
    click.echo(secret)
    click.echo(
        "shown once: the warehouse keeps only its sha256 (popdata village token revoke to withdraw it)"
    )


@token.command(name="revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token at once (its clerk can no longer sign in or submit)."""
    from popdata.intake import tokens
    from popdata.warehouse import db

    try:
        with db.get_engine(load_settings()).begin() as conn:
            changed = tokens.revoke(conn, token_id)
    except tokens.TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"token {token_id} {'revoked' if changed else 'was already revoked'}")


@token.command(name="list")
def token_list() -> None:
    """Every issued token (never the token itself): village, label, issued, revoked."""
    from popdata.intake import tokens
    from popdata.warehouse import db, migrate

    engine = db.get_engine(load_settings())
    migrate.upgrade(engine)
    with engine.connect() as conn:
        found = tokens.list_tokens(conn)
    if not found:
        click.echo("no tokens issued (popdata village token new --village CODE --label TEXT)")
    for info in found:
        state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
        click.echo(
            f"{info.token_id:>5}  {info.village_code}  {info.village_name or '?':<12}  {info.label:<16}"
            f"  issued {info.created_at:%Y-%m-%d %H:%M}  {state}"
        )


@village.command(name="batch")
@click.option(
    "--landing",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="drop zone (default POPDATA_LANDING, var/landing)",
)
def village_batch(landing: Path | None) -> None:
    """Write the accepted reports no file carries yet into the landing folder, with manifests."""
    from popdata.intake import batch
    from popdata.warehouse import db, migrate

    settings = load_settings()
    migrate.upgrade(db.get_engine(settings))
    written = batch.write_pending(db.pipeline_engine(settings), landing or settings.landing)
    for item in written:
        click.echo(f"{item.path}: {item.rows} reports")
    if not written:
        click.echo("no reports waiting")


@village.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8090, show_default=True)
def village_serve(host: str, port: int) -> None:
    """Serve the intake app alone at http://HOST:PORT/village/ (make up serves it inside Airflow's API server)."""
    import uvicorn
    from fastapi import FastAPI

    from popdata.intake.app import create_app
    from popdata.warehouse import db, migrate

    migrate.upgrade(db.get_engine(load_settings()))
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    root.mount("/village", create_app())
    click.echo(f"village reports (村级直报): http://{host}:{port}/village/")
    uvicorn.run(root, host=host, port=port, log_level="warning")


if __name__ == "__main__":  # pragma: no cover
    main()
