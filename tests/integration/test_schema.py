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


def test_whole_file_feeds_are_partitioned_by_file_and_staging_types_match(databases) -> None:  # type: ignore[no-untyped-def]
    """A snapshot or reference file publishes by ATTACH, which needs identical column types."""
    engine = sa.create_engine(databases.create("popdata_test_partitions"))
    migrate.upgrade(engine)
    with engine.connect() as conn:
        for feed in default_feeds():
            kind = conn.execute(
                sa.text("SELECT relkind FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                {"t": f"core.{feed.feed}_rows"},
            ).scalar()
            assert kind == ("p" if feed.whole_file else "r"), feed.feed_id
            if not feed.whole_file:
                continue
            core_types = dict(
                conn.execute(
                    sa.text(
                        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                        " WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped"
                    ),
                    {"t": f"core.{feed.feed}_rows"},
                ).all()
            )
            assert core_types.pop("file_id") == "bigint"
            assert core_types == dict(rows.staging_columns(feed)), feed.feed_id
    engine.dispose()


def test_migration_0003_moves_published_snapshots_into_partitions_and_back(databases) -> None:  # type: ignore[no-untyped-def]
    engine = sa.create_engine(databases.create("popdata_test_0003"))
    migrate.upgrade(engine, "0002")
    with engine.begin() as conn:
        for file_id in (1, 2):
            conn.execute(
                sa.text(
                    "INSERT INTO audit.file_ledger (file_id, agency, feed, rel_path, file_name, sha256, size_bytes,"
                    " extract_date, stage, status, rows_read, rows_loaded, rows_rejected)"
                    " VALUES (:id, 'police', 'household_registry', :p, :p, :h, 1, :d, 'published', 'loaded', 1, 1, 0)"
                ),
                {"id": file_id, "p": f"r{file_id}.csv", "h": f"{file_id:064x}", "d": f"2014-0{file_id}-28"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO core.household_registry_rows (file_id, line_no, extract_date, id_no, id_no_valid, name)"
                    " VALUES (:id, 2, :d, '11010519491231002X', true, '张三')"
                ),
                {"id": file_id, "d": f"2014-0{file_id}-28"},
            )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        partitions = (
            conn.execute(
                sa.text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = 'core.household_registry_rows'::regclass ORDER BY 1"
                )
            )
            .scalars()
            .all()
        )
        assert partitions == ["household_registry_rows_1", "household_registry_rows_2"]
        assert conn.execute(sa.text("SELECT file_id FROM core.household_registry")).scalars().all() == [2]
    migrate.downgrade(engine, "0002")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM core.household_registry_rows")).scalar() == 2
        assert conn.execute(sa.text("SELECT file_id FROM core.household_registry")).scalars().all() == [2]
    engine.dispose()
