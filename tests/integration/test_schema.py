"""The warehouse schema: migrations apply, and config and tables agree."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from popdata.config.feeds import default_feeds
from popdata.ingest import pipeline, rows
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration


def test_migrations_create_every_schema_and_are_idempotent(databases) -> None:  # type: ignore[no-untyped-def]
    engine = sa.create_engine(databases.create("popdata_test_schema"))
    assert migrate.current_revision(engine) is None
    assert migrate.upgrade(engine) == migrate.head_revision()
    assert migrate.upgrade(engine) == migrate.head_revision()
    inspector = sa.inspect(engine)
    assert {"staging", "core", "pii", "mart", "ops", "audit"} <= set(inspector.get_schema_names())
    # every feed's core table holds every staging column, so publish can copy them all
    for feed in default_feeds():
        core = {c["name"] for c in inspector.get_columns(f"{feed.feed}_rows", schema="core")}
        staged = {name for name, _ in rows.staging_columns(feed)}
        assert staged | {"file_id"} <= core, (feed.feed_id, sorted(staged - core))
        for mart in feed.publishes:
            schema, table = mart.split(".")
            assert inspector.has_table(table, schema=schema), mart
            assert (pipeline.SQL_DIR / f"{schema}_{table}.sql").is_file(), mart
    # the published tables carry Chinese and English comments on every column
    for schema, table in (("mart", "population"), ("audit", "file_ledger"), ("audit", "rejected_rows")):
        for column in inspector.get_columns(table, schema=schema):
            assert column.get("comment"), f"{schema}.{table}.{column['name']} has no COMMENT"
    engine.dispose()
