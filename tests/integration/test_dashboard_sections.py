"""The reconciliation and linkage sections on a loaded county: figures equal the warehouse, nothing identifies.

The session's 3 000-person generated county (``reconciled_county`` in tests/conftest.py: every
feed, the linkage and a reconciliation as of 2014-06-30). Every headline figure of the
two sections must equal an independent SQL query on the marts and ``ops`` counts, and nothing
the sections render (SVG of every chart, every label, cell and note) may hold an identity number
or the name of a person in the warehouse.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from popdata.dashboard.model import Section
from popdata.dashboard.sections import linkage, reconciliation
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration

REFERENCE_DATE = date(2014, 6, 30)
ID_NUMBER = re.compile(r"\d{17}[\dXx]")

LATEST_SRB_YEAR = (
    "(SELECT coalesce(max(year) FILTER (WHERE make_date(year, 12, 31) <= reference_date), max(year))"
    " FROM mart.sex_ratio_at_birth"
    " WHERE level = 'county' AND birth_order = 'all' AND boys + girls > 0)"
)
LATEST_DSE = (
    "FROM mart.birth_dse WHERE county_code IS NOT NULL"
    " ORDER BY make_date(year, 12, 31) <= reference_date DESC, year DESC, n_health + n_police DESC LIMIT 1"
)
RECONCILIATION_FIGURES = {
    "srb_county": "SELECT srb FROM mart.sex_ratio_at_birth WHERE level = 'county' AND birth_order = 'all'"
    f" AND year = {LATEST_SRB_YEAR} ORDER BY boys + girls DESC LIMIT 1",
    "births_total": f"SELECT count(*) FROM mart.births WHERE year = {LATEST_SRB_YEAR}",
    "dse_estimate": f"SELECT estimate {LATEST_DSE}",
    "dse_coverage_health": f"SELECT n_health / estimate {LATEST_DSE}",
    "dse_coverage_police": f"SELECT n_police / estimate {LATEST_DSE}",
    "unregistered_births": "SELECT count(*) FROM ops.unregistered_births",
    "registrations_without_certificate": "SELECT count(*) FROM ops.registrations_without_certificate",
    "deaths_not_cancelled": "SELECT count(*) FROM ops.deaths_not_cancelled",
    "paid_after_death": "SELECT count(*) FROM ops.paid_after_death",
    "warning_villages": "SELECT count(*) FROM (SELECT DISTINCT village_code FROM mart.warning_villages"
    " WHERE flagged AND year = (SELECT max(year) FROM mart.warning_villages)) AS v",
}
"""Figure key → an independent query for its value (coverage recomputed from the counts)."""

LINKAGE_FIGURES = {
    "records_linked": "SELECT count(*) FROM core.record_link",
    "share_linked_by_id": "SELECT (count(*) FILTER (WHERE method = 'id_exact'))::float8 / count(*)"
    " FROM core.record_link",
    "share_probabilistic": "SELECT (count(*) FILTER (WHERE method = 'probabilistic'))::float8 / count(*)"
    " FROM core.record_link",
    "new_persons": "SELECT count(*) FROM core.record_link WHERE method = 'new'",
    "clerical_review": "SELECT sum(review_queue) FROM mart.linkage_quality",
    "id_corrections": "SELECT count(*) FROM ops.id_corrections",
}
"""Linkage figure key → an independent query (from the person index itself, not the mart)."""


def identifying_strings(conn: sa.Connection) -> tuple[set[str], set[str]]:
    """Every person name and identity number in the warehouse's core tables: (names, ids).

    Found by column: text columns of ``core`` whose name contains ``name`` (but not the regions'
    names, which are reference data) and identity-number columns (``id_no``, ``*_id``, as sent too).
    """
    columns = conn.execute(
        sa.text(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c"
            " JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE c.table_schema = 'core' AND c.data_type = 'text' AND t.table_type = 'VIEW'"
            " AND c.table_name NOT LIKE 'regions%'"
            " AND (c.column_name LIKE '%name%' OR c.column_name LIKE 'id\\_no%'"
            "      OR c.column_name LIKE '%\\_id' OR c.column_name LIKE '%\\_id\\_sent')"
        )
    ).all()
    names: set[str] = set()
    ids: set[str] = set()
    for table, column in columns:
        values = conn.execute(
            sa.text(f'SELECT DISTINCT "{column}" FROM core."{table}" WHERE "{column}" IS NOT NULL')
        ).scalars()
        target = names if "name" in column else ids
        target.update(v.strip() for v in values if v and len(v.strip()) >= 2)
    return names, ids


def region_names(conn: sa.Connection) -> list[str]:
    """The region reference's names, longest first (shown legitimately; removed before scanning)."""
    names = conn.execute(sa.text("SELECT DISTINCT name FROM core.regions")).scalars()
    return sorted((n for n in names if n), key=len, reverse=True)


def rendered_text(section: Section) -> str:
    """Everything a section shows: labels, figures, notes, tables and each chart's SVG."""
    parts: list[str] = [str(section.title), str(section.empty or "")]
    for figure in section.figures:
        parts += [str(figure.label), figure.text, str(figure.note or "")]
    for chart in section.charts:
        parts += [str(chart.title), str(chart.description), chart.svg()]
    for table in section.tables:
        parts += [str(table.title), str(table.note or ""), *(str(c) for c in table.columns)]
        parts += [cell.text for row in table.rows for cell in row]
    return "\n".join(parts)


