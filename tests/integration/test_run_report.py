"""The run report of a loaded county: one self-contained HTML file and a PNG per chart.

A 3 000-person generated county is loaded, linked and reconciled as of 2014-06-30 (the same
recipe as ``test_dashboard_sections.py``); ``write_run_report`` then writes the report into a
temporary outbox. The HTML must reference nothing outside itself, embed each chart once as a PNG
``data:`` URI, show the warehouse's figures, identify nobody, and be replaced as a whole when the
same date is reported again.
"""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from popdata.dashboard import sections as dashboard_sections
from popdata.dashboard.model import Section
from popdata.dashboard.report import TIMEZONE, ReportFiles, write_run_report
from popdata.dashboard.sections import linkage, reconciliation

pytestmark = pytest.mark.integration

REFERENCE_DATE = date(2014, 6, 30)
GENERATED_AT = datetime(2014, 7, 1, 8, 30, tzinfo=TIMEZONE)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ID_NUMBER = re.compile(r"\d{17}[\dXx]")
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">')
FIGURE = re.compile(r'data-figure="([a-z_]+)" data-value="([^"]*)"')

WAREHOUSE_FIGURES = {
    "srb_county": "SELECT srb FROM mart.sex_ratio_at_birth WHERE level = 'county' AND birth_order = 'all'"
    " AND boys + girls > 0 ORDER BY make_date(year, 12, 31) <= reference_date DESC, year DESC,"
    " boys + girls DESC LIMIT 1",
    "unregistered_births": "SELECT count(*) FROM ops.unregistered_births",
    "deaths_not_cancelled": "SELECT count(*) FROM ops.deaths_not_cancelled",
    "dse_estimate": "SELECT estimate FROM mart.birth_dse WHERE county_code IS NOT NULL"
    " ORDER BY make_date(year, 12, 31) <= reference_date DESC, year DESC, n_health + n_police DESC LIMIT 1",
    "records_linked": "SELECT count(*) FROM core.record_link",
    "share_linked_by_id": "SELECT (count(*) FILTER (WHERE method = 'id_exact'))::float8 / count(*)"
    " FROM core.record_link",
    "id_corrections": "SELECT count(*) FROM ops.id_corrections",
}
"""A few figures checked against the warehouse directly (test_dashboard_sections checks them all)."""


@pytest.fixture(scope="module")
def engine(reconciled_engine: sa.Engine) -> sa.Engine:
    """The session's reconciled test county (tests/conftest.py)."""
    return reconciled_engine


@pytest.fixture(scope="module")
def report(engine: sa.Engine, tmp_path_factory: pytest.TempPathFactory) -> tuple[ReportFiles, list[Section]]:
    """The report written once with every section, and those sections."""
    outbox = tmp_path_factory.mktemp("report_outbox")
    files = write_run_report(engine, outbox, REFERENCE_DATE, generated_at=GENERATED_AT)
    with engine.connect() as conn:
        built = dashboard_sections.build_sections(conn)
    return files, built


def _html(files: ReportFiles) -> str:
    return files.html.read_text(encoding="utf-8")


def _without_images(html: str) -> str:
    return IMG.sub("<img>", html)


def test_the_report_is_where_the_outbox_layout_says(report: tuple[ReportFiles, list[Section]]) -> None:
    files, built = report
    folder = files.folder
    assert folder == files.html.parent and folder.parent.name == "reports" and folder.name == "2014-06-30"
    assert files.html.name == "popdata_report_2014-06-30.html"
    expected = {f"{s.key}__{c.key}.png" for s in built for c in s.charts}
    assert {p.name for p in files.pngs} == expected
    assert {p.name for p in folder.iterdir()} == expected | {files.html.name}
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_the_html_is_self_contained(report: tuple[ReportFiles, list[Section]]) -> None:
    html = _html(report[0])
    assert "http://" not in html and "https://" not in html
    lowered = _without_images(html).lower()
    for reference in ("<script", "<link", "@import", "url(", 'src="//', 'href="//'):
        assert reference not in lowered, reference
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert all(h.startswith("#") for h in hrefs), hrefs  # the contents only; cell links are dropped
    assert "2014-06-30" in html and GENERATED_AT.isoformat(timespec="seconds") in html
    assert "人口数据运行报告" in html and "Population data run report" in html


def test_every_chart_is_embedded_once_and_written_as_a_png(report: tuple[ReportFiles, list[Section]]) -> None:
    files, built = report
    html = _html(files)
    images = IMG.findall(html)
    charts = [c for s in built for c in s.charts]
    assert len(images) == len(charts) == len(files.pngs) == html.count("<img ")
    assert {"reconciliation__srb_by_town.png", "linkage__linkage_methods.png"} <= {p.name for p in files.pngs}
    descriptions = {c.description for c in charts}
    for (data, alt), png in zip(images, files.pngs, strict=True):
        embedded = base64.b64decode(data)
        written = png.read_bytes()
        assert embedded == written
        assert written.startswith(PNG_SIGNATURE) and len(written) > 1000
        assert alt in {str(d) for d in descriptions}


