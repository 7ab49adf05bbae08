"""Fault injection (issue 10): after a fault and its retry the warehouse equals a clean run's.

One small drop (the first file of every feed of a generated county, plus a damaged file that
quarantines) goes through the whole chain in process, as the DAGs' tasks would: every feed's
scan registers its files, one ``load`` per file (stage → validate → publish), one linkage, one
reconciliation. A clean run of it is the reference. Each test runs the same chain into a
database of its own with one fault injected, does what Airflow does next (the task's retry, or
the next scan), and then compares:

- the warehouse, by :func:`popdata.quality.fingerprint.fingerprint` (one checksum per table of
  ``audit``, ``core``, ``mart`` and ``ops``; person keys and file numbers labelled, timestamps
  left out, so a retry that drew other sequence numbers still compares equal);
- the outbox: every receipt, with its status and row counts, and no temporary file left;
- :func:`popdata.quality.invariants.check`.

The faults: the task process killed with SIGKILL (in the middle of the staging COPY, inside the
publish transaction, between the commit and the receipt's rename, between a quarantine's commit
and the move of the file out of the landing folder); the PostgreSQL connection
dropped mid-transaction (``pg_terminate_backend``: in the COPY, in the publish, in the
linkage's and in the reconciliation's transaction); the outbox unwritable when a receipt is due
(for a file that loads and for one that quarantines: the file is not marked done, nothing is
published or moved, the retry finishes it); a file rewritten while it is read.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from popdata.config.feeds import Feed, default_feeds
from popdata.config.settings import load_settings
from popdata.ingest import arrive, pipeline, read, receipts
from popdata.linkage import link
from popdata.quality import fingerprint, invariants
from popdata.reconcile.run import reconcile
from popdata.runner import feeds_with_files
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration

PERSONS, SEED = 400, 11
REFERENCE = date(2014, 6, 30)
DAMAGED = "police/birth_registrations/birth_registrations_20140630.csv"
"""A file that quarantines (no required column), so the quarantine path is under fault too."""
CHILD_APP = "popdata_fault_child"
Loader = Callable[[int], str]


@dataclass
class Chain:
    """The whole chain over one landing folder into one warehouse, in process, step by step."""

    engine: sa.Engine
    landing: Path
    outbox: Path
    url: str
    settings: Any = field(default_factory=load_settings)

    def scan(self, feed: Feed) -> list[int]:
        """One scan of a feed's drop zone (its DAG's ``register_drops``): the files to load."""
        registered = pipeline.register(
            self.engine, feed, self.landing, quiet_seconds=0, now=time.time() + 3600
        )
        return list(registered.file_ids)

    def register(self) -> list[tuple[str, int]]:
        """Every feed's scan, in the order the runner uses: (feed, file id) of each file to load."""
        return [(f.feed, i) for f in feeds_with_files(self.landing, default_feeds()) for i in self.scan(f)]

    def load(self, file_id: int) -> str:
        """One ``load_file`` task: the stage the file reached."""
        return pipeline.load(self.engine, self.settings, file_id, landing=self.landing, outbox=self.outbox)[
            -1
        ][1]

    def link(self) -> None:
        link.run(self.engine)

    def reconcile(self) -> None:
        reconcile(self.engine, self.outbox, REFERENCE)

    def run(
        self,
        load: Callable[[str, int], str] | None = None,
        link_step: Callable[[], None] | None = None,
        reconcile_step: Callable[[], None] | None = None,
    ) -> None:
        """Each feed's scan and its loads (reference data first, as ``popdata run``), then the
        linkage and the reconciliation; each step replaceable by a faulty one."""
        for feed in feeds_with_files(self.landing, default_feeds()):
            for file_id in self.scan(feed):
                (load or (lambda _feed, i: self.load(i)))(feed.feed, file_id)
        (link_step or self.link)()
        (reconcile_step or self.reconcile)()

    def stage_of(self, file_id: int) -> tuple[str, str | None]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT stage, status FROM audit.file_ledger WHERE file_id = :f"), {"f": file_id}
            ).one()
        return str(row.stage), row.status

    def core_rows(self, feed: str, file_id: int) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(f'SELECT count(*) FROM core."{feed}_rows" WHERE file_id = :f'), {"f": file_id}
                ).scalar_one()
            )


@dataclass(frozen=True)
class Outcome:
    """What a run left: the warehouse's fingerprint, the receipts, the invariants."""

    sums: dict[str, fingerprint.TableSum]
    receipts: dict[str, tuple[Any, ...]]
    leftovers: list[str]
    broken: list[str]


