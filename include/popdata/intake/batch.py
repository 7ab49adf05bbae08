"""Writing accepted village reports into the landing folder: files of ``fp/village_reports``.

Reports reach the warehouse the way every agency file does: :func:`write_pending` writes them as
``<landing>/fp/village_reports/village_reports_<YYYYMMDD>_<batch>.csv`` (UTF-8 with BOM, the
YAML's first header of each column, one row per report) with a manifest beside it (rows, sha256,
extract date, period). The ingest DAG of the feed then registers, checks, validates, publishes and
answers with a receipt in ``<outbox>/fp/receipts/``, as for any drop; nothing bypasses the ledger.

Safe to re-run and to kill at any point:

1. One transaction claims the reports no batch holds yet (``intake.batches`` row, the reports'
   ``batch_id``). The file's name and content follow from the claimed reports alone: the extract
   date is their latest report date, never the wall clock.
2. The file is written to a temporary name, fsynced and renamed; the manifest likewise, last
   (with a manifest, a file is complete when its manifest exists: contract §1).
3. The batch is marked written (``dropped_at``, ``sha256``).

A batch claimed but not marked written (a crash between the steps) is written again, with the
same bytes, by the next call; a file already in place with those bytes is kept.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from popdata.intake import reports

LOCK_KEY = 715012
"""Advisory lock serialising batch writers (the DAG, ``popdata run``, the CLI)."""
MAX_REPORTS_PER_FILE = 5000


@dataclass(frozen=True)
class BatchFile:
    """One file written from reports."""

    batch_id: int
    path: Path
    rows: int
    sha256: str


def feed_folder(landing: Path) -> Path:
    """``<landing>/fp/village_reports``."""
    feed = reports.village_feed()
    return landing / feed.agency / feed.feed


def render(rows: list[tuple[str, str, date, dict[str, str]]]) -> bytes:
    """The CSV bytes of reports ``(report_no, report_type, report_date, fields)`` in that order."""
    feed = reports.village_feed()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.headers[0] for c in feed.columns])
    for report_no, report_type, report_date, fields in rows:
        values = {
            **fields,
            "report_no": report_no,
            "report_type": report_type,
            "report_date": report_date.isoformat(),
        }
        writer.writerow([values.get(c.name, "") for c in feed.columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _claim(conn: sa.Connection, limit: int) -> None:
    """Put the reports no batch holds into new batches (one per ``limit`` reports)."""
    while True:
        pending = conn.execute(
            sa.text(
                "SELECT report_id, report_date FROM intake.village_reports WHERE batch_id IS NULL"
                " ORDER BY report_id LIMIT :n FOR UPDATE"
            ),
            {"n": limit},
        ).all()
        if not pending:
            return
        extract = max(r.report_date for r in pending)
        batch_id = conn.execute(
            sa.text(
                "INSERT INTO intake.batches (file_name, extract_date, reports)"
                " VALUES ('pending-' || gen_random_uuid(), :d, :n) RETURNING batch_id"
            ),
            {"d": extract, "n": len(pending)},
        ).scalar_one()
        conn.execute(
            sa.text("UPDATE intake.batches SET file_name = :f WHERE batch_id = :b"),
            {"f": f"village_reports_{extract:%Y%m%d}_{batch_id}.csv", "b": batch_id},
        )
        conn.execute(
            sa.text("UPDATE intake.village_reports SET batch_id = :b WHERE report_id = ANY(:ids)"),
            {"b": batch_id, "ids": [r.report_id for r in pending]},
        )


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary file in the same folder."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _write(conn: sa.Connection, folder: Path, batch_id: int, file_name: str, extract: date) -> BatchFile:
    rows = conn.execute(
        sa.text(
            "SELECT report_no, report_type, report_date, fields FROM intake.village_reports"
            " WHERE batch_id = :b ORDER BY report_id"
        ),
        {"b": batch_id},
    ).all()
    data = render([(r.report_no, r.report_type, r.report_date, r.fields) for r in rows])
    digest = hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name
    if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest):
        _write_atomically(path, data)
    feed = reports.village_feed()
    manifest = {
        "agency": feed.agency,
        "feed": feed.feed,
        "extract_date": extract.isoformat(),
        "rows": len(rows),
        "sha256": digest,
        "encoding": "utf-8",
        "period_start": min(r.report_date for r in rows).isoformat(),
        "period_end": max(r.report_date for r in rows).isoformat(),
    }
    _write_atomically(
        path.with_name(path.name + ".manifest.json"),
        (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
    )
    conn.execute(
        sa.text("UPDATE intake.batches SET sha256 = :s, dropped_at = now() WHERE batch_id = :b"),
        {"s": digest, "b": batch_id},
    )
    return BatchFile(batch_id, path, len(rows), digest)


def write_pending(engine: sa.Engine, landing: Path, *, limit: int = MAX_REPORTS_PER_FILE) -> list[BatchFile]:
    """Write every accepted report no file carries yet (and any batch a crash left unwritten)."""
    folder = feed_folder(landing)
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        _claim(conn, limit)
    written: list[BatchFile] = []
    with engine.connect() as conn:
        unwritten = conn.execute(
            sa.text(
                "SELECT batch_id, file_name, extract_date FROM intake.batches WHERE dropped_at IS NULL"
                " ORDER BY batch_id"
            )
        ).all()
        conn.rollback()
        for batch in unwritten:
            with conn.begin():
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
                still = conn.execute(
                    sa.text("SELECT dropped_at IS NULL FROM intake.batches WHERE batch_id = :b"),
                    {"b": batch.batch_id},
                ).scalar_one()
                if still:
                    written.append(_write(conn, folder, batch.batch_id, batch.file_name, batch.extract_date))
    return written
