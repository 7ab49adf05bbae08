"""The ingest path of one feed, as steps that take and return identifiers.

``register`` → ``stage`` → ``validate`` → ``publish``: write, audit, publish.
Each step is safe to re-run: it is keyed on the file's ledger row (itself keyed
on the drop's path and sha256), looks at the stage the file reached, and does
nothing twice. The Airflow DAGs call these functions; so do tests, without a
scheduler.

- **register** puts every complete drop in ``audit.file_ledger`` once.
- **stage** decodes, normalises and COPYs the accepted rows into
  ``staging.<feed>_<file_id>``; rejected rows and warnings go to ``audit``; a
  file that cannot load is quarantined, a resend of loaded bytes is a duplicate.
- **validate** runs the feed's Great Expectations suite in the database and
  records ``audit.dq_results``; a failed ``quarantine_file`` expectation quarantines,
  rows that break a ``reject_rows`` one are rejected (the rest publishes).
- **publish** moves the rows to ``core``, refreshes the feed's marts and closes
  the ledger row in one transaction, with the receipt.

A file is *done* when its ledger row has a final status, and never without its receipt: every
step that gives a file its final status (publish, quarantine, duplicate) does it in
:func:`closing_file`, which writes the receipt before the commit and renames it into place
after (docs/reliability.md).

``load`` runs stage, validate and publish for one file: the DAGs' one task per file
(``load_file``). A retry resumes at the step the ledger says the file reached.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from popdata.config.feeds import Feed, default_feeds, feed_by_id
from popdata.config.settings import Settings
from popdata.ingest import arrive, read, receipts, rows
from popdata.normalize.codes import RegionResolver
from popdata.warehouse import staging
from popdata.warehouse.scripts import run_script

if TYPE_CHECKING:
    from popdata.quality.gx import ExpectationOutcome, SuiteResult

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent / "warehouse" / "sql"
DQ_CRITICAL_FAILED = "dq_critical_failed"  # a quarantine_file expectation failed
DQ_ROW_REJECTED = "dq_rule_failed"  # a row broke a reject_rows expectation
CHANGED_AFTER_REGISTRATION = read.CHANGED_AFTER_REGISTRATION
IRREGULAR_NAME = "irregular_name"
EXTRACT_DATE_UNKNOWN = "extract_date_unknown"
FINAL_STAGES = ("published", "quarantined", "duplicate")


@dataclass(frozen=True, slots=True)
class Registered:
    """Result of a look at the drop zone of one feed."""

    file_ids: tuple[int, ...]
    waiting: tuple[str, ...]


# --- register ---------------------------------------------------------------------------------


def register(
    engine: sa.Engine,
    feed: Feed,
    landing: Path,
    *,
    quiet_seconds: float,
    now: float,
    reference_wait_seconds: float = 3600.0,
) -> Registered:
    """Register every complete drop of ``feed``; returns the ids of files that still need work.

    A feed whose rows carry region codes registers its drops but returns none to load while a
    region reference (a ``reference`` feed: ``stats/regions``) is in the landing folder or in
    flight and not yet final (:func:`pending_references`): its region names are then resolved
    against that reference whatever order the scheduler runs the feeds' scans in, and the next
    scan loads them. A reference pending for more than ``reference_wait_seconds`` (stuck: its
    DAG paused, its task dead) holds nothing back any more.
    """
    pending: list[int] = []
    waiting: list[str] = []
    for drop in arrive.find_drops(landing, feed, quiet_seconds=quiet_seconds, now=now):
        if not drop.complete:
            waiting.append(f"{drop.rel_path}: {drop.waiting_reason}")
            continue
        sha, size = arrive.sha256_of(drop.path)
        manifest: dict[str, Any] | None = None
        manifest_error: str | None = None
        if drop.manifest_path is not None:
            try:
                manifest = arrive.read_manifest(drop.manifest_path)
            except arrive.ManifestError as exc:
                manifest_error = str(exc)
        name = arrive.check_file_name(drop.path.name, feed.feed)
        extract = (arrive.manifest_extract_date(manifest) if manifest else None) or name.extract_date
        irregular = [] if name.regular else [IRREGULAR_NAME]
        if extract is None:
            irregular.append(EXTRACT_DATE_UNKNOWN)
            extract = date.fromtimestamp(drop.path.stat().st_mtime)
        with engine.begin() as conn:
            row = conn.execute(
                sa.text(
                    """
                    INSERT INTO audit.file_ledger (agency, feed, file_name, rel_path, sha256, size_bytes,
                                                   extract_date, irregularities, manifest, quarantine_reason)
                    VALUES (:agency, :feed, :file_name, :rel_path, :sha256, :size, :extract_date,
                            :irregularities, CAST(:manifest AS jsonb), :manifest_error)
                    ON CONFLICT (agency, feed, rel_path, sha256) WHERE quarantine_path IS NULL DO NOTHING
                    RETURNING file_id
                    """
                ),
                {
                    "agency": feed.agency,
                    "feed": feed.feed,
                    "file_name": drop.path.name,
                    "rel_path": drop.rel_path,
                    "sha256": sha,
                    "size": size,
                    "extract_date": extract,
                    "irregularities": irregular,
                    "manifest": json.dumps(manifest, ensure_ascii=False) if manifest is not None else None,
                    "manifest_error": manifest_error,
                },
            ).first()
            if row is None:
                row = conn.execute(
                    sa.text(
                        "SELECT file_id FROM audit.file_ledger WHERE agency = :a AND feed = :f"
                        " AND rel_path = :p AND sha256 = :s AND quarantine_path IS NULL AND stage NOT IN :final"
                    ).bindparams(sa.bindparam("final", expanding=True)),
                    {"a": feed.agency, "f": feed.feed, "p": drop.rel_path, "s": sha, "final": FINAL_STAGES},
                ).first()
        if row is not None:
            pending.append(int(row[0]))
    waiting.extend(skipped.describe() for skipped in arrive.skipped_entries(landing, feed))
    if pending and feed.resolves_regions:
        held = pending_references(engine, landing, now=now, max_age_seconds=reference_wait_seconds)
        if held:
            waiting.extend(f"{ref}: the region reference loads first" for ref in held)
            return Registered((), tuple(waiting))
    return Registered(tuple(sorted(pending)), tuple(waiting))


def pending_references(engine: sa.Engine, landing: Path, *, now: float, max_age_seconds: float) -> list[str]:
    """The region reference files not yet final, as paths relative to ``landing``.

    - registered and in flight (no final status), unless registered more than ``max_age_seconds``
      ago by the database's clock (a dead task: ``files_final`` reports it);
    - complete in the landing folder and not registered with these bytes: its feed's scan has not
      run yet (when that DAG is paused, the held feeds say so in their scans' notes);
    - still arriving, unless nothing was written to it for ``max_age_seconds`` (an abandoned upload).
    """
    references = [f for f in default_feeds() if f.kind == "reference"]
    if not references:
        return []
    with engine.connect() as conn:
        ledger = conn.execute(
            sa.text(
                "SELECT rel_path, sha256,"
                " status IS NULL AND received_at > now() - make_interval(secs => :max_age)"
                " FROM audit.file_ledger WHERE feed IN :feeds"
            ).bindparams(sa.bindparam("feeds", expanding=True)),
            {"feeds": [f.feed for f in references], "max_age": max_age_seconds},
        ).all()
    known = {(r[0], r[1]) for r in ledger}
    pending = {r[0] for r in ledger if r[2]}
    for feed in references:
        for drop in arrive.find_drops(landing, feed, quiet_seconds=0, now=now):
            try:
                if drop.complete:
                    if (drop.rel_path, arrive.sha256_of(drop.path)[0]) in known:
                        continue
                elif drop.path.stat().st_mtime < now - max_age_seconds:
                    continue
            except OSError:  # gone or unreadable since it was listed: its own scan will say
                continue
            pending.add(drop.rel_path)
    return sorted(pending)


# --- helpers ------------------------------------------------------------------------------------


def ledger_row(conn: sa.Connection, file_id: int) -> dict[str, Any]:
    """The ledger row of a file as a dict."""
    row = conn.execute(
        sa.text("SELECT * FROM audit.file_ledger WHERE file_id = :id"), {"id": file_id}
    ).mappings()
    found = row.first()
    if found is None:
        raise KeyError(f"no file {file_id} in audit.file_ledger")
    return dict(found)


def _feed_of(ledger: dict[str, Any]) -> Feed:
    return feed_by_id(f"{ledger['agency']}__{ledger['feed']}")


def _expected_encoding(encoding: str, feed: Feed) -> bool:
    families = {"utf-8-sig": "utf-8", "gbk": "gb18030", "xlsx": "xlsx"}
    expected = {families.get(e, e) for e in feed.encodings}
    if encoding == "xlsx":
        return "xlsx" in feed.formats
    return families.get(encoding, encoding) in expected


def load_region_resolver(conn: sa.Connection) -> RegionResolver | None:
    """A resolver over the latest published ``stats/regions`` reference, when there is one."""
    found = conn.execute(
        sa.text("SELECT code, name, level, parent_code FROM core.regions WHERE code IS NOT NULL")
    ).all()
    if not found:
        return None
    return RegionResolver([(r[0], r[1], r[2], r[3]) for r in found])


# --- stage --------------------------------------------------------------------------------------


def stage(engine: sa.Engine, settings: Settings, file_id: int, *, landing: Path, outbox: Path) -> str:
    """Decode, normalise and COPY one file into staging; returns the stage it reached."""
    with engine.connect() as conn:
        ledger = ledger_row(conn, file_id)
    if ledger["stage"] != "received":
        return str(ledger["stage"])
    feed = _feed_of(ledger)
    with closing_file(engine, file_id, outbox) as conn:
        duplicate_of = _mark_if_duplicate(conn, feed, ledger)
    if duplicate_of is not None:
        return "duplicate"

    path = landing / ledger["rel_path"]
    try:
        table, normalised = _read_and_normalise(engine, feed, ledger, path, settings)
    except read.FileRejected as exc:
        # a file that changed after registration is the agency's newer drop: leave it for the next scan
        move = exc.reason != CHANGED_AFTER_REGISTRATION
        quarantine(
            engine,
            file_id,
            exc.reason,
            exc.detail,
            outbox=outbox,
            landing=landing if move else None,
            settings=settings if move else None,
        )
        return "quarantined"

    irregular = set(ledger["irregularities"]) | normalised.irregularities
    if not _expected_encoding(table.encoding, feed):
        irregular.add(read.ENCODING_UNEXPECTED)
    staging.create_and_copy(engine, feed, file_id, normalised.columns)
    with engine.begin() as conn:
        _replace_issues(conn, file_id, normalised)
        conn.execute(
            sa.text(
                """
                UPDATE audit.file_ledger
                SET stage = 'staged', encoding = :encoding, irregularities = :irregular,
                    rows_read = :read, rows_loaded = :loaded, rows_rejected = :rejected, rows_warned = :warned
                WHERE file_id = :id AND stage = 'received'
                """
            ),
            {
                "encoding": table.encoding,
                "irregular": sorted(irregular),
                "read": normalised.rows_read,
                "loaded": normalised.rows_loaded,
                "rejected": normalised.rows_rejected,
                "warned": len({w.line_no for w in normalised.warnings}),
                "id": file_id,
            },
        )
    return "staged"


def _read_and_normalise(
    engine: sa.Engine, feed: Feed, ledger: dict[str, Any], path: Path, settings: Settings
) -> tuple[read.RawTable, rows.NormalizedFile]:
    manifest = ledger["manifest"]
    if ledger["quarantine_reason"]:  # the manifest could not be read at registration
        raise read.FileRejected(read.MANIFEST_UNREADABLE, ledger["quarantine_reason"])
    if not path.is_file():
        raise read.FileRejected(read.EMPTY, f"{ledger['rel_path']} is no longer in the landing folder")
    if manifest is not None:
        for key in ("agency", "feed"):
            if manifest.get(key) not in (None, ledger[key]):
                raise read.FileRejected(
                    read.MANIFEST_FEED,
                    f"manifest says {key}={manifest.get(key)!r}, folder says {ledger[key]!r}",
                )
        if manifest.get("sha256") and str(manifest["sha256"]).lower() != ledger["sha256"]:
            raise read.FileRejected(
                read.MANIFEST_SHA256, f"manifest sha256 {manifest['sha256']} ≠ file sha256"
            )
    hint = manifest.get("encoding") if manifest else None
    table = read.read_file(
        path, feed, encoding_hint=hint, max_bytes=settings.max_file_bytes, expected_sha256=ledger["sha256"]
    )
    if manifest is not None and manifest.get("rows") is not None:
        try:
            expected_rows = int(manifest["rows"])
        except (TypeError, ValueError) as exc:
            raise read.FileRejected(
                read.MANIFEST_ROWS, f"manifest rows {manifest['rows']!r} is not a number"
            ) from exc
        if expected_rows != len(table.rows):
            raise read.FileRejected(
                read.MANIFEST_ROWS, f"manifest says {expected_rows} rows, the file has {len(table.rows)}"
            )
    with engine.connect() as conn:
        resolver = load_region_resolver(conn) if any(c.type == "region" for c in feed.columns) else None
    normalised = rows.normalise_table(table, feed, extract_date=ledger["extract_date"], resolver=resolver)
    return table, normalised


def _replace_issues(conn: sa.Connection, file_id: int, normalised: rows.NormalizedFile) -> None:
    for table, issues in (("rejected_rows", normalised.rejected), ("row_warnings", normalised.warnings)):
        conn.execute(sa.text(f"DELETE FROM audit.{table} WHERE file_id = :id"), {"id": file_id})
        if issues:
            conn.execute(
                sa.text(
                    f"INSERT INTO audit.{table} (file_id, line_no, column_name, reason_code, masked_value)"
                    " VALUES (:file_id, :line_no, :column_name, :reason_code, :masked_value)"
                ),
                [
                    {
                        "file_id": file_id,
                        "line_no": i.line_no,
                        "column_name": i.column,
                        "reason_code": i.reason,
                        "masked_value": i.masked_value,
                    }
                    for i in issues
                ],
            )


def quarantine(
    engine: sa.Engine,
    file_id: int,
    reason: str,
    detail: str,
    *,
    outbox: Path,
    landing: Path | None = None,
    settings: Settings | None = None,
) -> None:
    """Quarantine a file: nothing of it loads, it is moved aside, the ledger and the receipt say why.

    The ledger row and the receipt are closed together (:func:`closing_file`). Then, with
    ``landing`` and ``settings``, the data file (and its manifest) is moved from the landing
    folder to ``<quarantine>/<agency>/<feed>/<file_id>__<name>`` and the ledger records where.
    The move comes after the commit, so a failed transaction never leaves a file moved away
    from a ledger row that still expects it; a process that dies between the two leaves the
    file in the landing folder, where its quarantined ledger row keeps it from being picked up
    again (as when the landing folder is read-only and the file can only be copied), until the
    task's retry moves it (:func:`load`).
    """
    with closing_file(engine, file_id, outbox) as conn:
        ledger = ledger_row(conn, file_id)
        staging.drop(conn, _feed_of(ledger), file_id)
        conn.execute(
            sa.text(
                """
                UPDATE audit.file_ledger
                SET status = 'quarantined', stage = 'quarantined', quarantine_reason = :reason,
                    rows_read = coalesce(rows_read, 0), rows_loaded = 0, rows_rejected = coalesce(rows_read, 0)
                WHERE file_id = :id
                """
            ),
            {"reason": f"{reason}: {detail}", "id": file_id},
        )
    log.warning("file %s quarantined: %s: %s", file_id, reason, detail)
    if landing is not None and settings is not None:
        move_aside(engine, file_id, landing, settings)


def move_aside(engine: sa.Engine, file_id: int, landing: Path, settings: Settings) -> None:
    """Move a quarantined file out of the landing folder unless the ledger says it was moved.

    Called by :func:`quarantine` after its commit, and by :func:`load` for a file that is
    quarantined already: a retry finishes the move of a try that died between the two.
    """
    with engine.connect() as conn:
        ledger = ledger_row(conn, file_id)
    if ledger["stage"] != "quarantined" or ledger["quarantine_path"] is not None:
        return
    moved_to = _move_aside(ledger, landing, settings)
    if moved_to is not None:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE audit.file_ledger SET quarantine_path = :q WHERE file_id = :id"),
                {"q": str(moved_to), "id": file_id},
            )


def _move_aside(ledger: dict[str, Any], landing: Path, settings: Settings) -> Path | None:
    """Move a quarantined file and its manifest out of the landing folder; returns where it went.

    Only the quarantined bytes move: a file whose bytes changed since registration is the
    agency's newer drop and stays. Where the landing folder is read-only the file is copied
    (returns None): the original stays, and its ledger row keeps it from being picked up again;
    a moved file's path is free for a corrected drop under the same name.
    """
    import shutil

    source = landing / ledger["rel_path"]
    if not source.is_file() or arrive.sha256_of(source)[0] != ledger["sha256"]:
        return None
    target_dir = settings.quarantine_dir / ledger["agency"] / ledger["feed"]
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{ledger['file_id']}__{source.name}"
    manifest = source.with_name(source.name + arrive.MANIFEST_SUFFIX)
    try:
        shutil.move(source, target)
    except OSError:
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            shutil.copy2(source, target)  # a read-only drop zone: keep a copy, leave the original
        log.warning("could not move %s out of the landing folder; a copy is in %s", source, target)
        return None
    if manifest.is_file():
        with contextlib.suppress(OSError):
            shutil.move(manifest, target.with_name(target.name + arrive.MANIFEST_SUFFIX))
    return target


# --- validate -------------------------------------------------------------------------------------


def validate(
    engine: sa.Engine, settings: Settings, file_id: int, *, outbox: Path, landing: Path | None = None
) -> str:
    """Validate a staged file with its feed's GX suite; returns the stage it reached."""
    with engine.connect() as conn:
        ledger = ledger_row(conn, file_id)
    if ledger["stage"] != "staged":
        return str(ledger["stage"])
    feed = _feed_of(ledger)
    failed_gate: list[str] = []
    if feed.suite:
        from popdata.quality import docs
        from popdata.quality.gx import validate_table

        result = validate_table(
            engine.url.render_as_string(hide_password=False),
            "staging",
            staging.staging_table(feed, file_id),
            settings.expectations_dir / feed.suite,
            run_name=f"file_{file_id}",
            record_to=docs.docs_root(settings),
            file_id=file_id,
        )
        failed_gate = [
            f"{o.expectation}({o.column_name or ''})"
            for o in result.outcomes
            if o.severity == "quarantine_file" and not o.success
        ]
        rejected = result.rejected_lines
        if rejected and not failed_gate:
            with engine.connect() as conn:
                staged = conn.execute(
                    sa.text(f'SELECT count(*) FROM staging."{staging.staging_table(feed, file_id)}"')
                ).scalar_one()
            if len(rejected) >= staged:  # nothing would publish: a whole-file problem, not a row one
                failed_gate = [f"every row failed a reject_rows rule ({len(rejected)} rows)"]
        with engine.begin() as conn:
            _record_dq_results(conn, file_id, result)
            if not failed_gate:
                _reject_failing_rows(conn, feed, file_id, rejected)
                _mark_validated(conn, file_id)
    else:
        with engine.begin() as conn:
            _mark_validated(conn, file_id)
    if failed_gate:
        quarantine(
            engine,
            file_id,
            DQ_CRITICAL_FAILED,
            ", ".join(failed_gate),
            outbox=outbox,
            landing=landing,
            settings=settings,
        )
        return "quarantined"
    return "validated"


def _mark_validated(conn: sa.Connection, file_id: int) -> None:
    conn.execute(
        sa.text("UPDATE audit.file_ledger SET stage = 'validated' WHERE file_id = :id AND stage = 'staged'"),
        {"id": file_id},
    )


def _record_dq_results(conn: sa.Connection, file_id: int, result: SuiteResult) -> None:
    """Replace the file's rows of ``audit.dq_results`` with this validation's outcomes (counts only)."""
    conn.execute(sa.text("DELETE FROM audit.dq_results WHERE file_id = :id"), {"id": file_id})
    conn.execute(
        sa.text(
            "INSERT INTO audit.dq_results (file_id, suite, expectation, column_name, success,"
            " unexpected_count, element_count, severity)"
            " VALUES (:file_id, :suite, :expectation, :column_name, :success, :unexpected_count,"
            " :element_count, :severity)"
        ),
        [
            {
                "file_id": file_id,
                "suite": result.suite,
                "expectation": o.expectation,
                "column_name": o.column_name,
                "success": o.success,
                "unexpected_count": o.unexpected_count,
                "element_count": o.element_count,
                "severity": o.severity,
            }
            for o in result.outcomes
        ],
    )


def _reject_failing_rows(
    conn: sa.Connection, feed: Feed, file_id: int, lines: Mapping[int, Sequence[ExpectationOutcome]]
) -> None:
    """The ``reject_rows`` gate: move the failing rows out of staging into ``audit.rejected_rows``.

    In the transaction that marks the file validated: each failing line is listed once per
    expectation it broke (reason ``dq_rule_failed``, the expectation's column), its staged row
    is deleted, and the ledger's counts move the rows from loaded to rejected, so
    ``rows_read = rows_loaded + rows_rejected`` still holds (the ledger's CHECK enforces it).
    """
    if not lines:
        return
    conn.execute(
        sa.text(
            "INSERT INTO audit.rejected_rows (file_id, line_no, column_name, reason_code, masked_value)"
            " VALUES (:file_id, :line_no, :column_name, :reason_code, NULL)"
        ),
        [
            {
                "file_id": file_id,
                "line_no": line,
                "column_name": o.column_name,
                "reason_code": DQ_ROW_REJECTED,
            }
            for line, outcomes in lines.items()
            for o in outcomes
        ],
    )
    deleted = conn.execute(
        sa.text(f'DELETE FROM staging."{staging.staging_table(feed, file_id)}" WHERE line_no = ANY(:lines)'),
        {"lines": list(lines)},
    ).rowcount
    if deleted != len(lines):
        raise RuntimeError(
            f"file {file_id}: {len(lines)} rows failed a reject_rows rule, {deleted} were staged"
        )
    conn.execute(
        sa.text(
            "UPDATE audit.file_ledger SET rows_loaded = rows_loaded - :n, rows_rejected = rows_rejected + :n"
            " WHERE file_id = :id"
        ),
        {"n": deleted, "id": file_id},
    )


# --- publish --------------------------------------------------------------------------------------


def publish(engine: sa.Engine, file_id: int, *, outbox: Path) -> str:
    """Publish a validated file to core and its marts in one transaction, then write the receipt."""
    with engine.connect() as conn:
        ledger = ledger_row(conn, file_id)
    if ledger["stage"] in FINAL_STAGES:
        write_receipt(engine, file_id, outbox)  # a re-run rewrites the same receipt, nothing else
        return str(ledger["stage"])
    if ledger["stage"] != "validated":
        raise RuntimeError(f"file {file_id} is at stage {ledger['stage']!r}; validate it before publishing")
    feed = _feed_of(ledger)
    table = staging.staging_table(feed, file_id)
    names = [name for name, _ in rows.staging_columns(feed)]
    column_list = ", ".join(f'"{n}"' for n in names)
    paths = receipts.receipt_paths(outbox, ledger["agency"], ledger["file_name"], ledger["sha256"])
    status = "loaded_with_rejections" if ledger["rows_rejected"] else "loaded"
    with closing_file(engine, file_id, outbox) as conn:
        duplicate = _mark_if_duplicate(conn, feed, ledger) is not None
        if not duplicate:
            _publish_rows(conn, feed, file_id, table, column_list, status, paths.json_path)
    return "duplicate" if duplicate else "published"


def _publish_rows(
    conn: sa.Connection, feed: Feed, file_id: int, table: str, column_list: str, status: str, receipt: Path
) -> None:
    """Inside the publish transaction: rows to core, ledger closed, marts refreshed, staging dropped.

    A whole-file feed's staging table becomes the file's partition of ``core.<feed>_rows``;
    an incremental feed's rows are inserted (its table holds every file's rows together).
    """
    if feed.whole_file:
        staging.attach_as_partition(conn, feed, file_id)
    else:
        conn.execute(sa.text(f'DELETE FROM core."{feed.feed}_rows" WHERE file_id = :id'), {"id": file_id})
        conn.execute(
            sa.text(
                f'INSERT INTO core."{feed.feed}_rows" (file_id, {column_list}) '
                f'SELECT :id, {column_list} FROM staging."{table}"'
            ),
            {"id": file_id},
        )
    conn.execute(
        sa.text(
            "UPDATE audit.file_ledger SET status = :status, stage = 'published', published_at = :now,"
            " receipt_path = :receipt WHERE file_id = :id"
        ),
        {"status": status, "now": datetime.now(UTC), "receipt": str(receipt), "id": file_id},
    )
    for mart in feed.publishes:
        refresh_mart(conn, mart, file_id)
    staging.drop(conn, feed, file_id)


def _mark_if_duplicate(conn: sa.Connection, feed: Feed, ledger: dict[str, Any]) -> int | None:
    """When the same bytes of this feed are loaded, or on their way, close this file as a duplicate.

    The earliest registered drop of some bytes is the one that loads: a later drop of the same
    bytes is a duplicate of a loaded file, or of an earlier one still in flight (so which copy
    loads never depends on task order). Serialised per (agency, feed, sha256) by a
    transaction-scoped advisory lock. Returns the id of the file this one duplicates, or None.
    """
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"{ledger['agency']}/{ledger['feed']}/{ledger['sha256']}"},
    )
    loaded = conn.execute(
        sa.text(
            "SELECT file_id FROM audit.file_ledger WHERE agency = :a AND feed = :f AND sha256 = :s"
            " AND file_id <> :id AND (status IN ('loaded', 'loaded_with_rejections')"
            "      OR (file_id < :id AND stage NOT IN ('quarantined', 'duplicate')))"
            " ORDER BY file_id LIMIT 1"
        ),
        {"a": ledger["agency"], "f": ledger["feed"], "s": ledger["sha256"], "id": ledger["file_id"]},
    ).scalar()
    if loaded is None:
        return None
    staging.drop(conn, feed, ledger["file_id"])
    for table in ("rejected_rows", "row_warnings"):
        conn.execute(sa.text(f"DELETE FROM audit.{table} WHERE file_id = :id"), {"id": ledger["file_id"]})
    conn.execute(
        sa.text(
            "UPDATE audit.file_ledger SET status = 'duplicate', stage = 'duplicate', duplicate_of = :d,"
            " rows_read = 0, rows_loaded = 0, rows_rejected = 0, rows_warned = 0 WHERE file_id = :id"
        ),
        {"d": loaded, "id": ledger["file_id"]},
    )
    return int(loaded)


