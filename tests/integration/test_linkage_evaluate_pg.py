"""Scoring harness end to end: a scratch ``core.record_link`` against a hand-written truth folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from popdata.linkage.evaluate import evaluate, load_links, load_truth, main

pytestmark = pytest.mark.integration

# The WAREHOUSE.md columns of core.record_link; the real migration may differ in details.
DDL = """
CREATE SCHEMA IF NOT EXISTS core;
CREATE TABLE core.record_link (
    feed text NOT NULL,
    source_key text NOT NULL,
    role text NOT NULL,
    person_key text NOT NULL,
    method text NOT NULL,
    match_probability double precision
);
"""

ID_A = "120115194809257755"  # valid 18-digit ids from a generated county
ID_B = "120115195308017942"
ID_A_BAD = "120115194809257750"  # ID_A with a wrong check character, as sent

LINKS = [
    # registry: ID_A in two snapshots, once with a wrong check character (kept as sent)
    ("household_registry", ID_A, "subject", "k1", "id_exact", 1.0),
    ("household_registry", ID_A_BAD, "subject", "k1", "probabilistic", 0.97),
    ("household_registry", ID_B, "subject", "k2", "id_exact", 1.0),
    # a birth certificate: mother is B, child is a new person wrongly merged into B's key
    ("birth_certificates", "Q1", "mother", "k2", "id_exact", 1.0),
    ("birth_certificates", "Q1", "child", "k2", "probabilistic", 0.6),
    ("assistance_rolls", f"{ID_B}|低保|2013", "subject", "k2-old", "id_exact", 1.0),
]


def _write_truth(folder: Path) -> Path:
    folder.mkdir()
    (folder / "records.csv").write_text(
        "agency,feed,file_name,line_no,source_key,role,person_id\n"
        f"police,household_registry,r1.csv,2,{ID_A},subject,PA\n"
        f"police,household_registry,r1.csv,3,{ID_B},subject,PB\n"
        f"police,household_registry,r2.csv,2,{ID_A},subject,PA\n"
        f"police,household_registry,r2.csv,3,{ID_B},subject,PB\n"
        "health,birth_certificates,b1.csv,2,Q1,mother,PB\n"
        "health,birth_certificates,b1.csv,2,Q1,child,PC\n"
        "health,birth_certificates,b1.csv,3,Q2,child,PD\n"
        "health,birth_certificates,bq.csv,2,Q9,child,PZ\n"
        f"fp,assistance_rolls,a1.xlsx,2,{ID_B}|低保|2013,subject,PB\n"
        f"fp,assistance_rolls,a1.xlsx,3,{ID_A}|低保|2013,subject,PA\n",
        encoding="utf-8",
    )
    (folder / "files.csv").write_text(
        "agency,feed,file_name,extract_date,expected_status\n"
        "police,household_registry,r1.csv,2014-04-30,loaded\n"
        "police,household_registry,r2.csv,2014-05-31,loaded\n"
        "health,birth_certificates,b1.csv,2014-05-31,loaded_with_rejections\n"
        "health,birth_certificates,bq.csv,2014-06-30,quarantined\n"
        "fp,assistance_rolls,a1.xlsx,2014-03-31,loaded\n",
        encoding="utf-8",
    )
    (folder / "defects.csv").write_text(
        "agency,feed,file_name,line_no,physical_line,column,kind,value,rejects_row\n"
        f"police,household_registry,r2.csv,2,2,id_no,wrong_check_character,{ID_A_BAD},false\n"
        "health,birth_certificates,b1.csv,3,3,birth_date,impossible_date,2013-02-30,true\n"
        "fp,assistance_rolls,a1.xlsx,3,3,id_no,scientific_notation_id,1.2011519480925776e+17,false\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture
def warehouse(databases) -> sa.Engine:  # type: ignore[no-untyped-def]
    """A scratch database with a minimal core.record_link and a few links."""
    engine = sa.create_engine(databases.create("popdata_evallink"))
    with engine.begin() as conn:
        conn.exec_driver_sql(DDL)
        conn.execute(
            sa.text("INSERT INTO core.record_link VALUES (:feed, :key, :role, :person, :method, :prob)"),
            [
                dict(zip(("feed", "key", "role", "person", "method", "prob"), row, strict=True))
                for row in LINKS
            ],
        )
    yield engine
    engine.dispose()


def test_report_against_hand_written_truth(warehouse: sa.Engine, tmp_path: Path) -> None:
    truth = load_truth(_write_truth(tmp_path / "truth"))
    # Without merges k2-old stays a separate key: predicted k1 {A, A_BAD} = 1, k2 {reg B,
    # mother, child} = 3; TP (k1, PA) = 1, (k2, PB) {reg B, mother} = 1.
    before = evaluate(load_links(warehouse), truth)
    b = before.overall.pairs
    assert (b.tp, b.predicted, b.true) == (2, 4, 4)
    with warehouse.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE core.person_key_merges (old_key text, new_key text);"
            "INSERT INTO core.person_key_merges VALUES ('k2-old', 'k2');"
        )
    report = evaluate(load_links(warehouse), truth)

    # Scored mentions (in both): reg A, reg A_BAD (PA), reg B, bc Q1 mother, ar B (PB), bc Q1 child (PC).
    # True pairs: PA {A, A_BAD} = 1; PB {reg B, mother, ar B} = 3 -> 4 (+0 for PC).
    # Predicted: k1 {A, A_BAD} = 1; k2 {reg B, mother, child, ar B} = 6 -> 7.
    # TP: (k1, PA) = 1; (k2, PB) = 3 -> 4.
    p = report.overall.pairs
    assert (p.tp, p.predicted, p.true) == (4, 7, 4)
    assert p.recall == 1.0
    assert p.precision == pytest.approx(4 / 7)
    assert not report.passed
    child = next(g for g in report.groups if (g.feed, g.role) == ("birth_certificates", "child"))
    assert (child.pairs.tp, child.pairs.predicted, child.pairs.true) == (0, 3, 0)
    assert not child.passed
    # Q2 is on a rejected line, Q9 in a quarantined file, ID_A's roll entry went to Excel notation.
    assert report.truth_not_accepted == 1
    assert report.truth_unmapped == 1
    assert report.missing_from_link == 0
    # ID_A as sent correctly is only in the superseded snapshot r1: scored, not required.
    assert report.truth_superseded == 1
    assert report.overall.accepted == 5
    assert report.overall.coverage == 1.0
    assert report.methods == {"id_exact": 4, "probabilistic": 2}


def test_main_prints_and_writes_json(
    warehouse: sa.Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth_dir = _write_truth(tmp_path / "truth")
    out = tmp_path / "report.json"
    url = warehouse.url.render_as_string(hide_password=False)
    status = main(["--truth", str(truth_dir), "--warehouse-url", url, "--json", str(out)])
    assert status == 1  # the wrongly merged child fails precision
    printed = capsys.readouterr().out
    assert "birth_certificates" in printed and "FAIL" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["passed"] is False
    assert data["overall"]["scored_mentions"] == 6


def test_main_without_record_link(databases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = databases.create("popdata_evallink_empty")
    truth_dir = _write_truth(tmp_path / "truth")
    assert main(["--truth", str(truth_dir), "--warehouse-url", url]) == 2
