"""Fuzzing the whole ingest path on mutated real files (issue 10): every input ends in a ledger row and a receipt.

The mutants of ``tests/unit/test_read_fuzz.py`` (seeds and strategies in ``tests/fuzz_mutations.py``:
real sample files mutated as bytes, as text and as workbook cells) are dropped one by one, each
under a fresh name in a landing folder of its own (``<landing>/<agency>/<feed>/<feed>_<date>_<n>``),
then registered and loaded (:func:`popdata.ingest.pipeline.register`, then
:func:`popdata.ingest.pipeline.load`: stage, Great Expectations validation, publish) into one real
PostgreSQL warehouse for the whole run, as the DAGs' tasks would. For every mutant:

- ``register`` gives the file exactly one ledger row, and ``load`` ends at a final stage
  (``published``, ``quarantined`` or ``duplicate``) without raising;
- the ledger row has a status that agrees with the stage, ``rows_read = rows_loaded +
  rows_rejected``, the file's rows in ``core.<feed>_rows`` are its ``rows_loaded`` (none for a
  quarantined or duplicate file), nothing of it is left in ``staging``, and a quarantined file
  has been moved out of the landing folder;
- its receipt (JSON and Chinese text) is at the ledger's ``receipt_path`` and says what the
  ledger says.

After the run :func:`popdata.quality.invariants.check` finds ``row_accounting`` and
``files_final`` unbroken. The regions reference (the unmutated sample) is loaded first so that
region names resolve as in production; mutated regions files are dated the day before it, so
the reference the other mutants are resolved against stays the same whatever the order.

Examples: 50 in ``make test`` (each costs a Great Expectations validation: about 0.3 s, the
module under a minute), 1 000 with ``HYPOTHESIS_PROFILE=reliability`` (about 5 minutes);
``POPDATA_PIPELINE_FUZZ_EXAMPLES`` (or the reader fuzzer's ``POPDATA_FUZZ_EXAMPLES``) sets the
number. ``--hypothesis-show-statistics`` shows how the inputs ended (published with or without
rejections, quarantined with which reason, duplicate).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, currently_in_test_context, event, given, note, settings
from hypothesis import strategies as st

from fuzz_mutations import SEEDS, cell_mutants, mutants, text_mutants
from popdata.config.feeds import feed_by_id
from popdata.config.settings import load_settings
from popdata.ingest import pipeline
from popdata.quality import invariants
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration

#: Mutants per run: 50 in ``make test``, 1 000 under ``HYPOTHESIS_PROFILE=reliability``.
PIPELINE_FUZZ_EXAMPLES = int(
    os.environ.get("POPDATA_PIPELINE_FUZZ_EXAMPLES")
    or os.environ.get("POPDATA_FUZZ_EXAMPLES")
    or (1_000 if os.environ.get("HYPOTHESIS_PROFILE") == "reliability" else 50)
)
FUZZ = settings(
    max_examples=PIPELINE_FUZZ_EXAMPLES,
    deadline=None,
    # every example shares the module's warehouse and the test's tmp_path (through the autouse
    # _quarantine_in_tmp): each drop has a fresh name; workbook mutants are slow to draw
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

REGIONS = "stats__regions"
REFERENCE_NAME = "regions_20111231.csv"
#: Extract dates in the mutants' names: a mutated regions file is older than the reference.
EXTRACT_DATE = {REGIONS: "20111230"}
DEFAULT_EXTRACT_DATE = "20140630"
PUBLISHED_STATUSES = ("loaded", "loaded_with_rejections")
#: Retries of ``load`` when PostgreSQL refuses a connection (``POPDATA_TASK_RETRIES``' default).
CONNECTION_RETRIES = 2

#: Any mutant with how it was made: ``(family, (feed id, suffix, bytes))``.
TAGGED_MUTANTS = st.one_of(
    mutants().map(lambda m: ("bytes", m)),
    text_mutants().map(lambda m: ("text", m)),
    cell_mutants().map(lambda m: ("cells", m)),
)


@dataclass(frozen=True)
class Loaded:
    """A drop that went through ``register`` and ``load``."""

    file_id: int
    final: str
    """The stage ``load`` ended at."""
    path: Path
    """Where it was dropped."""


@dataclass
class Warehouse:
    """The run's warehouse, and where its drops and receipts go (each drop has a landing folder of its own)."""

    engine: sa.Engine
    root: Path
    numbers: Iterator[int] = field(default_factory=itertools.count)

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    def ingest(self, feed_id: str, data: bytes, name: str) -> Loaded:
        """Drop ``data`` as ``name``, register and load it.

        Asserts that the drop gets exactly one ledger row and that loading ends at a final stage.
        """
        feed = feed_by_id(feed_id)
        landing = self.root / "landing" / f"drop_{next(self.numbers):05d}"
        folder = landing / feed.agency / feed.feed
        folder.mkdir(parents=True)
        (folder / name).write_bytes(data)
        rel_path = f"{feed.agency}/{feed.feed}/{name}"

        registered = pipeline.register(self.engine, feed, landing, quiet_seconds=0, now=time.time() + 3600)
        with self.engine.connect() as conn:
            ledger_ids = (
                conn.execute(
                    sa.text("SELECT file_id FROM audit.file_ledger WHERE rel_path = :p ORDER BY file_id"),
                    {"p": rel_path},
                )
                .scalars()
                .all()
            )
        assert len(ledger_ids) == 1, f"{rel_path}: {len(ledger_ids)} ledger rows"
        assert registered.file_ids == (ledger_ids[0],) and registered.waiting == (), registered
        file_id = ledger_ids[0]

        steps = _load_with_retries(self.engine, file_id, landing, self.outbox)
        assert [step for step, _, _ in steps] == ["stage", "validate", "publish"]
        final = steps[-1][1]
        assert final in pipeline.FINAL_STAGES, steps
        return Loaded(file_id, final, folder / name)

    def accounted(self, loaded: Loaded) -> dict[str, Any]:
        """Check the ledger row, the core rows and the receipt of a loaded file; returns the ledger row."""
        file_id, final = loaded.file_id, loaded.final
        with self.engine.connect() as conn:
            row = pipeline.ledger_row(conn, file_id)
            feed_table = f'core."{row["feed"]}_rows"'
            in_core = conn.execute(
                sa.text(f"SELECT count(*) FROM {feed_table} WHERE file_id = :f"), {"f": file_id}
            ).scalar_one()
            rejected_lines = conn.execute(
                sa.text("SELECT count(DISTINCT line_no) FROM audit.rejected_rows WHERE file_id = :f"),
                {"f": file_id},
            ).scalar_one()
            staged = conn.execute(
                sa.text("SELECT to_regclass(:t)"), {"t": f'staging."{row["feed"]}_{file_id}"'}
            ).scalar()
        where = f"file {file_id} {row['rel_path']} ({final}, {row['quarantine_reason']})"

        assert row["stage"] == final, where
        assert row["status"] is not None, where
        if final == "published":
            assert row["status"] in PUBLISHED_STATUSES, where
            assert (row["status"] == "loaded_with_rejections") == (row["rows_rejected"] > 0), where
            assert rejected_lines == row["rows_rejected"], f"{where}: {rejected_lines} rejected lines listed"
        else:
            assert row["status"] == final, where
            assert row["rows_loaded"] == 0, where
        if final == "duplicate":
            assert row["duplicate_of"] is not None, where
        if final == "quarantined":
            assert row["quarantine_reason"], where
            assert row["quarantine_path"] and Path(row["quarantine_path"]).is_file(), where
            assert not loaded.path.exists(), f"{where}: still in the landing folder"
        for column in ("rows_read", "rows_loaded", "rows_rejected"):
            assert row[column] is not None and row[column] >= 0, f"{where}: {column} = {row[column]}"
        assert row["rows_read"] == row["rows_loaded"] + row["rows_rejected"], where
        assert in_core == row["rows_loaded"], f"{where}: {in_core} rows in core"
        assert staged is None, f"{where}: {staged} left behind"

        assert row["receipt_path"], f"{where}: no receipt_path"
        receipt_path = Path(row["receipt_path"])
        assert receipt_path.is_file(), f"{where}: no receipt at {receipt_path}"
        receipt = json.loads(receipt_path.read_text(encoding="utf-8"))
        for key in ("file_id", "sha256", "status", "rows_read", "rows_loaded", "rows_rejected"):
            assert receipt[key] == row[key], f"{where}: receipt {key} = {receipt[key]!r}, ledger {row[key]!r}"
        assert receipt["quarantine_reason"] == row["quarantine_reason"], where
        assert receipt["duplicate_of"] == row["duplicate_of"], where
        text = receipt_path.with_suffix(".txt")
        assert text.is_file() and text.read_text(encoding="utf-8").startswith("数据接收回执"), where
        return row


