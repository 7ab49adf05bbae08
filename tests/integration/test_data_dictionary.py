"""The data dictionary: generated from the comments, committed up to date, examples that run."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from popdata.warehouse import dictionary, migrate

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "data-dictionary.md"


@pytest.fixture(scope="module")
def warehouse(module_databases) -> Iterator[sa.Engine]:  # type: ignore[no-untyped-def]
    """A freshly migrated, empty warehouse shared by the tests of this module."""
    engine = sa.create_engine(module_databases.create("popdata_test_dictionary"))
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def test_committed_dictionary_matches_a_freshly_migrated_warehouse(warehouse: sa.Engine) -> None:
    generated = dictionary.render_dictionary(warehouse)
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.is_file() else ""
    if generated != committed:
        diff = "\n".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(),
                    generated.splitlines(),
                    "docs/data-dictionary.md (committed)",
                    "generated from the migrations",
                    lineterm="",
                )
            )[:60]
        )
        pytest.fail(
            "docs/data-dictionary.md is out of date with the migrations (or the examples): regenerate it"
            " with `popdata db dictionary` (against a freshly migrated warehouse, e.g."
            " POPDATA_WAREHOUSE_URL=<empty database> popdata db dictionary) and commit it.\n" + diff,
            pytrace=False,
        )


def test_rendering_is_deterministic(warehouse: sa.Engine) -> None:
    assert dictionary.render_dictionary(warehouse) == dictionary.render_dictionary(warehouse)


def test_dictionary_covers_the_published_relations_only(warehouse: sa.Engine) -> None:
    with warehouse.connect() as conn:
        relations = dictionary.read_catalog(conn)
    names = {r.qualified for r in relations}
    assert {"mart.population", "ops.unregistered_births", "audit.file_ledger", "core.record_link"} <= names
    assert {r.schema for r in relations} == {"mart", "ops", "audit", "core"}
    assert [r.qualified for r in relations if r.schema == "core"] == ["core.record_link"]
    text = dictionary.render_dictionary(warehouse)
    for relation in relations:
        assert f"### {relation.qualified}\n" in text
    assert "core.person_id_numbers" not in text and "pii." not in text and "staging." not in text


def _examples() -> list[dictionary.Example]:
    return dictionary.load_examples()


def test_examples_are_bilingual_questions_with_sql() -> None:
    examples = _examples()
    assert len(examples) >= 6
    for example in examples:
        assert dictionary.is_bilingual(example.question), example.question
        assert example.sql.rstrip().endswith(";"), example.question
        code = re.sub(r"--[^\n]*", "", example.sql)  # comments aside
        assert code.count(";") == 1, f"one statement per example: {example.question}"


@pytest.mark.parametrize("example", _examples(), ids=lambda e: e.question.split(" / ")[-1])
def test_every_example_query_runs(warehouse: sa.Engine, example: dictionary.Example) -> None:
    """Each example runs as written (as psql would send it: no parameters) on a migrated warehouse."""
    raw = warehouse.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(example.sql)
        assert cursor.description, f"{example.question}: the query returns no result set"
        cursor.fetchall()
    finally:
        raw.rollback()
        raw.close()


def test_every_published_table_and_column_has_a_bilingual_comment(warehouse: sa.Engine) -> None:
    """mart, ops, audit and core.record_link: everything the dictionary publishes."""
    with warehouse.connect() as conn:
        relations = list(dictionary.read_catalog(conn))
    assert relations
    missing = [r.qualified for r in relations if not dictionary.is_bilingual(r.comment)]
    missing += [
        f"{r.qualified}.{c.name}"
        for r in relations
        for c in r.columns
        if not dictionary.is_bilingual(c.comment)
    ]
    assert not missing, f"without a Chinese and English COMMENT: {missing}"
