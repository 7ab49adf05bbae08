"""Staging tables: one per file, filled by COPY, dropped once the file is published.

Table and column names come only from validated feed config (snake_case
identifiers) and integer file ids; they are still quoted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql

from popdata.config.feeds import Feed
from popdata.ingest.rows import staging_columns


def staging_table(feed: Feed, file_id: int) -> str:
    """Name (without schema) of the staging table of one file."""
    return f"{feed.feed}_{int(file_id)}"


def create_and_copy(engine: sa.Engine, feed: Feed, file_id: int, columns: Mapping[str, Sequence[Any]]) -> int:
    """(Re)create ``staging.<feed>_<file_id>`` and COPY the normalised rows into it; returns the row count."""
    table = staging_table(feed, file_id)
    spec = staging_columns(feed)
    names = [name for name, _ in spec]
    ident = sql.Identifier("staging", table)
    ddl = sql.SQL("CREATE TABLE {} ({})").format(
        ident,
        sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in spec),
    )
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(ident, sql.SQL(", ").join(map(sql.Identifier, names)))
    data = [columns[n] for n in names]
    count = len(data[0]) if data else 0
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert isinstance(conn, psycopg.Connection)
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
            cur.execute(ddl)
            with cur.copy(copy) as copier:
                for row in zip(*data, strict=True):
                    copier.write_row(row)
            cur.execute(sql.SQL("ANALYZE {}").format(ident))
        conn.commit()
    finally:
        raw.close()
    return count


def drop(connection: sa.Connection, feed: Feed, file_id: int) -> None:
    """Drop a file's staging table if it exists."""
    table = staging_table(feed, file_id)
    connection.execute(sa.text(f'DROP TABLE IF EXISTS staging."{table}"'))


def exists(connection: sa.Connection, feed: Feed, file_id: int) -> bool:
    """True when the file's staging table exists."""
    return bool(
        connection.execute(
            sa.text("SELECT to_regclass(:name) IS NOT NULL"),
            {"name": f'staging."{staging_table(feed, file_id)}"'},
        ).scalar()
    )


def attach_as_partition(connection: sa.Connection, feed: Feed, file_id: int) -> None:
    """Publish a whole-file feed's staging table as its file's partition of ``core.<feed>_rows``.

    Inside the caller's publish transaction: the staging table gains the constant ``file_id``
    column (a catalogue-only change), the parent's NOT NULL columns and a ``file_id`` check
    (one scan, so ATTACH need not scan again), moves to ``core`` as ``<feed>_rows_<file_id>``
    and is attached; PostgreSQL builds the partition's indexes in bulk and validates the
    foreign key to the ledger with one query instead of one trigger call per row.
    """
    if not feed.whole_file:
        raise ValueError(f"{feed.feed_id} is not a whole-file feed; its rows are inserted, not attached")
    file_id = int(file_id)
    parent = f"{feed.feed}_rows"
    partition = f"{parent}_{file_id}"
    not_null = [
        str(name)
        for name in connection.execute(
            sa.text(
                "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:parent AS regclass)"
                " AND attnum > 0 AND NOT attisdropped AND attnotnull AND attname <> 'file_id'"
                " ORDER BY attnum"
            ),
            {"parent": f'core."{parent}"'},
        ).scalars()
    ]
    alterations = [f"ADD COLUMN file_id bigint NOT NULL DEFAULT {file_id}"]
    alterations += [f'ALTER COLUMN "{name}" SET NOT NULL' for name in not_null]
    alterations.append(f'ADD CONSTRAINT "{partition}_file_id" CHECK (file_id = {file_id})')
    connection.execute(sa.text("SET LOCAL maintenance_work_mem = '256MB'"))
    connection.execute(
        sa.text(f'ALTER TABLE staging."{staging_table(feed, file_id)}" ' + ", ".join(alterations))
    )
    connection.execute(
        sa.text(f'ALTER TABLE staging."{staging_table(feed, file_id)}" RENAME TO "{partition}"')
    )
    # moving it into core and attaching it needs the owner of core: the platform's function does
    # just that (migration 0011), so the pipeline's role needs no ownership of core
    connection.execute(
        sa.text("SELECT core.attach_file_partition(:parent, :file_id)"),
        {"parent": parent, "file_id": file_id},
    )
