"""The warehouse's promises, checked after a run (不变量检查): ``popdata check`` and the reconciliation DAG.

Each invariant is one set-based query per feed or work list (identifiers from the validated feed
config and the constants below, values bound) and reports how many things it checked, how many
broke the promise, and up to :data:`EXAMPLES` of them:

- ``row_accounting``: every file with a final status accounts for every row it read:
  ``rows_read = rows_loaded + rows_rejected``, the rows loaded are the file's rows in
  ``core.<feed>_rows`` (none for a quarantined or duplicate file), the rows rejected are the
  distinct lines of ``audit.rejected_rows``, and a receipt was written (and is in the outbox,
  where the outbox is reachable from where the check runs);
- ``files_final``: no file stays in flight (registered, no final status) longer than
  :data:`IN_FLIGHT_GRACE` — a task that died without a retry;
- ``mentions_linked``: when the last linkage read every published file
  (:func:`popdata.linkage.runs.linked_everything`), every person role of every current record
  has its link in ``core.record_link``; otherwise the check is *pending*, not broken;
- ``person_keys_kept``: no person key is lost: every key a link, an identity number, a merge or a
  work list names is in ``core.person``, and no link or identity number still names a key that
  was merged away (merges are recorded in ``core.person_key_merges`` and repointed);
- ``work_lists_traced``: every row of every ``ops`` work list names a current source record
  (:data:`WORK_LIST_SOURCES`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from popdata.config.feeds import Feed, default_feeds
from popdata.linkage import runs
from popdata.linkage.mentions import mentions_sql
from popdata.linkage.roles import person_feeds, quote_ident

#: How many offending items a result lists.
EXAMPLES = 5
#: How long a missing receipt is waited for (it is renamed into place just after the commit).
RECEIPT_RECHECK_SECONDS = 1.0
#: How long a file may stay registered without a final status before ``files_final`` fails.
IN_FLIGHT_GRACE = "6 hours"


@dataclass(frozen=True, slots=True)
class WorkListSource:
    """Where the rows of one ``ops`` work list come from: its key columns and the current records'."""

    work_list: str
    feed: str
    list_columns: tuple[str, ...]
    record_columns: tuple[str, ...]


#: Each work list's rows and the current view they must trace to (``core.<feed>``).
WORK_LIST_SOURCES: tuple[WorkListSource, ...] = (
    WorkListSource("unregistered_births", "birth_certificates", ("cert_no",), ("cert_no",)),
    WorkListSource("registrations_without_certificate", "birth_registrations", ("reg_no",), ("reg_no",)),
    WorkListSource("deaths_not_cancelled", "death_records", ("death_cert_no",), ("death_cert_no",)),
    WorkListSource(
        "paid_after_death", "assistance_rolls", ("id_no", "program", "year"), ("id_no", "program", "year")
    ),
)
#: Work lists about person roles: each row names a link of ``core.record_link``.
LINK_WORK_LISTS = ("clerical_review", "id_corrections")
#: Every column that holds a person key, as (table, column).
PERSON_KEY_COLUMNS = (
    ("core.record_link", "person_key"),
    ("core.person_id_numbers", "person_key"),
    ("core.person_key_merges", "new_key"),
    ("core.person_key_merges", "old_key"),
    ("ops.clerical_review", "person_key"),
    ("ops.clerical_review", "candidate_person_key"),
    ("ops.id_corrections", "person_key"),
    ("ops.deaths_not_cancelled", "person_key"),
    ("ops.paid_after_death", "person_key"),
)