def _load_with_retries(
    engine: sa.Engine, file_id: int, landing: Path, outbox: Path
) -> list[tuple[str, str, float]]:
    """``pipeline.load``, retried as Airflow retries ``load_file`` when PostgreSQL refused a connection.

    Only a refused connection (``psycopg.OperationalError`` while connecting, e.g. "too many
    clients" when other test runs share the server) is retried: it says nothing about the input,
    and a retry resumes at the stage the ledger recorded. Any other exception fails the example.
    """
    for attempt in range(1, CONNECTION_RETRIES + 2):
        try:
            return pipeline.load(engine, load_settings(), file_id, landing=landing, outbox=outbox)
        except Exception as exc:
            if attempt > CONNECTION_RETRIES or not _connection_refused(exc):
                raise
            if currently_in_test_context():
                note(f"load of file {file_id}, attempt {attempt}: {exc!r}; retried")
                event("retried: PostgreSQL refused a connection")
            time.sleep(2.0 * attempt)
    raise AssertionError("unreachable")


def _connection_refused(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is PostgreSQL refusing a new connection."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, psycopg.OperationalError) and "connection failed" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@pytest.fixture(scope="module")
def warehouse(module_databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:  # type: ignore[no-untyped-def]
    """One migrated warehouse for the module, with the (unmutated) regions reference published.

    Data Docs and quarantined files go to the module's temporary folder, never the repository.
    """
    root = tmp_path_factory.mktemp("pipeline_fuzz")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POPDATA_DATA_DOCS", str(root / "gx"))
        patch.setenv("POPDATA_QUARANTINE", str(root / "quarantine"))
        engine = sa.create_engine(module_databases.create("popdata_test_pipeline_fuzz"))
        try:
            migrate.upgrade(engine)
            warehouse = Warehouse(engine, root)
            reference = next(data for feed_id, _, data in SEEDS if feed_id == REGIONS)
            loaded = warehouse.ingest(REGIONS, reference, REFERENCE_NAME)
            assert loaded.final == "published"
            warehouse.accounted(loaded)
            yield warehouse
        finally:
            engine.dispose()


def _name(feed_id: str, suffix: str, warehouse: Warehouse) -> str:
    """A fresh, regular file name for a drop of ``feed_id``."""
    feed = feed_by_id(feed_id)
    date = EXTRACT_DATE.get(feed_id, DEFAULT_EXTRACT_DATE)
    return f"{feed.feed}_{date}_{next(warehouse.numbers)}{suffix}"


def _outcome(row: dict[str, Any]) -> str:
    """How a file ended, for the statistics: its status, and a quarantined file's reason code."""
    if row["status"] == "quarantined":
        return f"quarantined ({str(row['quarantine_reason']).split(':', 1)[0]})"
    return str(row["status"])


@pytest.mark.parametrize(("feed_id", "suffix", "data"), SEEDS, ids=[f"{f}{s}" for f, s, _ in SEEDS])
def test_every_seed_goes_the_whole_way(warehouse: Warehouse, feed_id: str, suffix: str, data: bytes) -> None:
    """The unmutated seeds publish (the regions seed is the reference already loaded: a duplicate)."""
    loaded = warehouse.ingest(feed_id, data, _name(feed_id, suffix, warehouse))
    row = warehouse.accounted(loaded)
    assert loaded.final == ("duplicate" if feed_id == REGIONS else "published"), _outcome(row)
    if loaded.final == "published":
        assert row["rows_loaded"] > 0


@FUZZ
@given(TAGGED_MUTANTS)
def test_a_mutated_file_ends_in_a_ledger_row_and_a_receipt(
    warehouse: Warehouse, tagged: tuple[str, tuple[str, str, bytes]]
) -> None:
    family, (feed_id, suffix, data) = tagged
    row = warehouse.accounted(warehouse.ingest(feed_id, data, _name(feed_id, suffix, warehouse)))
    event(f"{family} {suffix[1:]}: {_outcome(row)}")


def test_the_warehouse_keeps_its_promises_after_the_fuzzing(warehouse: Warehouse) -> None:
    """``row_accounting`` and ``files_final`` hold over every file the module loaded."""
    results = {result.name: result for result in invariants.check(warehouse.engine)}
    for name in ("row_accounting", "files_final"):
        assert results[name].ok, results[name].line()
    with warehouse.engine.connect() as conn:
        in_flight = conn.execute(
            sa.text("SELECT file_id, rel_path, stage FROM audit.file_ledger WHERE status IS NULL")
        ).all()
    # files_final allows six hours in flight; here every file was loaded to the end at once
    assert not in_flight, in_flight
    assert results["row_accounting"].checked == results["files_final"].checked