def _outcome(chain: Chain) -> Outcome:
    found: dict[str, tuple[Any, ...]] = {}
    for path in sorted(chain.outbox.rglob("*.receipt.json")):
        receipt = json.loads(path.read_text(encoding="utf-8"))
        found[str(path.relative_to(chain.outbox))] = (
            receipt["status"],
            receipt["rows_read"],
            receipt["rows_loaded"],
            receipt["rows_rejected"],
            (receipt["quarantine_reason"] or "").split(":")[0],
        )
    leftovers = [str(p.relative_to(chain.outbox)) for p in chain.outbox.rglob("*.tmp")]
    broken = [r.line() for r in invariants.check(chain.engine) if not r.ok]
    return Outcome(fingerprint.fingerprint(chain.engine), found, leftovers, broken)


@pytest.fixture(scope="module")
def drop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first file of every feed of a generated county, plus one damaged file."""
    work = tmp_path_factory.mktemp("fault_drop")
    from popdata.generate.api import generate_county

    generate_county(work / "county", persons=PERSONS, seed=SEED)
    county, landing = work / "county" / "landing", work / "landing"
    for feed in default_feeds():
        drops = sorted(
            arrive.find_drops(county, feed, quiet_seconds=0, now=time.time() + 3600), key=lambda d: d.rel_path
        )
        if not drops:
            continue
        first = drops[0]
        for source in (first.path, first.manifest_path):
            if source is not None:
                target = landing / source.relative_to(county)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    damaged = landing / DAMAGED
    damaged.parent.mkdir(parents=True, exist_ok=True)
    damaged.write_bytes("登记编号,姓名\r\nR1,张伟\r\n".encode("gb18030"))
    return landing


@pytest.fixture(scope="module")
def module_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Data Docs of the module's validations under tmp, never in the repository."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POPDATA_DATA_DOCS", str(tmp_path_factory.mktemp("fault_docs")))
        yield


def _chain(databases: Any, drop: Path, work: Path, name: str) -> Chain:
    url = databases.create(f"popdata_test_fault_{name}")
    engine = sa.create_engine(url)
    migrate.upgrade(engine)
    landing = work / "landing"
    shutil.copytree(drop, landing)
    return Chain(engine, landing, work / "outbox", url)


@pytest.fixture(scope="module")
def clean(
    module_databases: Any, drop: Path, module_env: None, tmp_path_factory: pytest.TempPathFactory
) -> Outcome:
    """The reference: the chain without a fault."""
    work = tmp_path_factory.mktemp("fault_clean")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POPDATA_QUARANTINE", str(work / "quarantine"))
        chain = _chain(module_databases, drop, work, "clean")
        chain.run()
        outcome = _outcome(chain)
        chain.engine.dispose()
    statuses = {r[0] for r in outcome.receipts.values()}
    assert {"loaded", "quarantined"} <= statuses, statuses  # the drop exercises both paths
    assert not outcome.broken and not outcome.leftovers
    return outcome


@pytest.fixture
def chain(databases: Any, drop: Path, module_env: None, tmp_path: Path) -> Iterator[Chain]:
    made = _chain(databases, drop, tmp_path, "run")
    yield made
    made.engine.dispose()


def _assert_same(clean: Outcome, chain: Chain, history: frozenset[str] = frozenset()) -> None:
    """The warehouse, receipts and invariants are the clean run's; ``history`` names run-history
    tables a re-run adds to."""
    after = _outcome(chain)
    assert set(fingerprint.differences(clean.sums, after.sums)) == set(history)
    assert after.receipts == clean.receipts
    assert after.leftovers == [], "temporary receipt files left in the outbox"
    assert after.broken == []


def _target(chain: Chain, feed: str) -> Callable[[str, int], bool]:
    """A predicate for the file the fault hits: :data:`DAMAGED` for its feed, else the feed's first."""
    hit: list[int] = []

    def is_target(name: str, file_id: int) -> bool:
        if name != feed or hit:
            return False
        if DAMAGED.split("/")[1] == feed:
            with chain.engine.connect() as conn:
                rel_path = conn.execute(
                    sa.text("SELECT rel_path FROM audit.file_ledger WHERE file_id = :f"), {"f": file_id}
                ).scalar_one()
            if rel_path != DAMAGED:
                return False
        hit.append(file_id)
        return True

    return is_target


# --- a task process killed with SIGKILL -----------------------------------------------------------