def refresh_mart(conn: sa.Connection, mart: str, file_id: int) -> None:
    """Run ``sql/<mart>.sql`` (``mart.population`` → ``mart_population.sql``) for one file."""
    run_script(conn, mart.replace(".", "_") + ".sql", {"file_id": file_id})


# --- receipts -------------------------------------------------------------------------------------


def write_receipt(engine: sa.Engine, file_id: int, outbox: Path) -> Path:
    """Write (or rewrite) the receipt of a file from the ledger; returns the JSON path."""
    with engine.begin() as conn:
        prepared, path = _prepare_receipt(conn, file_id, outbox)
    prepared.put_in_place()
    return path


def _prepare_receipt(
    conn: sa.Connection, file_id: int, outbox: Path
) -> tuple[receipts.PreparedReceipt, Path]:
    """Inside a transaction: the file's receipt from the ledger as this transaction sees it,
    written to temporary files, and its path recorded in the ledger."""
    ledger = ledger_row(conn, file_id)
    issues = {
        table: [
            dict(r)
            for r in conn.execute(
                sa.text(
                    f"SELECT line_no, column_name, reason_code, masked_value FROM audit.{table}"
                    " WHERE file_id = :id ORDER BY line_no, column_name"
                ),
                {"id": file_id},
            ).mappings()
        ]
        for table in ("rejected_rows", "row_warnings")
    }
    paths = receipts.receipt_paths(outbox, ledger["agency"], ledger["file_name"], ledger["sha256"])
    conn.execute(
        sa.text("UPDATE audit.file_ledger SET receipt_path = :p WHERE file_id = :id"),
        {"p": str(paths.json_path), "id": file_id},
    )
    receipt = receipts.build_receipt(ledger, issues["rejected_rows"], issues["row_warnings"])
    return receipts.prepare_receipt(paths, receipt), paths.json_path


