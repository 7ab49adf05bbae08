"""popdata.quality.invariants on a loaded, linked and reconciled county: all hold; each breakage is caught.

The breakages are made on a copy of the county's warehouse (``CREATE DATABASE … TEMPLATE``), one
kind per test, the way the faults of issue 10 would leave them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from popdata.cli import main
from popdata.quality import invariants

pytestmark = pytest.mark.integration


def _verdicts(engine: sa.Engine) -> dict[str, invariants.InvariantResult]:
    return {r.name: r for r in invariants.check(engine)}


@pytest.fixture
def county_copy(reconciled_county, databases) -> Iterator[sa.Engine]:  # type: ignore[no-untyped-def]
    """A throwaway copy of the reconciled county's warehouse."""
    source = sa.engine.make_url(reconciled_county.url)
    url = sa.engine.make_url(databases.create("popdata_test_invariants"))
    admin = sa.create_engine(source.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{url.database}"'))
        # a template may have no other session: the county's pooled, idle ones are ended
        conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
            {"d": source.database},
        )
        conn.execute(sa.text(f'CREATE DATABASE "{url.database}" TEMPLATE "{source.database}"'))
    admin.dispose()
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def test_every_invariant_holds_after_a_clean_run(reconciled_engine: sa.Engine) -> None:
    verdicts = _verdicts(reconciled_engine)
    assert set(verdicts) == {
        "row_accounting",
        "files_final",
        "mentions_linked",
        "person_keys_kept",
        "work_lists_traced",
    }
    for name, verdict in verdicts.items():
        assert verdict.ok and not verdict.pending, verdict.line()
        assert verdict.checked > 0, name


def test_a_row_missing_from_core_breaks_row_accounting(county_copy: sa.Engine) -> None:
    with county_copy.begin() as conn:
        file_id = conn.execute(
            sa.text(
                "SELECT min(file_id) FROM audit.file_ledger WHERE feed = 'death_records' AND rows_loaded > 0"
            )
        ).scalar_one()
        conn.execute(
            sa.text(
                "DELETE FROM core.death_records_rows WHERE ctid IN"
                " (SELECT ctid FROM core.death_records_rows WHERE file_id = :f LIMIT 1)"
            ),
            {"f": file_id},
        )
    verdict = _verdicts(county_copy)["row_accounting"]
    assert verdict.violations == 1 and f"file {file_id}" in verdict.examples[0]


def test_a_receipt_missing_from_the_outbox_breaks_row_accounting(
    county_copy: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file closed in the ledger whose receipt never reached the outbox (the process died
    between the commit and the rename); an outbox not reachable from here claims nothing."""
    monkeypatch.setattr(invariants, "RECEIPT_RECHECK_SECONDS", 0.0)
    agency = tmp_path / "outbox" / "health"
    (agency / "receipts").mkdir(parents=True)
    with county_copy.begin() as conn:
        file_id = conn.execute(
            sa.text("SELECT min(file_id) FROM audit.file_ledger WHERE feed = 'death_records'")
        ).scalar_one()
        conn.execute(
            sa.text("UPDATE audit.file_ledger SET receipt_path = :p WHERE file_id = :f"),
            {"p": str(agency / "receipts" / "gone.receipt.json"), "f": file_id},
        )
    verdict = _verdicts(county_copy)["row_accounting"]
    assert verdict.violations == 1 and "receipt not on disk" in verdict.examples[0]
    shutil.rmtree(tmp_path / "outbox")  # the outbox is elsewhere: not this check's to judge
    assert _verdicts(county_copy)["row_accounting"].ok


def test_a_file_left_in_flight_breaks_files_final(county_copy: sa.Engine) -> None:
    with county_copy.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO audit.file_ledger (agency, feed, file_name, rel_path, sha256, size_bytes, received_at)"
                " VALUES ('health', 'death_records', 'stuck.csv', 'health/death_records/stuck.csv', :sha, 1,"
                " now() - interval '1 day')"
            ),
            {"sha": "0" * 64},
        )
    verdict = _verdicts(county_copy)["files_final"]
    assert verdict.violations == 1 and "stuck.csv: still received" in verdict.examples[0]


def test_an_unlinked_role_and_a_lost_key_are_caught(county_copy: sa.Engine) -> None:
    with county_copy.begin() as conn:
        mention = conn.execute(
            sa.text("SELECT feed, source_key, role FROM core.record_link ORDER BY 1, 2, 3 LIMIT 1")
        ).one()
        conn.execute(
            sa.text("DELETE FROM core.record_link WHERE feed = :f AND source_key = :s AND role = :r"),
            {"f": mention.feed, "s": mention.source_key, "r": mention.role},
        )
        # core's keys are foreign keys; a work list's are not
        conn.execute(sa.text("UPDATE ops.deaths_not_cancelled SET person_key = -42 WHERE ctid IN"
                             " (SELECT ctid FROM ops.deaths_not_cancelled LIMIT 1)"))  # fmt: skip
        # a merge recorded but not repointed
        old_key, new_key = conn.execute(
            sa.text("SELECT min(person_key), max(person_key) FROM core.person_id_numbers")
        ).one()
        conn.execute(
            sa.text(
                "INSERT INTO core.person_key_merges (old_key, new_key, reason, evidence)"
                " VALUES (:o, :n, 'test', '{}')"
            ),
            {"o": old_key, "n": new_key},
        )
    verdicts = _verdicts(county_copy)
    assert verdicts["mentions_linked"].examples == [f"{mention.feed}|{mention.source_key}|{mention.role}"]
    assert "ops.deaths_not_cancelled.person_key = -42" in verdicts["person_keys_kept"].examples
    assert (
        f"core.person_id_numbers still names merged-away key {old_key}"
        in verdicts["person_keys_kept"].examples
    )


def test_a_work_list_row_without_its_record_is_caught(county_copy: sa.Engine) -> None:
    with county_copy.begin() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM ops.deaths_not_cancelled")).scalar_one()
        assert rows > 0, "the county has deaths not cancelled"
        conn.execute(sa.text("UPDATE ops.deaths_not_cancelled SET death_cert_no = 'NO-SUCH-CERT' WHERE ctid IN"
                             " (SELECT ctid FROM ops.deaths_not_cancelled LIMIT 1)"))  # fmt: skip
    assert _verdicts(county_copy)["work_lists_traced"].examples == ["ops.deaths_not_cancelled NO-SUCH-CERT"]


def test_popdata_check_exits_1_when_broken(county_copy: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    url = county_copy.url.render_as_string(hide_password=False)
    monkeypatch.setenv("POPDATA_WAREHOUSE_URL", url)
    monkeypatch.setenv("POPDATA_PIPELINE_URL", url)
    runner = CliRunner()
    clean = runner.invoke(main, ["check"])
    assert clean.exit_code == 0, clean.output
    assert "row_accounting" in clean.output and "BROKEN" not in clean.output
    with county_copy.begin() as conn:
        conn.execute(
            sa.text(
                "DELETE FROM audit.rejected_rows WHERE ctid IN (SELECT ctid FROM audit.rejected_rows LIMIT 1)"
            )
        )
    broken = runner.invoke(main, ["check"])
    assert broken.exit_code == 1
    assert "row_accounting     BROKEN" in broken.output
