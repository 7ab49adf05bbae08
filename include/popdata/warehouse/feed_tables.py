"""Core tables of feeds that no migration knows yet: adding a feed is adding a YAML and a suite.

The feeds of the contract have their ``core.<feed>_rows`` tables and ``core.<feed>``
views in Alembic migrations (reviewed DDL). A feed added later by dropping a YAML into
``contracts/feeds/`` gets the same shape here, derived from its config: every version
of every record in ``core.<feed>_rows``, the current version per source key in the view
``core.<feed>`` (for a snapshot feed: the rows of the latest snapshot). A whole-file feed
(snapshot or reference) has its rows table partitioned by ``file_id``, one partition per
published file (see :func:`popdata.warehouse.staging.attach_as_partition`). This step only
ever *adds* what is missing; it never alters or drops a table, so a change to an
existing feed's columns still needs a migration.
"""

from __future__ import annotations

import sqlalchemy as sa

from popdata.config.feeds import Feed
from popdata.ingest.rows import staging_columns


def missing_feed_tables(conn: sa.Connection, feeds: tuple[Feed, ...]) -> list[Feed]:
    """Feeds whose ``core.<feed>_rows`` table does not exist."""
    return [
        f
        for f in feeds
        if not conn.execute(
            sa.text("SELECT to_regclass(:n) IS NOT NULL"), {"n": f"core.{f.feed}_rows"}
        ).scalar()
    ]


def feed_table_ddl(feed: Feed) -> list[str]:
    """CREATE statements (and comments) for one feed's core table and current view."""
    name = feed.feed
    columns = ['    "file_id" bigint NOT NULL REFERENCES audit.file_ledger (file_id)']
    for column_name, pg_type in staging_columns(feed):
        not_null = " NOT NULL" if column_name in ("line_no", "extract_date") else ""
        columns.append(f'    "{column_name}" {pg_type}{not_null}')
    columns.append("    PRIMARY KEY (file_id, line_no)")
    key = ", ".join(f'"{k}"' for k in feed.key)
    partitioning = " PARTITION BY LIST (file_id)" if feed.whole_file else ""
    statements = [
        f'CREATE TABLE core."{name}_rows" (\n' + ",\n".join(columns) + "\n)" + partitioning,
        f'CREATE INDEX "{name}_rows_key" ON core."{name}_rows" ({key})',
        f'COMMENT ON TABLE core."{name}_rows" IS {_quote(feed.title_zh + "（全部版本） / every published version")}',
    ]
    for column in feed.columns:
        if column.comment:
            statements.append(
                f'COMMENT ON COLUMN core."{name}_rows"."{column.name}" IS {_quote(column.comment)}'
            )
    if feed.kind == "incremental":
        statements.append(
            f'CREATE VIEW core."{name}" AS SELECT DISTINCT ON ({key}) r.* FROM core."{name}_rows" r '
            f"ORDER BY {key}, r.extract_date DESC, r.file_id DESC, r.line_no DESC"
        )
    else:
        statements.append(
            f'CREATE VIEW core."{name}" AS SELECT r.* FROM core."{name}_rows" r WHERE r.file_id = ('
            f"SELECT l.file_id FROM audit.file_ledger l WHERE l.agency = {_quote(feed.agency)} "
            f"AND l.feed = {_quote(name)} AND l.stage = 'published' "
            "ORDER BY l.extract_date DESC NULLS LAST, l.file_id DESC LIMIT 1)"
        )
    return statements


def ensure_feed_tables(engine: sa.Engine, feeds: tuple[Feed, ...]) -> list[str]:
    """Create the core table and view of every configured feed that lacks them; returns their ids."""
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(715002)"))
        created = missing_feed_tables(conn, feeds)
        for feed in created:
            for statement in feed_table_ddl(feed):
                conn.exec_driver_sql(statement)
    return [f.feed_id for f in created]


def _quote(text: str) -> str:
    """A SQL string literal (comments and names come from validated config, quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"