CHILD = r"""
import os, sys, time
from pathlib import Path
import sqlalchemy as sa
from popdata.config.settings import load_settings
from popdata.ingest import pipeline, receipts

url, file_id, landing, outbox, point, marker = sys.argv[1:7]


def stall():
    Path(marker).write_text(str(os.getpid()))
    time.sleep(600)  # the parent kills this process now


if point == "copy":  # in the middle of the staging COPY, a few rows in
    import psycopg

    write_row, written = psycopg.Copy.write_row, [0]

    def slow_write_row(self, row):
        written[0] += 1
        if written[0] == 10:
            stall()
        return write_row(self, row)

    psycopg.Copy.write_row = slow_write_row
elif point == "publish":  # the rows are in core, the ledger says published: not committed
    publish_rows = pipeline._publish_rows

    def publish_then_stall(*args, **kwargs):
        publish_rows(*args, **kwargs)
        stall()

    pipeline._publish_rows = publish_then_stall
elif point == "receipt":  # committed, the receipt not yet renamed into place
    def stall_before_rename(self):
        stall()

    receipts.PreparedReceipt.put_in_place = stall_before_rename
elif point == "quarantine":  # the quarantine committed with its receipt, the file not yet moved aside
    def stall_before_move(*args, **kwargs):
        stall()

    pipeline._move_aside = stall_before_move

engine = sa.create_engine(url, connect_args={"application_name": sys.argv[7]})
pipeline.load(engine, load_settings(), int(file_id), landing=Path(landing), outbox=Path(outbox))
"""


def _kill_task_at(chain: Chain, file_id: int, point: str, work: Path) -> None:
    """Run ``load`` of one file in a child process, SIGKILL it at ``point``, wait until its
    PostgreSQL session is gone (the server has rolled back what it had not committed)."""
    marker = work / f"stalled_{point}"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            chain.url,
            str(file_id),
            str(chain.landing),
            str(chain.outbox),
            point,
            str(marker),
            CHILD_APP,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if child.poll() is not None:
                raise AssertionError(
                    f"the task ended before the fault: {child.stderr.read().decode()[-2000:]}"
                )  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the task never reached the fault point"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    deadline = time.monotonic() + 30
    with chain.engine.connect() as conn:
        while conn.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"), {"a": CHILD_APP}
        ).scalar_one():
            assert time.monotonic() < deadline, "the killed task's session did not end"
            time.sleep(0.05)


@pytest.mark.parametrize("point", ["copy", "publish", "receipt", "quarantine"])
def test_a_task_killed_with_sigkill_and_retried(
    chain: Chain, clean: Outcome, point: str, tmp_path: Path
) -> None:
    """``quarantine`` kills the load of the damaged file; the other points the registry file's."""
    is_target = _target(chain, DAMAGED.split("/")[1] if point == "quarantine" else "household_registry")

    def load(feed: str, file_id: int) -> str:
        if not is_target(feed, file_id):
            return chain.load(file_id)
        _kill_task_at(chain, file_id, point, tmp_path)
        stage, status = chain.stage_of(file_id)
        receipt = chain.outbox / "police" / "receipts"
        if point == "copy":  # nothing of the killed try survives
            assert (stage, status) == ("received", None)
        elif point == "publish":
            assert (stage, status) == ("validated", None)
            assert chain.core_rows(feed, file_id) == 0
        elif point == "receipt":  # committed: published, but the receipt was still a temporary file
            assert stage == "published" and status in ("loaded", "loaded_with_rejections")
            assert not list(receipt.glob("household_registry*.json"))
            stale = list(receipt.glob(".*.tmp"))
            assert len(stale) == 2
            old = time.time() - receipts.STALE_TMP_SECONDS - 60
            for path in stale:  # as the retry finds them: a dead process's leftovers, some minutes old
                os.utime(path, (old, old))
        else:  # quarantined with its receipt, the file still in the landing folder
            assert (stage, status) == ("quarantined", "quarantined")
            assert (chain.landing / DAMAGED).is_file()
        reached = chain.load(file_id)  # Airflow's retry of the task
        assert reached == ("quarantined" if point == "quarantine" else "published")
        if point == "quarantine":  # the retry finished the move
            assert not (chain.landing / DAMAGED).exists()
        return reached

    chain.run(load=load)
    _assert_same(clean, chain)


# --- the PostgreSQL connection dropped mid-transaction ----------------------------------------------


def _terminate(chain: Chain, pid: int, *, wait: bool = True) -> None:
    """End one PostgreSQL session from outside, as a network failure or a server restart would.

    A session in the middle of a COPY acts on it when the next data arrives (``wait=False``).
    """
    with chain.engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        if not wait:
            return
        deadline = time.monotonic() + 30
        while conn.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
        ).scalar_one():
            assert time.monotonic() < deadline
            time.sleep(0.02)


