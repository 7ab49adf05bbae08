"""``make bench``: measured throughput of the household registry slice, phase by phase.

Generates a synthetic county, then times each step of one registry snapshot
through the real pipeline code on a scratch database of the configured server
(the embedded default unless ``POPDATA_WAREHOUSE_URL`` is set): decode and
parse, normalise, COPY into staging, Great Expectations validation, publish.
It prints rows per second per phase, each phase's share of the total, and a
side-by-side ratio of COPY against row-by-row ``executemany`` INSERT on the
same rows. Figures are printed, never asserted.

    python -m popdata.bench [--persons N] [--seed S]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from popdata.config.feeds import feed_by_id
from popdata.config.settings import load_settings
from popdata.ingest import arrive, pipeline, read, rows
from popdata.progress import new_table, print_renderables, progress_bar
from popdata.warehouse import db, migrate, staging

T = TypeVar("T")

STAGES = (
    "generate",
    "ingest the regions",
    "decode + parse",
    "normalise",
    "register, COPY to staging",
    "GX validate",
    "publish",
    "COPY vs INSERT",
)
"""The steps of the progress bar (what is timed is listed in the phase table)."""


def _timed(label: str, timings: dict[str, float], fn: Callable[[], T]) -> T:
    """Call ``fn``, record its seconds under ``label``, return its result."""
    started = time.perf_counter()
    result = fn()
    timings[label] = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=2014)
    args = parser.parse_args(argv)

    from popdata.generate import generate_county

    settings = load_settings()
    work = Path(tempfile.mkdtemp(prefix="popdata-bench-"))
    server_url = make_url(db.warehouse_url(settings))
    name = f"popdata_bench_{uuid.uuid4().hex[:8]}"
    bench_url = server_url.set(database=name).render_as_string(hide_password=False)
    db.ensure_database(bench_url)
    engine = sa.create_engine(bench_url)
    try:
        with progress_bar(
            len(STAGES), "popdata bench", lines=True, console=Console(stderr=True), transient=True
        ) as bar:
            with bar.step(STAGES[0]):
                started = time.perf_counter()
                generate_county(work, persons=args.persons, seed=args.seed)
                generate_seconds = time.perf_counter() - started
            with bar.step(STAGES[1]):
                migrate.upgrade(engine)
                feed = feed_by_id("police__household_registry")
                landing, outbox = work / "landing", work / "outbox"
                regions = feed_by_id("stats__regions")
                pipeline.process(
                    engine,
                    settings,
                    regions,
                    landing=landing,
                    outbox=outbox,
                    quiet_seconds=0,
                    now=time.time(),
                )

                drops = arrive.find_drops(landing, feed, quiet_seconds=0, now=time.time())
                path = max(drops, key=lambda d: d.path.stat().st_size).path
                size_mb = path.stat().st_size / 1e6
            timings: dict[str, float] = {}
            with bar.step(STAGES[2]):
                table = _timed(
                    "decode + parse",
                    timings,
                    lambda: read.read_file(path, feed, max_bytes=settings.max_file_bytes),
                )
            with bar.step(STAGES[3]):
                with engine.connect() as conn:
                    resolver = pipeline.load_region_resolver(conn)
                extract = arrive.check_file_name(path.name, feed.feed).extract_date
                assert extract is not None
                normalised = _timed(
                    "normalise",
                    timings,
                    lambda: rows.normalise_table(table, feed, extract_date=extract, resolver=resolver),
                )
                n = normalised.rows_loaded

            # the rest through the real steps, on a registered ledger row
            with bar.step(STAGES[4]):
                registered = pipeline.register(engine, feed, landing, quiet_seconds=0, now=time.time())
                with engine.connect() as conn:
                    file_id = next(
                        i
                        for i in registered.file_ids
                        if pipeline.ledger_row(conn, i)["file_name"] == path.name
                    )
                _timed(
                    "COPY to staging",
                    timings,
                    lambda: staging.create_and_copy(engine, feed, file_id, normalised.columns),
                )
                with engine.begin() as conn:
                    conn.execute(
                        sa.text(
                            "UPDATE audit.file_ledger SET stage = 'staged', rows_read = :r, rows_loaded = :l,"
                            " rows_rejected = :j WHERE file_id = :id"
                        ),
                        {"r": normalised.rows_read, "l": n, "j": normalised.rows_rejected, "id": file_id},
                    )
            with bar.step(STAGES[5]):
                _timed(
                    "GX validate",
                    timings,
                    lambda: pipeline.validate(engine, settings, file_id, outbox=outbox),
                )
            with bar.step(STAGES[6]):
                _timed(
                    "publish (core + mart)", timings, lambda: pipeline.publish(engine, file_id, outbox=outbox)
                )

            # side by side: COPY versus executemany INSERT of the same rows
            with bar.step(STAGES[7]):
                sample = min(n, 50_000)
                cols = {k: v[:sample] for k, v in normalised.columns.items()}
                copy_s = _time(lambda: staging.create_and_copy(engine, feed, 10**9, cols))
                insert_s = _time(lambda: _insert_rows(engine, feed, cols))

        print_renderables(
            figures(
                persons=args.persons,
                generate_seconds=generate_seconds,
                file_line=f"file: {path.name}, {size_mb:.1f} MB, {normalised.rows_read} rows ({n} loaded)",
                rows_loaded=n,
                timings=timings,
                sample=sample,
                copy_seconds=copy_s,
                insert_seconds=insert_s,
            )
        )
    finally:
        engine.dispose()
        db.drop_database(bench_url)
        shutil.rmtree(work, ignore_errors=True)


def phase_table(timings: dict[str, float], rows_loaded: int) -> Table:
    """Seconds, rows per second and share of the slice of each phase, then the slice total."""
    table = new_table(None, ["phase", ("seconds", "right"), ("rows/s", "right"), ("share", "right")])
    total = sum(timings.values())
    for label, seconds in timings.items():
        table.add_row(label, f"{seconds:.2f}", f"{rows_loaded / seconds:,.0f}", f"{seconds / total:.0%}")
    table.add_section()
    table.add_row("slice total", f"{total:.2f}", f"{rows_loaded / total:,.0f}", f"{1:.0%}")
    return table


def figures(
    *,
    persons: int,
    generate_seconds: float,
    file_line: str,
    rows_loaded: int,
    timings: dict[str, float],
    sample: int,
    copy_seconds: float,
    insert_seconds: float,
) -> list[RenderableType]:
    """What ``make bench`` prints: the file, the phase table, GX ÷ COPY, COPY against INSERT."""
    return [
        Text(f"\npopdata bench — {persons} persons generated in {generate_seconds:.1f}s"),
        Text(file_line + "\n"),
        phase_table(timings, rows_loaded),
        Text(
            f"\nGX validate ÷ the COPY that staged the rows: "
            f"{timings['GX validate'] / timings['COPY to staging']:.2f}x (issue 4 target ≤ 2x)"
        ),
        Text(
            f"\nCOPY vs executemany INSERT, {sample} rows: {sample / copy_seconds:,.0f} vs "
            f"{sample / insert_seconds:,.0f} rows/s (COPY {insert_seconds / copy_seconds:.1f}x faster)"
        ),
    ]


def _time(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _insert_rows(engine: sa.Engine, feed: object, columns: dict[str, list[object]]) -> None:
    from popdata.config.feeds import Feed

    assert isinstance(feed, Feed)
    names = [n for n, _ in rows.staging_columns(feed)]
    table = staging.staging_table(feed, 10**9)
    placeholders = ", ".join(f":{n}" for n in names)
    records = [
        dict(zip(names, values, strict=True)) for values in zip(*(columns[n] for n in names), strict=True)
    ]
    with engine.begin() as conn:
        conn.execute(sa.text(f'TRUNCATE staging."{table}"'))
        conn.execute(
            sa.text(f'INSERT INTO staging."{table}" ({", ".join(names)}) VALUES ({placeholders})'), records
        )


if __name__ == "__main__":
    main()