@dataclass(slots=True)
class InvariantResult:
    """One invariant's verdict."""

    name: str
    checked: int = 0
    violations: int = 0
    pending: bool = False
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing broke the promise (a pending check is not broken)."""
        return self.violations == 0

    def add(self, checked: int, broken: Sequence[Any]) -> None:
        """Count ``checked`` items and the ``broken`` ones (their first few as examples)."""
        self.checked += checked
        self.violations += len(broken)
        room = EXAMPLES - len(self.examples)
        self.examples.extend(str(item) for item in broken[: max(room, 0)])

    def line(self) -> str:
        """One line for the CLI and the task log."""
        verdict = "pending" if self.pending else ("ok" if self.ok else "BROKEN")
        text = f"{self.name:<18} {verdict:<8} {self.checked:>10,} checked {self.violations:>8,} broken"
        return text + (f"  e.g. {'; '.join(self.examples)}" if self.examples else "")


def check(engine: sa.Engine, feeds: Sequence[Feed] | None = None) -> list[InvariantResult]:
    """Every invariant of the module docstring, read in one repeatable-read snapshot."""
    feeds = tuple(feeds) if feeds is not None else default_feeds()
    with engine.connect().execution_options(
        isolation_level="REPEATABLE READ", postgresql_readonly=True
    ) as conn:
        return [
            row_accounting(conn, feeds),
            files_final(conn),
            mentions_linked(conn, feeds),
            person_keys_kept(conn),
            work_lists_traced(conn),
        ]


def row_accounting(conn: sa.Connection, feeds: Sequence[Feed]) -> InvariantResult:
    """Every finished file accounts for every row it read (see the module docstring)."""
    result = InvariantResult("row_accounting")
    for feed in feeds:
        rows = conn.execute(
            sa.text(
                "SELECT l.file_id, l.file_name, l.status, l.rows_read, l.rows_loaded, l.rows_rejected,"
                " l.receipt_path, coalesce(c.n, 0), coalesce(j.n, 0)"
                " FROM audit.file_ledger l"
                f" LEFT JOIN (SELECT file_id, count(*) AS n FROM core.{quote_ident(feed.feed + '_rows')}"
                " GROUP BY file_id) c ON c.file_id = l.file_id"
                " LEFT JOIN (SELECT file_id, count(DISTINCT line_no) AS n FROM audit.rejected_rows"
                " WHERE file_id IN (SELECT file_id FROM audit.file_ledger WHERE feed = :feed)"
                " GROUP BY file_id) j ON j.file_id = l.file_id"
                " WHERE l.feed = :feed AND l.status IS NOT NULL ORDER BY l.file_id"
            ),
            {"feed": feed.feed},
        ).all()
        broken = []
        for file_id, name, status, read, loaded, rejected, receipt, in_core, rejected_lines in rows:
            read, loaded, rejected = read or 0, loaded or 0, rejected or 0
            published = status in ("loaded", "loaded_with_rejections")
            problems = [
                *(["read ≠ loaded + rejected"] if read != loaded + rejected else []),
                *([f"{in_core} rows in core, {loaded if published else 0} expected"]
                  if in_core != (loaded if published else 0) else []),
                *([f"{rejected_lines} rejected lines listed, {rejected} counted"]
                  if published and rejected_lines != rejected else []),
                *(["no receipt"] if receipt is None else []),
                *(["receipt not on disk"] if receipt is not None and _receipt_missing(Path(receipt)) else []),
            ]  # fmt: skip
            if problems:
                broken.append(f"file {file_id} {name}: {', '.join(problems)}")
        result.add(len(rows), broken)
    return result


def _receipt_missing(path: Path) -> bool:
    """True when the receipt's agency folder is reachable from here and the receipt is not in it.

    A file's receipt is renamed into place just after the commit that closed the file: a missing
    one is looked for again a moment later before it counts. Where the outbox is not mounted
    (``popdata check`` on another machine) nothing is claimed.
    """
    if not path.parent.parent.is_dir():
        return False
    if path.is_file():
        return False
    time.sleep(RECEIPT_RECHECK_SECONDS)
    return not path.is_file()


def files_final(conn: sa.Connection) -> InvariantResult:
    """No file stays in flight longer than :data:`IN_FLIGHT_GRACE`."""
    result = InvariantResult("files_final")
    total = conn.execute(sa.text("SELECT count(*) FROM audit.file_ledger")).scalar_one()
    stuck = conn.execute(
        sa.text(
            "SELECT file_id, file_name, stage FROM audit.file_ledger WHERE status IS NULL"
            " AND received_at < now() - CAST(:grace AS interval) ORDER BY file_id"
        ),
        {"grace": IN_FLIGHT_GRACE},
    ).all()
    result.add(int(total), [f"file {i} {n}: still {s}" for i, n, s in stuck])
    return result


def mentions_linked(conn: sa.Connection, feeds: Sequence[Feed]) -> InvariantResult:
    """Every person role of every current record is linked, once the linkage has caught up."""
    result = InvariantResult("mentions_linked")
    if not runs.linked_everything(conn, feeds):
        result.pending = True
        return result
    for feed in person_feeds(feeds):
        statement, params = mentions_sql(feed)
        row = conn.execute(
            sa.text(
                f"SELECT count(*), array_agg(m.mention_id ORDER BY m.mention_id) FILTER (WHERE l.person_key IS NULL)"
                f" FROM ({statement.text}) m LEFT JOIN core.record_link l"
                " ON l.feed = m.feed AND l.source_key = m.source_key AND l.role = m.role"
            ),
            params,
        ).one()
        result.add(int(row[0]), list(row[1] or []))
    return result


def person_keys_kept(conn: sa.Connection) -> InvariantResult:
    """No person key is lost; merged-away keys are named only by their merge."""
    result = InvariantResult("person_keys_kept")
    for table, column in PERSON_KEY_COLUMNS:
        row = conn.execute(
            sa.text(
                f"SELECT count(t.{column}), array_agg(DISTINCT t.{column}) FILTER (WHERE p.person_key IS NULL)"
                f" FROM {table} t LEFT JOIN core.person p ON p.person_key = t.{column}"
                f" WHERE t.{column} IS NOT NULL"
            )
        ).one()
        result.add(int(row[0]), [f"{table}.{column} = {key}" for key in (row[1] or [])])
    for table in ("core.record_link", "core.person_id_numbers"):
        row = conn.execute(
            sa.text(
                f"SELECT count(*), array_agg(DISTINCT t.person_key) FILTER (WHERE m.old_key IS NOT NULL)"
                f" FROM {table} t LEFT JOIN core.person_key_merges m ON m.old_key = t.person_key"
            )
        ).one()
        result.add(0, [f"{table} still names merged-away key {key}" for key in (row[1] or [])])
    return result


def work_lists_traced(conn: sa.Connection) -> InvariantResult:
    """Every work-list row names a current source record."""
    result = InvariantResult("work_lists_traced")
    for source in WORK_LIST_SOURCES:
        match = " AND ".join(
            f"CAST(c.{quote_ident(rc)} AS text) = CAST(w.{quote_ident(lc)} AS text)"
            for lc, rc in zip(source.list_columns, source.record_columns, strict=True)
        )
        shown = " || '/' || ".join(
            f"coalesce(CAST(w.{quote_ident(c)} AS text), '')" for c in source.list_columns
        )
        row = conn.execute(
            sa.text(
                f"SELECT count(*), array_agg({shown}) FILTER (WHERE NOT EXISTS"
                f" (SELECT 1 FROM core.{quote_ident(source.feed)} c WHERE {match}))"
                f" FROM ops.{quote_ident(source.work_list)} w"
            )
        ).one()
        result.add(int(row[0]), [f"ops.{source.work_list} {key}" for key in (row[1] or [])])
    for work_list in LINK_WORK_LISTS:
        row = conn.execute(
            sa.text(
                "SELECT count(*), array_agg(w.feed || '|' || w.source_key || '|' || w.role) FILTER (WHERE NOT EXISTS"
                " (SELECT 1 FROM core.record_link l WHERE l.feed = w.feed AND l.source_key = w.source_key"
                f" AND l.role = w.role)) FROM ops.{quote_ident(work_list)} w"
            )
        ).one()
        result.add(int(row[0]), [f"ops.{work_list} {key}" for key in (row[1] or [])])
    return result