def _pid(conn: sa.Connection) -> int:
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return int(driver.info.backend_pid)


DROPPED = (sa.exc.OperationalError, psycopg.OperationalError)


@pytest.mark.parametrize("where", ["copy", "publish", "linkage", "reconciliation"])
def test_a_connection_dropped_mid_transaction_and_retried(
    chain: Chain, clean: Outcome, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fired: list[str] = []

    def once() -> bool:
        if fired:
            return False
        fired.append(where)
        return True

    if where == "copy":
        write_row = psycopg.Copy.write_row

        def write_row_then_drop(self: psycopg.Copy, row: Any) -> None:
            write_row(self, row)
            if self.connection.info.backend_pid and once():
                _terminate(chain, self.connection.info.backend_pid, wait=False)

        monkeypatch.setattr(psycopg.Copy, "write_row", write_row_then_drop)
    elif where == "publish":
        publish_rows = pipeline._publish_rows

        def publish_then_drop(conn: sa.Connection, *args: Any) -> None:
            publish_rows(conn, *args)
            if once():
                _terminate(chain, _pid(conn))

        monkeypatch.setattr(pipeline, "_publish_rows", publish_then_drop)
    elif where == "linkage":
        write_plan = link.write_plan

        def write_then_drop(conn: sa.Connection, *args: Any) -> int:
            written = write_plan(conn, *args)
            if once():
                _terminate(chain, _pid(conn))
            return written

        monkeypatch.setattr(link, "write_plan", write_then_drop)
    else:
        from popdata.reconcile import other

        refresh_other = other.refresh_other

        def refresh_then_drop(conn: sa.Connection, *args: Any) -> dict[str, int]:
            refreshed = refresh_other(conn, *args)
            if once():
                _terminate(chain, _pid(conn))
            return refreshed

        monkeypatch.setattr(other, "refresh_other", refresh_then_drop)

    def retried(step: Callable[[], Any]) -> Any:
        """Run a step; when the fault hits it, the try fails and the retry runs it again."""
        try:
            return step()
        except DROPPED:
            assert fired, "failed without the fault"
            return step()

    def load(feed: str, file_id: int) -> str:
        if where in ("copy", "publish") and not fired:  # the first file loaded meets the fault
            with pytest.raises(DROPPED):
                chain.load(file_id)
            assert chain.stage_of(file_id)[1] is None  # not marked done
            assert chain.core_rows(feed, file_id) == 0
        return str(retried(lambda: chain.load(file_id)))

    chain.run(
        load=load,
        link_step=lambda: retried(chain.link),
        reconcile_step=lambda: retried(chain.reconcile),
    )
    assert fired == [where]
    _assert_same(clean, chain)


# --- the outbox unwritable when a receipt is due ----------------------------------------------------


def _block_receipts(outbox: Path, agency: str) -> Callable[[], None]:
    """Make ``<outbox>/<agency>/receipts`` unwritable (a regular file where the folder should be:
    permissions would not stop root); returns the undo."""
    folder = outbox / agency / "receipts"
    saved = folder.with_name("receipts.saved")
    folder.parent.mkdir(parents=True, exist_ok=True)
    had = folder.exists()
    if had:
        folder.rename(saved)
    folder.write_text("not a folder")

    def undo() -> None:
        folder.unlink()
        if had:
            saved.rename(folder)

    return undo


@pytest.mark.parametrize("feed", ["household_registry", "birth_registrations"])
def test_an_unwritable_outbox_leaves_the_file_not_done_until_the_retry(
    chain: Chain, clean: Outcome, feed: str
) -> None:
    """``household_registry`` loads, ``birth_registrations``' damaged file quarantines."""
    is_target = _target(chain, feed)

    def load(name: str, file_id: int) -> str:
        if not is_target(name, file_id):
            return chain.load(file_id)
        with chain.engine.connect() as conn:
            rel_path = conn.execute(
                sa.text("SELECT rel_path FROM audit.file_ledger WHERE file_id = :f"), {"f": file_id}
            ).scalar_one()
        undo = _block_receipts(chain.outbox, "police")
        try:
            with pytest.raises(OSError):
                chain.load(file_id)
            stage, status = chain.stage_of(file_id)
            assert status is None and stage not in pipeline.FINAL_STAGES  # not done
            assert chain.core_rows(name, file_id) == 0
            assert (chain.landing / rel_path).is_file()  # a file due for quarantine is not moved yet
            # in flight, within the grace (row_accounting would rightly miss the agency's other
            # receipts, moved aside with the folder)
            assert {r.name: r for r in invariants.check(chain.engine)}["files_final"].ok
        finally:
            undo()
        reached = chain.load(file_id)  # the retry, with the outbox back
        assert reached in ("published", "quarantined")
        assert chain.stage_of(file_id)[1] is not None
        return reached

    chain.run(load=load)
    _assert_same(clean, chain)


# --- a file rewritten while it is read --------------------------------------------------------------


def test_a_file_rewritten_while_it_is_read_loads_only_whole_bytes(
    chain: Chain, clean: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agency re-exports a file (the same rows, other line breaks) while the task reads it.

    The task reads the new bytes, whose hash is not the registered one: the registered file is
    refused (``file_changed_after_registration``, left in place), the next scan registers the new
    bytes as a new drop and loads them. Beside that refused ledger row (and the feed's count of
    quarantined files), the warehouse is the clean run's.
    """
    target = next(  # a CSV without a manifest (a manifest would name the old bytes' sha256)
        p
        for p in sorted(chain.landing.glob("*/*/*.csv"))
        if not p.with_name(p.name + arrive.MANIFEST_SUFFIX).exists() and p.parent.name != "regions"
    )
    target_feed = target.parent.name
    original = target.read_bytes()
    rewritten = original.replace(b"\r\n", b"\n") if b"\r\n" in original else original.replace(b"\n", b"\r\n")
    size_of = read._size_of

    def size_while_rewritten(handle: Any) -> int:
        if os.fstat(handle.fileno()).st_ino == target.stat().st_ino and target.read_bytes() == original:
            with target.open("r+b") as out:  # in place: the open handle reads the new bytes
                out.write(rewritten)
                out.truncate()
        return size_of(handle)

    monkeypatch.setattr(read, "_size_of", size_while_rewritten)
    refused: list[int] = []

    def load(feed: str, file_id: int) -> str:
        reached = chain.load(file_id)
        if feed == target_feed and not refused:
            assert reached == "quarantined"
            refused.append(file_id)
            assert target.read_bytes() == rewritten  # left in place: it is the agency's newer drop
            ((_, again),) = [(f, i) for f, i in chain.register() if f == feed]  # the next scan
            assert chain.load(again) == "published", (
                chain.engine.connect()
                .execute(
                    sa.text("SELECT quarantine_reason FROM audit.file_ledger WHERE file_id = :f"),
                    {"f": again},
                )
                .scalar()
            )
        return reached

    chain.run(load=load)
    with chain.engine.connect() as conn:
        ledger = conn.execute(
            sa.text(
                "SELECT file_id, status, quarantine_reason, quarantine_path FROM audit.file_ledger"
                " WHERE feed = :feed ORDER BY file_id"
            ),
            {"feed": target_feed},
        ).all()
    assert [(r.status, (r.quarantine_reason or "").split(":")[0], r.quarantine_path) for r in ledger] == [
        ("quarantined", pipeline.CHANGED_AFTER_REGISTRATION, None),
        ("loaded", "", None),
    ]
    after = _outcome(chain)
    assert set(fingerprint.differences(clean.sums, after.sums)) == {"audit.file_ledger", "mart.feed_quality"}
    changed = {k: v for k, v in after.receipts.items() if clean.receipts.get(k) != v}
    assert sorted(v[0] for v in changed.values()) == [
        "loaded",
        "quarantined",
    ]  # the refused bytes, the new ones
    assert after.broken == [] and after.leftovers == []


# --- re-running every task of a finished run -----------------------------------------------------------


def test_re_running_every_task_of_a_finished_run_changes_nothing(chain: Chain, clean: Outcome) -> None:
    chain.run()
    with chain.engine.connect() as conn:
        file_ids = (
            conn.execute(sa.text("SELECT file_id FROM audit.file_ledger ORDER BY file_id")).scalars().all()
        )
    assert len(file_ids) == len(clean.receipts)
    for file_id in file_ids:
        chain.load(file_id)  # a cleared task instance run again
    chain.link()
    chain.reconcile()
    assert chain.register() == []  # the scans find nothing new
    _assert_same(clean, chain, history=frozenset({"audit.link_runs"}))
    with chain.engine.connect() as conn:  # the second linkage read and did exactly what the first did
        runs = conn.execute(
            sa.text(
                "SELECT published_files, published_digest, mentions, id_exact, probabilistic, new,"
                " new_persons, merges, reviews, corrections FROM audit.link_runs ORDER BY link_run_id"
            )
        ).all()
    assert len(runs) == 2
    assert {**runs[0]._asdict(), "new_persons": 0} == runs[1]._asdict(), runs
