"""popdata.quality.fingerprint: equal for the same content whatever numbers the sequences drew.

Two warehouses hold the same two files, persons and links; the second drew other file ids and
other person keys (as a retry after a rolled-back transaction, or scans in another order,
would). Their fingerprints are equal; a changed value, a person split in two or a changed
receipt name shows in exactly the table that changed. ``popdata fingerprint`` prints it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from popdata.cli import main
from popdata.quality import fingerprint
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration

FILES = (
    "health/death_records/death_records_20140630.csv",
    "police/hukou_cancellations/hukou_cancellations_20140630.csv",
)


def _fill(engine: sa.Engine, *, first_file: int, first_key: int, outbox: str, split: bool = False) -> None:
    """Two files, one death row, two person roles of one person (two persons when ``split``)."""
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT setval('audit.file_ledger_file_id_seq', :n, false)"), {"n": first_file})
        conn.execute(sa.text("SELECT setval('core.person_key_seq', :n, false)"), {"n": first_key})
        ids = []
        for path in reversed(FILES) if first_file > 1 else FILES:  # the other order draws other ids
            agency, feed, name = path.split("/")
            ids.append(
                conn.execute(
                    sa.text(
                        "INSERT INTO audit.file_ledger (agency, feed, file_name, rel_path, sha256, size_bytes,"
                        " status, stage, rows_read, rows_loaded, rows_rejected, receipt_path)"
                        " VALUES (:a, :f, :n, :p, :s, 10, 'loaded', 'published', 1, 1, 0, :r) RETURNING file_id"
                    ),
                    {
                        "a": agency,
                        "f": feed,
                        "n": name,
                        "p": path,
                        "s": "ab" * 32,
                        "r": f"{outbox}/{agency}/receipts/{name}.json",
                    },
                ).scalar_one()
            )
        deaths = dict(zip(reversed(FILES) if first_file > 1 else FILES, ids, strict=True))[FILES[0]]
        conn.execute(
            sa.text(
                "INSERT INTO core.death_records_rows (file_id, line_no, extract_date, death_cert_no, name, id_no)"
                " VALUES (:f, 2, DATE '2014-06-30', 'D1', '张伟', '11010519491231002X')"
            ),
            {"f": deaths},
        )
        keys = [
            conn.execute(sa.text("INSERT INTO core.person DEFAULT VALUES RETURNING person_key")).scalar_one()
        ]
        if split:
            keys.append(
                conn.execute(
                    sa.text("INSERT INTO core.person DEFAULT VALUES RETURNING person_key")
                ).scalar_one()
            )
        for n, (feed, role) in enumerate((("death_records", "subject"), ("hukou_cancellations", "subject"))):
            conn.execute(
                sa.text(
                    "INSERT INTO core.record_link (feed, source_key, role, person_key, method)"
                    " VALUES (:feed, 'K1', :role, :key, 'id_exact')"
                ),
                {"feed": feed, "role": role, "key": keys[min(n, len(keys) - 1)]},
            )


@pytest.fixture
def warehouse(databases) -> Iterator[Callable[[], sa.Engine]]:  # type: ignore[no-untyped-def]
    engines: list[sa.Engine] = []

    def make() -> sa.Engine:
        engine = sa.create_engine(databases.create("popdata_test_fingerprint"))
        migrate.upgrade(engine)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


def test_equal_content_with_other_numbers_has_the_same_fingerprint(
    warehouse: Callable[[], sa.Engine],
) -> None:
    first, second, split = warehouse(), warehouse(), warehouse()
    _fill(first, first_file=1, first_key=1, outbox="/srv/a")
    _fill(second, first_file=40, first_key=9000, outbox="/tmp/b")  # other file ids, keys, outbox
    _fill(split, first_file=1, first_key=1, outbox="/srv/a", split=True)
    a, b = fingerprint.fingerprint(first), fingerprint.fingerprint(second)
    assert fingerprint.differences(a, b) == {}
    assert a["core.death_records_rows"].rows == 1 and a["core.record_link"].rows == 2
    assert (
        "received_at" in a["audit.file_ledger"].left_out and "file_id" not in a["audit.file_ledger"].left_out
    )
    # one person become two: the links and the person table differ, nothing else
    assert set(fingerprint.differences(a, fingerprint.fingerprint(split))) == {
        "core.person",
        "core.record_link",
    }
    with first.begin() as conn:
        conn.execute(sa.text("UPDATE core.death_records_rows SET name = '张纬'"))
        conn.execute(
            sa.text("UPDATE audit.file_ledger SET receipt_path = receipt_path || '.old' WHERE file_id = 1")
        )
    assert set(fingerprint.differences(fingerprint.fingerprint(first), b)) == {
        "audit.file_ledger",
        "core.death_records_rows",
    }


def test_popdata_fingerprint_prints_one_line_per_table(
    warehouse: Callable[[], sa.Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = warehouse()
    _fill(engine, first_file=1, first_key=1, outbox="/srv/a")
    monkeypatch.setenv("POPDATA_WAREHOUSE_URL", engine.url.render_as_string(hide_password=False))
    printed = CliRunner().invoke(main, ["fingerprint"])
    assert printed.exit_code == 0, printed.output
    lines = {line.split()[-1]: line.split()[:2] for line in printed.output.splitlines()}
    expected = fingerprint.fingerprint(engine)
    assert lines["core.death_records_rows"] == [expected["core.death_records_rows"].md5, "1"]
    as_json = json.loads(CliRunner().invoke(main, ["fingerprint", "--json"]).output)
    assert as_json["core.record_link"]["rows"] == 2 and set(as_json) == set(expected)