def test_figures_in_the_html_equal_the_warehouse(
    report: tuple[ReportFiles, list[Section]], engine: sa.Engine
) -> None:
    files, built = report
    shown = dict(FIGURE.findall(_html(files)))
    for section in built:
        for figure in section.figures:
            assert figure.key in shown, figure.key
            value = shown[figure.key]
            if figure.value is None:
                assert value == ""
            elif isinstance(figure.value, float):
                assert float(value) == figure.value, figure.key
            else:
                assert value == str(figure.value), figure.key
    with engine.connect() as conn:
        for key, sql in WAREHOUSE_FIGURES.items():
            expected = conn.execute(sa.text(sql)).scalar()
            assert expected is not None, key
            assert (float(shown[key]) if isinstance(expected, float) else int(shown[key])) == expected, key


def test_the_report_identifies_nobody(report: tuple[ReportFiles, list[Section]], engine: sa.Engine) -> None:
    text = _without_images(_html(report[0]))
    assert not ID_NUMBER.search(text), ID_NUMBER.search(text)
    with engine.connect() as conn:
        columns = conn.execute(
            sa.text(
                "SELECT c.table_name, c.column_name FROM information_schema.columns c"
                " JOIN information_schema.tables t USING (table_schema, table_name)"
                " WHERE c.table_schema = 'core' AND c.data_type = 'text' AND t.table_type = 'VIEW'"
                " AND c.table_name NOT LIKE 'regions%'"
                " AND (c.column_name LIKE '%name%' OR c.column_name LIKE 'id\\_no%' OR c.column_name LIKE '%\\_id')"
            )
        ).all()
        values: set[str] = set()
        for table, column in columns:
            found = conn.execute(
                sa.text(f'SELECT DISTINCT "{column}" FROM core."{table}" WHERE "{column}" IS NOT NULL')
            ).scalars()
            values.update(v.strip() for v in found if v and len(v.strip()) >= 2)
        regions = sorted(conn.execute(sa.text("SELECT DISTINCT name FROM core.regions")).scalars(), key=len)
    assert len(values) > 100
    for region in reversed(regions):  # region names are shown; a person may share one
        text = text.replace(region, "")
    leaked = sorted(v for v in values if v in text)
    assert not leaked, leaked[:10]


def test_a_second_run_replaces_the_folder(engine: sa.Engine, tmp_path: Path) -> None:
    with engine.connect() as conn:
        built = [linkage.build(conn), reconciliation.build(conn)]
    first = write_run_report(engine, tmp_path, REFERENCE_DATE, built, generated_at=GENERATED_AT)
    stale = first.folder / "linkage__old_chart.png"
    stale.write_bytes(b"stale")
    assert len(first.pngs) == 6
    # the second run has no linkage charts: their PNGs and the stale file must go
    second_sections = [replace(built[0], charts=()), built[1]]
    later = datetime(2014, 7, 2, 9, 0, tzinfo=TIMEZONE)
    second = write_run_report(engine, tmp_path, REFERENCE_DATE, second_sections, generated_at=later)
    assert second.folder == first.folder and second.html == first.html
    assert {p.name for p in second.folder.iterdir()} == {p.name for p in second.pngs} | {second.html.name}
    assert not stale.exists() and not (first.folder / "linkage__linkage_methods.png").exists()
    assert len(second.pngs) == 5 and all(p.exists() for p in second.pngs)
    html = second.html.read_text(encoding="utf-8")
    assert later.isoformat(timespec="seconds") in html and html.count("<img ") == 5
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["2014-06-30"]


def test_a_failed_run_leaves_the_previous_report(engine: sa.Engine, tmp_path: Path) -> None:
    with engine.connect() as conn:
        built = [linkage.build(conn)]
    first = write_run_report(engine, tmp_path, REFERENCE_DATE, built, generated_at=GENERATED_AT)
    before = {p.name: p.read_bytes() for p in first.folder.iterdir()}
    chart = built[0].charts[0]

    def broken() -> Any:
        raise RuntimeError("drawing failed")

    failing = [replace(built[0], charts=(replace(chart, draw=broken),))]
    with pytest.raises(RuntimeError, match="drawing failed"):
        write_run_report(engine, tmp_path, REFERENCE_DATE, failing, generated_at=GENERATED_AT)
    assert {p.name: p.read_bytes() for p in first.folder.iterdir()} == before
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["2014-06-30"]


def test_an_empty_section_is_reported_with_its_message(engine: sa.Engine, tmp_path: Path) -> None:
    empty = Section(
        "reconciliation", reconciliation.SECTION_TITLES["reconciliation"], None, empty=reconciliation.EMPTY
    )
    files = write_run_report(engine, tmp_path, REFERENCE_DATE, [empty], generated_at=GENERATED_AT)
    html = files.html.read_text(encoding="utf-8")
    assert files.pngs == () and "<img" not in html
    assert reconciliation.EMPTY.zh in html and "Not reconciled yet" in html
