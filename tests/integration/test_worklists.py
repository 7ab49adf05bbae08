"""Work lists reach each agency's outbox in that agency's own format, formula-safe, with a cover note."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from popdata.outbox.worklists import write_work_lists

pytestmark = pytest.mark.integration

REFERENCE = date(2014, 6, 30)


@pytest.fixture
def engine(databases) -> sa.Engine:  # type: ignore[no-untyped-def]
    eng = sa.create_engine(databases.create("popdata_test_worklists"))
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA ops"))
        conn.execute(
            sa.text(
                "CREATE TABLE ops.unregistered_births (cert_no text, birth_date date, child_sex text,"
                " mother_name text, mother_id text, region_code text, days_since_birth int)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO ops.unregistered_births VALUES"
                " ('Q2', '2014-05-01', '2', '=HYPERLINK(\"x\")', '11010519491231002X', '120115001001', 60),"
                " ('Q1', '2014-04-01', '1', '王芳', NULL, '120115001002', 90)"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TABLE ops.registrations_without_certificate (reg_no text, child_id text, birth_date date,"
                " mother_id text, region_code text)"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TABLE ops.paid_after_death (id_no text, name text, program text, year int,"
                " amount numeric(12, 2), death_date date)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO ops.paid_after_death VALUES"
                " ('11010519491231002X', '张伟', '奖励扶助', 2014, 960.00, '2012-03-01')"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TABLE ops.id_corrections (feed text, source_key text, sent_id text, likely_id text,"
                " evidence text, agency text)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO ops.id_corrections VALUES"
                " ('death_records', 'D1', '110105194912310021', '11010519491231002X', 'name=exact', 'health'),"
                " ('assistance_rolls', 'x|y|2014', '110105194912310021', '11010519491231002X', 'dob=exact', 'fp')"
            )
        )
    yield eng
    eng.dispose()


def test_each_agency_gets_its_lists_in_its_own_format(engine: sa.Engine, tmp_path: Path) -> None:
    written = write_work_lists(engine, tmp_path, REFERENCE)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in written)
    assert "police/worklists/unregistered_births_20140630.csv" in names
    assert "health/worklists/registrations_without_certificate_20140630.csv" in names
    assert "fp/worklists/paid_after_death_20140630.xlsx" in names
    assert "health/worklists/id_corrections_20140630.csv" in names
    assert "fp/worklists/id_corrections_20140630.xlsx" in names
    assert not any("deaths_not_cancelled" in n for n in names)  # its table does not exist here

    police = (tmp_path / "police/worklists/unregistered_births_20140630.csv").read_bytes()
    rows = list(csv.reader(io.StringIO(police.decode("gb18030"))))
    assert rows[0][0] == "cert_no"
    assert [r[0] for r in rows[1:]] == ["Q1", "Q2"]  # ordered, stable
    assert rows[2][3] == '\'=HYPERLINK("x")'  # a formula never reaches a clerk's spreadsheet as one
    assert not police.startswith(b"\xef\xbb\xbf")

    health = (tmp_path / "health/worklists/registrations_without_certificate_20140630.csv").read_bytes()
    assert health.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, header only: nothing to do is an answer

    sheet = load_workbook(tmp_path / "fp/worklists/paid_after_death_20140630.xlsx").active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == ["id_no", "name", "program", "year", "amount", "death_date"]
    assert values[1][:2] == ["11010519491231002X", "张伟"]

    note = (tmp_path / "police/worklists/unregistered_births_20140630_说明.txt").read_text("utf-8-sig")
    assert "出生未登记户口名单" in note and "共2条" in note and "2014年06月30日" in note


def test_a_rerun_writes_the_same_csv_bytes(engine: sa.Engine, tmp_path: Path) -> None:
    write_work_lists(engine, tmp_path, REFERENCE)
    first = (tmp_path / "police/worklists/unregistered_births_20140630.csv").read_bytes()
    write_work_lists(engine, tmp_path, REFERENCE)
    assert (tmp_path / "police/worklists/unregistered_births_20140630.csv").read_bytes() == first
    assert not list(tmp_path.rglob("*.part"))
