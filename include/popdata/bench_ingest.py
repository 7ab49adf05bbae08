"""``make bench-ingest``: the full ingest of one registry file against a raw COPY of it.

Builds (once, cached under ``var/bench-ingest/``, in a child process so that its
memory is not counted) a ``household_registry`` CSV of ``--rows`` data rows in
GB18030 from a synthetic county, then in one run on one scratch database:

(a) **raw COPY**: the decoded CSV as is (header skipped, every column ``text``)
    into an UNLOGGED table with ``COPY … (FORMAT csv)``;
(b) **full ingest** of the same file through the real pipeline steps
    (``register``, ``stage``, ``validate``, ``publish``; the Great Expectations
    import is paid before timing), with the stage split into decode + parse,
    normalise and COPY to staging.

Prints rows/s of both, their ratio (full ingest ÷ raw COPY; the issue's target
is ≤ 3×), seconds per phase and the process's peak memory (RSS high-water mark;
GX validation and publishing run in PostgreSQL, not in this process). Figures
are printed, never asserted.

    python -m popdata.bench_ingest [--rows N] [--seed S]
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from popdata.config.feeds import feed_by_id
from popdata.config.settings import Settings, load_settings
from popdata.ingest import arrive, pipeline, read, rows
from popdata.progress import new_table, print_renderables, progress_bar
from popdata.warehouse import db, migrate, staging

FEED = "police__household_registry"
REGIONS = "stats__regions"

STAGES = (
    "generate the file (child process, cached)",
    "import Great Expectations",
    "ingest the regions",
    "raw COPY",
    "register",
    "stage",
    "validate (GX, in PostgreSQL)",
    "publish (core + marts)",
)
"""The steps of the progress bar (what is timed is listed in the phase table)."""


def _cache_dir(rows_wanted: int, seed: int) -> Path:
    return load_settings().var / "bench-ingest" / f"rows_{rows_wanted}_seed_{seed}"


def prepare(rows_wanted: int, seed: int) -> Path:
    """Generate (once) a landing folder with the regions reference and one registry file of ``rows_wanted`` rows."""
    cache = _cache_dir(rows_wanted, seed)
    done = cache / "READY"
    if done.is_file():
        return cache / "landing"
    from popdata.generate import generate_county

    shutil.rmtree(cache, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="popdata-bench-ingest-gen-"))
    try:
        persons = int(rows_wanted * 1.12) + 1_000
        started = time.perf_counter()
        generate_county(work, persons=persons, seed=seed, snapshots=1)
        print(f"generated {persons} persons in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        source_landing = work / "landing"
        feed, regions = feed_by_id(FEED), feed_by_id(REGIONS)
        landing = cache / "landing"
        shutil.copytree(
            source_landing / regions.agency / regions.feed, landing / regions.agency / regions.feed
        )
        drops = arrive.find_drops(source_landing, feed, quiet_seconds=0, now=time.time())
        path = max(drops, key=lambda d: d.path.stat().st_size).path
        data = path.read_bytes()
        text, encoding, _ = read.decode(data, feed)
        newline = "\r\n" if "\r\n" in text[:4096] else "\n"
        records = csv.reader(io.StringIO(text, newline=""))
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator=newline)
        writer.writerow(next(records))
        written = 0
        for record in records:
            if written == rows_wanted:
                break
            writer.writerow(record)
            written += 1
        target = landing / feed.agency / feed.feed / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(out.getvalue().encode("gb18030"))
        old = time.time() - 3600
        for f in landing.rglob("*"):
            if f.is_file():
                os.utime(f, (old, old))
        print(f"{target.name}: {written} rows ({encoding} source)", file=sys.stderr)
        done.write_text(f"{written}\n", encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return landing


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _timing(label: str, timings: dict[str, float], fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            timings[label] = timings.get(label, 0.0) + time.perf_counter() - started

    return wrapper


def _log_slow_statements(engine: sa.Engine, threshold: float) -> None:
    """Print every statement of ``engine`` that takes longer than ``threshold`` seconds."""
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["popdata_bench_started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seconds = time.perf_counter() - conn.info.pop("popdata_bench_started", time.perf_counter())
        if seconds > threshold:
            print(f"  [sql {seconds:6.2f}s] {' '.join(statement.split())[:110]}", file=sys.stderr)


def raw_copy(engine: sa.Engine, path: Path) -> tuple[int, float]:
    """COPY the decoded CSV as is into an UNLOGGED all-text table; returns (rows, seconds of the COPY)."""
    import psycopg

    text = path.read_bytes().decode("gb18030")
    header = next(csv.reader(io.StringIO(text[: text.index("\n") + 1], newline="")))
    columns = ", ".join(f"c{i} text" for i in range(len(header)))
    payload = text.encode("utf-8")
    del text
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert isinstance(conn, psycopg.Connection)
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS public.bench_raw_copy")
            cur.execute(f"CREATE UNLOGGED TABLE public.bench_raw_copy ({columns})")
            conn.commit()
            started = time.perf_counter()
            with cur.copy("COPY public.bench_raw_copy FROM STDIN (FORMAT csv, HEADER true)") as copier:
                view = memoryview(payload)
                for offset in range(0, len(payload), 1 << 20):
                    copier.write(view[offset : offset + (1 << 20)])
            conn.commit()
            seconds = time.perf_counter() - started
            cur.execute("SELECT count(*) FROM public.bench_raw_copy")
            found = cur.fetchone()
            count = int(found[0]) if found else 0
            cur.execute("DROP TABLE public.bench_raw_copy")
        conn.commit()
    finally:
        raw.close()
    return count, seconds


@dataclass
class IngestRun:
    """One timed ingest of the file on its own scratch database, as one role."""

    file_name: str
    size_mb: float
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    reached: str
    copied: int
    copy_seconds: float
    steps: dict[str, float]
    timings: dict[str, float]
    rss_before_mib: float


WHO = {
    "loader": "as the pipeline: login popdata_pipeline acting as popdata_loader (row-level security on)",
    "platform": "as the platform (the warehouse URL's login; a superuser bypasses row-level security)",
}
"""The roles an ingest can run as (``--as``), and what each means."""


def ingest_once(
    who: str,
    server_url: sa.URL,
    cached: Path,
    work: Path,
    *,
    settings: Settings,
    bar: Any,
    slow_sql: float | None,
) -> IngestRun:
    """Migrate a fresh scratch database as the platform, then ingest the regions and the registry
    file as ``who`` (:data:`WHO`), timing the raw COPY and every phase; the database is dropped."""
    name = f"popdata_bench_ingest_{uuid.uuid4().hex[:8]}"
    bench_url = server_url.set(database=name).render_as_string(hide_password=False)
    db.ensure_database(bench_url)
    platform = sa.create_engine(bench_url)
    engine = (
        db.role_engine(db.login_url(bench_url, db.PIPELINE_LOGIN), settings.pipeline_role)
        if who == "loader"
        else platform
    )
    if slow_sql is not None:
        _log_slow_statements(engine, slow_sql)
    try:
        with bar.step(f"{STAGES[2]} ({who})"):
            landing, outbox = work / "landing", work / "outbox"
            shutil.copytree(cached, landing)
            migrate.upgrade(platform)
            feed, regions = feed_by_id(FEED), feed_by_id(REGIONS)
            pipeline.process(
                engine, settings, regions, landing=landing, outbox=outbox, quiet_seconds=0, now=time.time()
            )
            path = next((landing / feed.agency / feed.feed).glob("*.csv"))
            rss_before = _peak_rss_mib()

        with bar.step(f"{STAGES[3]} ({who})"):
            copied, copy_seconds = raw_copy(platform, path)

        timings: dict[str, float] = {}
        originals = (read.read_file, rows.normalise_table, staging.create_and_copy)
        read.read_file = _timing("  decode + parse", timings, read.read_file)
        rows.normalise_table = _timing("  normalise", timings, rows.normalise_table)
        staging.create_and_copy = _timing("  COPY to staging", timings, staging.create_and_copy)
        steps: dict[str, float] = {}
        reached: Any = None
        try:
            with bar.step(f"{STAGES[4]} ({who})"):
                started = time.perf_counter()
                registered = pipeline.register(engine, feed, landing, quiet_seconds=0, now=time.time())
                steps["register (sha256, ledger)"] = time.perf_counter() - started
            (file_id,) = registered.file_ids
            for label, step in (
                ("stage", lambda: pipeline.stage(engine, settings, file_id, landing=landing, outbox=outbox)),
                (
                    "validate (GX, in PostgreSQL)",
                    lambda: pipeline.validate(engine, settings, file_id, outbox=outbox),
                ),
                ("publish (core + marts)", lambda: pipeline.publish(engine, file_id, outbox=outbox)),
            ):
                with bar.step(f"{label} ({who})"):
                    started = time.perf_counter()
                    reached = step()
                    steps[label] = time.perf_counter() - started
        finally:
            read.read_file, rows.normalise_table, staging.create_and_copy = originals
        with engine.connect() as conn:
            ledger = pipeline.ledger_row(conn, file_id)
        return IngestRun(
            file_name=path.name,
            size_mb=path.stat().st_size / 1e6,
            rows_read=int(ledger["rows_read"] or 0),
            rows_loaded=int(ledger["rows_loaded"] or 0),
            rows_rejected=int(ledger["rows_rejected"] or 0),
            reached=str(reached),
            copied=copied,
            copy_seconds=copy_seconds,
            steps=steps,
            timings=timings,
            rss_before_mib=rss_before,
        )
    finally:
        engine.dispose()
        platform.dispose()
        db.drop_database(bench_url)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2014)
    parser.add_argument(
        "--slow-sql",
        type=float,
        default=None,
        metavar="SECONDS",
        help="also print statements slower than this",
    )
    parser.add_argument(
        "--as",
        dest="who",
        choices=tuple(WHO),
        action="append",
        help="ingest as this role, each on its own scratch database (default: both, side by side)",
    )
    parser.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.who = list(dict.fromkeys(args.who or WHO))
    if args.prepare_only:
        prepare(args.rows, args.seed)
        return
    with progress_bar(
        2 + (len(STAGES) - 2) * len(args.who),
        "popdata bench-ingest",
        lines=True,
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        # the file is generated in a child process: its memory does not count in the peak below
        with bar.step(STAGES[0]):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "popdata.bench_ingest",
                    "--rows",
                    str(args.rows),
                    "--seed",
                    str(args.seed),
                    "--prepare-only",
                ],
                check=True,
            )
            cached = prepare(args.rows, args.seed)

        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        with bar.step(STAGES[1]):
            started = time.perf_counter()
            import great_expectations  # noqa: F401  (the GX import, paid before timing)

            import popdata.quality.gx  # noqa: F401

            gx_import = time.perf_counter() - started
        settings = load_settings()
        server_url = make_url(db.warehouse_url(settings))
        runs: dict[str, IngestRun] = {}
        work = Path(tempfile.mkdtemp(prefix="popdata-bench-ingest-"))
        try:
            for who in args.who:
                runs[who] = ingest_once(
                    who, server_url, cached, work / who, settings=settings, bar=bar, slow_sql=args.slow_sql
                )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        first = next(iter(runs.values()))
        report = figures(
            headline=(
                f"popdata bench-ingest — {first.file_name}, {first.size_mb:.1f} MB GB18030, {first.rows_read} rows "
                f"({first.rows_loaded} loaded, {first.rows_rejected} rejected), reached {first.reached!r}"
            ),
            gx_import=gx_import,
            runs=runs,
            peak_mib=_peak_rss_mib(),
            rss_before_mib=first.rss_before_mib,
        )
    print_renderables(report)


def phase_table(runs: dict[str, IngestRun]) -> Table:
    """(a) the raw COPY, (b) the full ingest step by step (the stage split into its parts), then its
    total: one seconds and one rows/s column per run (:data:`WHO`), side by side.

    rows/s are the rows read of the file over each phase's seconds.
    """
    columns: list[str | tuple[str, str]] = ["phase"]
    for who in runs:
        columns += [(f"{who} s", "right"), (f"{who} rows/s", "right")]
    table = new_table(None, columns)

    def row(label: str, seconds: dict[str, float | None], counted: dict[str, int]) -> None:
        cells = [label]
        for who in runs:
            value = seconds.get(who)
            cells += ["", ""] if not value else [f"{value:.2f}", f"{counted[who] / value:,.0f}"]
        table.add_row(*cells)

    read_rows = {who: run.rows_read for who, run in runs.items()}
    row(
        "(a) raw COPY (text, UNLOGGED)",
        {w: r.copy_seconds for w, r in runs.items()},
        {w: r.copied for w, r in runs.items()},
    )
    row("(b) full ingest", {}, read_rows)
    first = next(iter(runs.values()))
    for label in first.steps:
        row(f"  {label}", {w: r.steps.get(label) for w, r in runs.items()}, read_rows)
        if label == "stage":
            for sub in first.timings:
                row(f"  {sub}", {w: r.timings.get(sub) for w, r in runs.items()}, read_rows)
    table.add_section()
    row("  full ingest total", {w: sum(r.steps.values()) for w, r in runs.items()}, read_rows)
    return table


def figures(
    *,
    headline: str,
    gx_import: float,
    runs: dict[str, IngestRun],
    peak_mib: float,
    rss_before_mib: float,
) -> list[RenderableType]:
    """What ``make bench-ingest`` prints: the file, the phase table, the ratios and the peak memory."""
    lines: list[str] = [""]
    for who, run in runs.items():
        total = sum(run.steps.values())
        lines.append(f"{who}: {WHO[who]}")
        lines.append(f"  full ingest ÷ raw COPY: {total / run.copy_seconds:.1f}x (target ≤ 3x)")
        validate_seconds = run.steps.get("validate (GX, in PostgreSQL)")
        if validate_seconds is not None and run.timings.get("  COPY to staging"):
            lines.append(
                f"  GX validation (full suite, 1 staged file) ÷ the COPY that staged it: "
                f"{validate_seconds / run.timings['  COPY to staging']:.2f}x (issue 4 target ≤ 2x)"
            )
    if {"loader", "platform"} <= runs.keys():
        loader, platform = (sum(runs[w].steps.values()) for w in ("loader", "platform"))
        publish = [runs[w].steps.get("publish (core + marts)") or 0.0 for w in ("loader", "platform")]
        lines.append(
            f"as the loader ÷ as the platform: full ingest {loader / platform:.2f}x, "
            f"publish {publish[0] / publish[1]:.2f}x (the cost of row-level security and the grants)"
        )
    lines.append(
        f"peak memory (RSS high-water mark of this process): {peak_mib:,.0f} MiB "
        f"(before the runs: {rss_before_mib:,.0f} MiB; target < 4 GiB); GX validation and publish run "
        "in PostgreSQL and are not counted"
    )
    return [
        Text("\n" + headline),
        Text(f"GX import before timing: {gx_import:.1f}s\n"),
        phase_table(runs),
        *(Text(line) for line in lines),
    ]


if __name__ == "__main__":
    main()