@contextlib.contextmanager
def closing_file(engine: sa.Engine, file_id: int, outbox: Path) -> Iterator[sa.Connection]:
    """A transaction that may give a file its final status; if it does, the receipt comes with it.

    When the block leaves the file at a final stage, its receipt is written (as temporary files,
    flushed) before the commit: when the outbox cannot take it the transaction rolls back, so a
    file is never marked done without a receipt, and the task fails for a retry. After the commit
    the receipt is renamed into place; should the process die between the two, the retry's
    ``publish`` rewrites it.
    """
    prepared: receipts.PreparedReceipt | None = None
    try:
        with engine.begin() as conn:
            yield conn
            stage_now = conn.execute(
                sa.text("SELECT stage FROM audit.file_ledger WHERE file_id = :id"), {"id": file_id}
            ).scalar_one()
            if stage_now in FINAL_STAGES:
                prepared, _ = _prepare_receipt(conn, file_id, outbox)
    except BaseException:
        if prepared is not None:
            prepared.discard()
        raise
    if prepared is not None:
        prepared.put_in_place()


def load(
    engine: sa.Engine, settings: Settings, file_id: int, *, landing: Path, outbox: Path
) -> list[tuple[str, str, float]]:
    """Stage, validate and publish one registered file; returns ``(step, stage reached, seconds)``
    for each step, in order.

    A step whose work is done already (the ledger is past it) returns at once, so a retry after a
    failure resumes where the file stopped; a quarantined or duplicate file goes no further and
    ``publish`` only rewrites its receipt (and a quarantined file still in the landing folder is
    moved aside: :func:`move_aside`).
    """
    steps: list[tuple[str, str, float]] = []
    for name, step in (
        ("stage", lambda: stage(engine, settings, file_id, landing=landing, outbox=outbox)),
        ("validate", lambda: validate(engine, settings, file_id, outbox=outbox, landing=landing)),
        ("publish", lambda: publish(engine, file_id, outbox=outbox)),
    ):
        started = time.perf_counter()
        reached = step()
        steps.append((name, reached, time.perf_counter() - started))
    if steps[-1][1] == "quarantined":
        move_aside(engine, file_id, landing, settings)
    return steps


def process(
    engine: sa.Engine,
    settings: Settings,
    feed: Feed,
    *,
    landing: Path,
    outbox: Path,
    quiet_seconds: float,
    now: float,
) -> dict[int, str]:
    """All steps for every pending drop of one feed, in this process (what one DAG run does).

    For tests and benchmarks that exercise the pipeline without a scheduler;
    returns the stage each file reached.
    """
    reached: dict[int, str] = {}
    for file_id in register(engine, feed, landing, quiet_seconds=quiet_seconds, now=now).file_ids:
        reached[file_id] = load(engine, settings, file_id, landing=landing, outbox=outbox)[-1][1]
    return reached