def assert_nothing_identifies(text: str, names: set[str], ids: set[str], regions: list[str]) -> None:
    """No identity-number pattern, no known identity number, no person name in ``text``."""
    assert names and ids, "the loaded county should have names and identity numbers to look for"
    assert not ID_NUMBER.search(text), ID_NUMBER.search(text)
    leaked_ids = sorted(i for i in ids if i in text)
    assert not leaked_ids, leaked_ids[:5]
    for region in regions:  # a person may share a name with a village; the village may be shown
        text = text.replace(region, "")
    leaked = sorted(n for n in names if n in text)
    assert not leaked, leaked[:10]


@pytest.fixture(scope="module")
def engine(reconciled_engine: sa.Engine) -> sa.Engine:
    """The session's reconciled test county (tests/conftest.py)."""
    return reconciled_engine


@pytest.fixture(scope="module")
def sections(engine: sa.Engine) -> dict[str, Section]:
    """The two sections built once."""
    with engine.connect() as conn:
        return {"reconciliation": reconciliation.build(conn), "linkage": linkage.build(conn)}


def _expected(engine: sa.Engine, queries: dict[str, str]) -> dict[str, Any]:
    with engine.connect() as conn:
        return {key: conn.execute(sa.text(sql)).scalar() for key, sql in queries.items()}


def test_reconciliation_figures_equal_the_warehouse(engine: sa.Engine, sections: dict[str, Section]) -> None:
    section = sections["reconciliation"]
    assert section.as_of == REFERENCE_DATE and section.empty is None
    assert [f.key for f in section.figures] == list(RECONCILIATION_FIGURES)
    expected = _expected(engine, RECONCILIATION_FIGURES)
    for key, value in expected.items():
        got = section.figure(key).value
        if key.startswith("dse_coverage"):  # the mart's coverage is n / estimate, computed in SQL
            assert got == pytest.approx(value, rel=1e-12), key
        else:
            assert got == value, key
    # the county's work lists are not empty, so the counts are not vacuous
    assert expected["unregistered_births"] > 0 and expected["deaths_not_cancelled"] > 0
    assert section.figure("unregistered_births").status == "warn"


def test_linkage_figures_equal_the_person_index(engine: sa.Engine, sections: dict[str, Section]) -> None:
    section = sections["linkage"]
    assert section.as_of == REFERENCE_DATE and section.empty is None
    assert [f.key for f in section.figures] == list(LINKAGE_FIGURES)
    expected = _expected(engine, LINKAGE_FIGURES)
    for key, value in expected.items():
        assert section.figure(key).value == value, key
    with engine.connect() as conn:
        mentions = conn.execute(
            sa.text("SELECT count(DISTINCT mention_id) FROM ops.clerical_review")
        ).scalar()
    assert section.figure("clerical_review").value == mentions
    assert expected["id_corrections"] > 0


def test_tables_and_charts_match_the_marts(engine: sa.Engine, sections: dict[str, Section]) -> None:
    section = sections["reconciliation"]
    assert [c.key for c in section.charts] == [
        "srb_by_town",
        "registration_gaps",
        "birth_dse",
        "prenatal_progress",
        "social_fee",
    ]
    with engine.connect() as conn:
        towns = conn.execute(
            sa.text(
                "SELECT status FROM mart.sex_ratio_at_birth WHERE level = 'town' AND birth_order = 'all'"
                f" AND year = {LATEST_SRB_YEAR}"
            )
        ).scalars()
        statuses = sorted(towns)
        dse_years = conn.execute(sa.text("SELECT count(*) FROM mart.birth_dse")).scalar()
        feeds = conn.execute(sa.text("SELECT count(*) FROM mart.linkage_quality")).scalar()
        town_names = set(conn.execute(sa.text("SELECT name FROM core.regions WHERE level = '乡'")).scalars())
    srb = next(t for t in section.tables if t.key == "srb_by_town")
    assert len(srb.rows) == len(statuses) + 1  # the county first
    expected_status = {"high": "bad", "low": "bad", "normal": "ok", "insufficient": "none"}
    assert sorted(row[-1].status for row in srb.rows[1:]) == sorted(expected_status[s] for s in statuses)
    assert {row[0].text for row in srb.rows[1:]} <= town_names  # names, not codes
    assert len(next(t for t in section.tables if t.key == "birth_dse").rows) == dse_years
    assert len(sections["linkage"].tables[0].rows) == feeds


def test_nothing_rendered_identifies_a_person(engine: sa.Engine, sections: dict[str, Section]) -> None:
    with engine.connect() as conn:
        names, ids = identifying_strings(conn)
        regions = region_names(conn)
    for section in sections.values():
        assert_nothing_identifies(rendered_text(section), names, ids, regions)


def test_the_scan_would_catch_a_leak(engine: sa.Engine) -> None:
    """The identity check is not vacuous: a name or an ID number in the text fails it."""
    with engine.connect() as conn:
        names, ids = identifying_strings(conn)
        regions = region_names(conn)
        mother = conn.execute(
            sa.text(
                "SELECT mother_name, mother_id FROM core.birth_certificates WHERE mother_name IS NOT NULL LIMIT 1"
            )
        ).one()
    with pytest.raises(AssertionError):
        assert_nothing_identifies(f"<text>{mother.mother_name}</text>", names, ids, regions)
    with pytest.raises(AssertionError):
        assert_nothing_identifies(f"<text>{mother.mother_id}</text>", names, ids, regions)


def test_sections_before_any_reconciliation_say_so(databases: Any) -> None:
    engine = sa.create_engine(databases.create("popdata_test_dashboard_empty"))
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            built = [reconciliation.build(conn), linkage.build(conn)]
    finally:
        engine.dispose()
    for section in built:
        assert section.empty is not None and section.empty.zh and section.empty.en
        assert section.as_of is None and not section.charts and not section.figures and not section.tables
