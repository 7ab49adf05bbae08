"""`popdata run` drives the real Airflow DAGs (dag.test) against real PostgreSQL databases.

Each test gets two throwaway databases (warehouse and Airflow metadata) and its
own state folder; the command runs in a subprocess, as a user would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from popdata.config.feeds import default_feeds

pytestmark = pytest.mark.integration

POPDATA = str(Path(sys.executable).with_name("popdata"))


def _env(databases, tmp_path: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    warehouse = databases.create("popdata_test_run")
    metadata = databases.create("airflow_test_run")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        POPDATA_WAREHOUSE_URL=warehouse,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata,
        POPDATA_VAR=str(tmp_path / "var"),
    )
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([POPDATA, *args], env=env, capture_output=True, text=True, timeout=900, check=False)


# What each sample file deserves (AGENCY_EXTRACTS.md §2): every other file is "loaded".
SAMPLE_OUTCOMES = {
    "quarantined": {
        "birth_registrations_20140228.csv",  # header only
        "birth_registrations_20140430.csv",  # manifest sha256 disagrees with the bytes
        "death_records_20140228.csv",
        "death_records_20140228_2.csv",
        "death_records_20140430.csv",
        "hukou_cancellations_20140131.csv",
        "hukou_cancellations_20140630.csv",
        "migrant_registrations_20140228.csv",  # empty
        "migrant_registrations_20140430_2.csv",
        "prenatal_checks_20140131.csv",
        "prenatal_checks_20140331.csv",
        "prenatal_checks_20140630.csv",
        "Prenatal_Checks-2014-05-31.csv",
    },
    "duplicate": {"birth_certificates_20140331_2.csv"},  # the same bytes as birth_certificates_20140331.csv
    "loaded_with_rejections": {  # damaged names in required columns
        "birth_certificates_20140531.csv",
        "hukou_cancellations_20121231.csv",
        "migrant_registrations_20131231.csv",
        "migrant_registrations_20140331.csv",
    },
}


def _metadata_rows(env: dict[str, str], sql: str) -> list[sa.Row[Any]]:
    """The rows of a query on the Airflow metadata database of ``env``."""
    meta = sa.create_engine(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    try:
        with meta.connect() as conn:
            return list(conn.execute(sa.text(sql)).all())
    finally:
        meta.dispose()


def test_run_loads_the_sample_drop_through_the_dags(databases, landing: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = _env(databases, tmp_path)
    outbox = tmp_path / "outbox"
    # what was dropped, taken before the run moves quarantined files aside
    data_files = sorted(
        p for p in landing.rglob("*") if p.is_file() and not p.name.endswith((".manifest.json", ".part"))
    )
    assert list(landing.rglob("*.part"))  # the samples hold an upload still in transit: never picked up
    done = _run(env, "run", "--landing", str(landing), "--outbox", str(outbox), "--quiet-seconds", "0")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "DAG run ingest__police__household_registry: success" in done.stdout
    # the DAGs built GX's Data Docs site under POPDATA_VAR, and the summary links it
    data_docs = tmp_path / "var" / "gx" / "site" / "index.html"
    assert data_docs.is_file() and data_docs.as_uri() in done.stdout
    assert list((data_docs.parent / "validations").rglob("*.html"))

    engine = sa.create_engine(env["POPDATA_WAREHOUSE_URL"])
    with engine.connect() as conn:
        ledger = conn.execute(sa.text("SELECT * FROM audit.file_ledger ORDER BY file_id")).mappings().all()
        # every file has a ledger row, a receipt, the status it deserves, and its rows add up
        assert sorted(r["rel_path"] for r in ledger) == sorted(
            p.relative_to(landing).as_posix() for p in data_files
        )
        assert not any(r["file_name"].endswith(".part") for r in ledger)
        for row in ledger:
            expected = next(
                (s for s, names in SAMPLE_OUTCOMES.items() if row["file_name"] in names), "loaded"
            )
            assert row["status"] == expected, (row["file_name"], row["status"], row["quarantine_reason"])
            assert row["rows_read"] == row["rows_loaded"] + row["rows_rejected"], row["file_name"]
            receipt = json.loads(Path(row["receipt_path"]).read_text(encoding="utf-8"))
            assert receipt["status"] == expected and receipt["sha256"] == row["sha256"]
            if row["status"] in ("loaded", "loaded_with_rejections"):
                core = conn.execute(
                    sa.text(f'SELECT count(*) FROM core."{row["feed"]}_rows" WHERE file_id = :f'),
                    {"f": row["file_id"]},
                ).scalar()
                assert core == row["rows_loaded"], row["file_name"]
        assert sum(r["rows_loaded"] for r in ledger if r["feed"] == "household_registry") == 3044 + 3046
        assert conn.execute(sa.text("SELECT sum(persons) FROM mart.population")).scalar()
        # the Big5 town office's approvals were read as Big5 and stored in Simplified
        big5 = next(r for r in ledger if r["file_name"] == "birth_approvals_20140630_2.csv")
        assert big5["encoding"] == "big5" and "traditional_script" in big5["irregularities"]
        # the arrival monitor ran as of the reference date (the latest extract date, 2014-06-30)
        checks = dict(
            conn.execute(
                sa.text("SELECT feed, status FROM audit.feed_arrival_checks WHERE as_of = DATE '2014-06-30'")
            ).all()
        )
        assert len(checks) == len(default_feeds()) and checks["regions"] == "irregular"
    engine.dispose()
    assert "DAG run monitor__feed_arrivals: success" in done.stdout
    assert "DAG run reconcile__agencies: success" in done.stdout
    assert len(list(outbox.rglob("*.receipt.json"))) == len(data_files)
    # the run report for people without Airflow: one self-contained HTML file and a PNG per chart
    report = outbox / "reports" / "2014-06-30" / "popdata_report_2014-06-30.html"
    assert report.is_file() and "data:image/png;base64," in report.read_text(encoding="utf-8")
    assert list(report.parent.glob("*.png"))
    assert f"run report: {report}" in done.stdout

    # the Airflow metadata database recorded real task instances of the run
    tasks = _metadata_rows(
        env,
        "SELECT task_id, count(*) FROM task_instance WHERE dag_id = 'ingest__police__household_registry'"
        " AND state = 'success' GROUP BY task_id",
    )
    assert dict(tasks) == {
        "register_drops": 1,
        "load_file": 2,
        "summarize": 1,
    }

    # a second run finds nothing new and changes nothing
    again = _run(env, "run", "--landing", str(landing), "--outbox", str(outbox), "--quiet-seconds", "0")
    assert again.returncode == 0, again.stderr[-4000:]
    engine = sa.create_engine(env["POPDATA_WAREHOUSE_URL"])
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM audit.file_ledger")).scalar() == len(ledger)
    engine.dispose()
    # ... and its ingest runs skipped at the scan (the scheduler skips the rest: no process for them)
    second = _metadata_rows(
        env,
        "SELECT task_id, state FROM task_instance"
        " WHERE dag_id = 'ingest__police__household_registry' AND run_id = ("
        "  SELECT run_id FROM dag_run WHERE dag_id = 'ingest__police__household_registry'"
        "  ORDER BY id DESC LIMIT 1)",
    )
    assert {(r.task_id, r.state) for r in second} == {
        ("register_drops", "skipped"),
        ("load_file", "skipped"),
        ("summarize", "skipped"),
    }

    status = _run(env, "status")
    assert status.returncode == 0, status.stderr[-2000:]
    assert "household_registry" in status.stdout and "ingest__police__household_registry" in status.stdout


def test_run_on_a_generated_county_agrees_with_its_ground_truth(databases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import csv

    from popdata.generate import generate_county

    county = tmp_path / "county"
    generate_county(county, persons=3000, seed=7)
    env = _env(databases, tmp_path)
    outbox = tmp_path / "outbox"
    done = _run(
        env, "run", "--landing", str(county / "landing"), "--outbox", str(outbox), "--quiet-seconds", "0"
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]

    with (county / "truth" / "defects.csv").open(encoding="utf-8") as handle:
        expected = {
            (d["file_name"], int(d["physical_line"]))
            for d in csv.DictReader(handle)
            if d["rejects_row"] == "true"
        }
    engine = sa.create_engine(env["POPDATA_WAREHOUSE_URL"])
    with engine.connect() as conn:
        ledger = (
            conn.execute(
                sa.text("SELECT * FROM audit.file_ledger WHERE feed = 'household_registry' ORDER BY file_id")
            )
            .mappings()
            .all()
        )
        rejected = {
            (r.file_name, r.line_no)
            for r in conn.execute(
                sa.text(
                    "SELECT DISTINCT l.file_name, r.line_no FROM audit.rejected_rows r"
                    " JOIN audit.file_ledger l USING (file_id) WHERE l.status <> 'quarantined'"
                )
            )
        }
        persons = conn.execute(sa.text("SELECT sum(persons) FROM mart.population")).scalar()
    engine.dispose()
    assert ledger and all(r["status"] in ("loaded", "loaded_with_rejections") for r in ledger)
    assert sum(r["rows_loaded"] for r in ledger) > 0 and persons
    # every row the truth says must be rejected is rejected, and nothing else
    assert rejected == expected
    receipts = list((outbox / "police" / "receipts").glob("household_registry*.json"))
    assert len(receipts) == len(ledger)


def test_run_exits_non_zero_when_a_dag_run_fails(databases, landing: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A warehouse whose mart table went missing makes publish fail: the run says so and exits 1."""
    from popdata.warehouse import migrate

    env = _env(databases, tmp_path)
    env["POPDATA_TASK_RETRIES"] = "0"
    engine = sa.create_engine(env["POPDATA_WAREHOUSE_URL"])
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE mart.population"))
    done = _run(
        env, "run", "--landing", str(landing), "--outbox", str(tmp_path / "outbox"), "--quiet-seconds", "0"
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "FAILED DAG runs: ingest__police__household_registry" in done.stderr
    assert "load_file[0]: failed" in done.stdout
    with engine.connect() as conn:
        # nothing half-published: the files stay validated, ready for a re-run once the schema is fixed
        stages = conn.execute(
            sa.text("SELECT stage FROM audit.file_ledger WHERE feed = 'household_registry'")
        ).scalars()
        assert set(stages) == {"validated"}
        assert conn.execute(sa.text("SELECT count(*) FROM core.household_registry_rows")).scalar() == 0
    engine.dispose()
