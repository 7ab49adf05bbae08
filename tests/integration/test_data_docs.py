"""Data Docs: validate a PostgreSQL table through GX as the platform does, record the result, build
GX's static site, and check that it links the validation and holds no value from the data."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from popdata.quality import docs
from popdata.quality.gx import RESULT_FORMAT

pytestmark = pytest.mark.integration

FAKE_ID = "11010519491231002X"  # a made-up resident ID number: must never reach the site
FAKE_NAME = "测试甲乙"


def _staged_table(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA staging"))
        conn.execute(sa.text("CREATE TABLE staging.people_1 (id_no text, name text, persons integer)"))
        conn.execute(
            sa.text("INSERT INTO staging.people_1 VALUES (:a, :n, 3), (:a, :n, 2), (NULL, 'x', 1)"),
            {"a": FAKE_ID, "n": FAKE_NAME},
        )
    engine.dispose()


def _validate(url: str, result_format: dict[str, Any], run_name: str) -> tuple[Any, Any]:
    """Validate staging.people_1 like popdata.quality.gx does; returns (result, suite)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    context = gx.get_context(mode="ephemeral")
    datasource = context.data_sources.add_sql(name="popdata", connection_string=url, create_temp_table=False)
    try:
        asset = datasource.add_table_asset(
            name="staging.people_1", table_name="people_1", schema_name="staging"
        )
        batch = asset.add_batch_definition_whole_table("whole_table")
        suite = context.suites.add(
            gx.ExpectationSuite(
                name="test__people",
                expectations=[
                    gx.expectations.ExpectColumnValuesToNotBeNull(
                        column="id_no", meta={"severity": "critical"}
                    ),
                    gx.expectations.ExpectColumnValuesToBeUnique(
                        column="id_no", meta={"severity": "warning"}
                    ),
                ],
            )
        )
        if result_format.get("result_format") == "COMPLETE":  # values would show up here, if anywhere
            suite.add_expectation(
                gx.expectations.ExpectColumnDistinctValuesToBeInSet(
                    column="name", value_set=["x"], meta={"severity": "warning"}
                )
            )
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"v-{run_name}", data=batch, suite=suite)
        )
        result = definition.run(result_format=result_format, run_id=RunIdentifier(run_name=run_name))
    finally:
        datasource.get_execution_engine().close()
        datasource.get_engine().dispose()
    return result, suite


def _validation_links(index: Path) -> list[str]:
    """The validation pages the index links (GX's index table keeps them in each row's link path)."""
    return sorted(set(re.findall(r"validations/[^'\"]+?\.html", index.read_text(encoding="utf-8"))))


def _site_text(root: Path) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in root.rglob("*")
        if p.is_file() and p.suffix in (".html", ".json", ".yml", ".css", ".js", "")
    )


def test_recorded_validations_build_a_data_docs_site_without_values(databases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = databases.create("popdata_test_docs")
    _staged_table(url)
    root = tmp_path / "gx"

    result, suite = _validate(url, dict(RESULT_FORMAT), "file_1")
    assert not result.success
    record = docs.record_validation(result, suite, file_id=1, root=root)
    assert record == root / "records" / "test__people" / "file_1__file_1.json"

    index = docs.build_data_docs(root)
    assert index == root / "site" / "index.html" and index.is_file()
    page_links = _validation_links(index)
    assert page_links, "the index links no validation page"
    page = index.parent / page_links[0]
    assert page.is_file() and "test__people" in page_links[0] and "file_1" in page_links[0]
    text = page.read_text(encoding="utf-8")
    assert "expect_column_values_to_not_be_null" in text or "values must never be null" in text
    assert "unexpected values found" in text  # the counts are rendered

    # a second record, validated with GX's COMPLETE format (lists every unexpected value): the
    # scrub keeps the values out of the record, the GX stores and the site
    complete, complete_suite = _validate(url, {"result_format": "COMPLETE"}, "file_2")
    assert FAKE_ID in json.dumps(complete.to_json_dict(), default=str)  # GX really returned it
    docs.record_validation(
        complete, complete_suite, file_id=2, root=root, run_id="manual__2014-06-30T00:00:00+00:00"
    )
    assert docs.build_data_docs(root) == index
    assert len(_validation_links(index)) == 2

    everything = _site_text(root)
    assert FAKE_ID not in everything
    assert FAKE_ID.lower() not in everything.lower()
    assert FAKE_NAME not in everything

    # validating the same file in the same run again overwrites: one record, one page
    again, again_suite = _validate(url, dict(RESULT_FORMAT), "file_1")
    assert docs.record_validation(again, again_suite, file_id=1, root=root) == record
    assert docs.build_data_docs(root) == index
    assert len(list((root / "records").rglob("*.json"))) == 2
    assert len(list((root / "site" / "validations").rglob("*.html"))) == 2
    assert len(_validation_links(index)) == 2


def test_build_data_docs_never_raises(tmp_path: Path) -> None:
    assert docs.build_data_docs(tmp_path / "empty") is None  # nothing recorded yet
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x", encoding="utf-8")
    assert docs.build_data_docs(not_a_folder) is None  # an error is logged, never raised
    broken = tmp_path / "broken"
    (broken / "records" / "s").mkdir(parents=True)
    (broken / "records" / "s" / "file_1__r.json").write_text("{not json", encoding="utf-8")
    built = docs.build_data_docs(broken)  # an unreadable record is skipped (logged), never raised
    assert built is None or built.is_file()
