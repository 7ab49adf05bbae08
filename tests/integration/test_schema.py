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


def test_a_feed_added_by_yaml_gets_its_core_table_without_a_migration(databases) -> None:  # type: ignore[no-untyped-def]
    """Adding a feed is adding a YAML (and a suite): its core table and view are derived from the config."""
    from popdata.config.feeds import Column, Feed
    from popdata.warehouse.feed_tables import ensure_feed_tables

    engine = sa.create_engine(databases.create("popdata_test_newfeed"))
    migrate.upgrade(engine)
    vaccinations = Feed(
        agency="health",
        feed="vaccinations",
        title_zh="预防接种",
        kind="incremental",
        key=("vaccination_no",),
        columns=(
            Column(
                name="vaccination_no",
                headers=("接种编号",),
                type="code",
                required=True,
                comment="接种编号: no",
            ),
            Column(
                name="child_id",
                headers=("儿童身份证号",),
                type="id_number",
                comment="儿童身份证号 / child's ID",
            ),
            Column(name="vaccinated_on", headers=("接种日期",), type="date", required=True),
        ),
    )
    assert ensure_feed_tables(engine, (vaccinations,)) == ["health__vaccinations"]
    assert ensure_feed_tables(engine, (vaccinations,)) == []  # only ever adds what is missing
    inspector = sa.inspect(engine)
    columns = {c["name"] for c in inspector.get_columns("vaccinations_rows", schema="core")}
    assert {name for name, _ in rows.staging_columns(vaccinations)} | {"file_id"} <= columns
    assert "vaccinations" in inspector.get_view_names(schema="core")
    engine.dispose()
