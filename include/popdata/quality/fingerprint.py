"""A fingerprint of the warehouse's content (数据指纹): one checksum per table, equal for two runs of the same drops.

``popdata fingerprint`` prints it; the reliability tests compare the warehouse after a fault
(a killed task, a dropped connection, a retry) with a clean run of the same drops by it
(docs/reliability.md). A checksum is the MD5 of the table's rows as text, sorted, so it does
not depend on physical order; what legitimately differs between two runs of the same drops is
left out or made comparable:

- **when**: columns of a date-time type (``received_at``, ``published_at``, ``linked_at``,
  ``validated_at``, …) are left out; dates of the data (``birth_date``, ``reference_date``) stay;
- **surrogate numbers** drawn from a sequence other than the file ledger's (``dq_result_id``,
  ``review_id``, ``link_run_id``) are left out: a rolled-back transaction consumes sequence
  values, so a retry draws other numbers for the same rows;
- **person keys** (``person_key``, ``*_person_key``, the merge table's ``old_key``/``new_key``)
  are drawn from ``core.person_key_seq`` for the same reason; each is replaced by a label of the
  person it names: the smallest mention (``feed|source_key|role``) linked to it, for a key
  merged away the label of the key it was merged into, for a key with no link its smallest
  identity number. Two runs that link the same mentions into the same persons have the same
  labels, whatever numbers the keys drew;
- **digests of those**: ``birth_key`` (an MD5 of the child's person key number when the
  child has one) and ``audit.link_runs.published_digest`` (an MD5 of the publication times of
  the files a linkage read) are left out; the rows are compared by their other columns;
- **file numbers** (``file_id``, ``*_file_id``, ``duplicate_of``) depend on the order in which
  the feeds' scans registered their drops, which Airflow does not fix; each is replaced by the
  file's path in the landing folder (its bytes are compared by the ledger's ``sha256``, so rows
  from a file sent again under the same name compare equal to the same rows sent once);
- **where**: path columns (``receipt_path``, ``quarantine_path``) keep only the file name, as
  two runs write to different outboxes (a quarantined copy's name loses its ``<file_id>__``).

Partitions are read through their parent table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

#: The schemas fingerprinted: the data, its marts, the work lists and the ledger.
SCHEMAS = ("audit", "core", "mart", "ops")
#: Columns holding a path: only the file name is compared.
PATH_COLUMNS = frozenset({"receipt_path", "quarantine_path"})
#: Digests of a person key's number or of publication times: left out.
DIGEST_COLUMNS = frozenset({"birth_key", "published_digest"})
_TIME_TYPES = frozenset(
    {"timestamp with time zone", "timestamp without time zone", "time with time zone", "interval"}
)
_LABELS = "pg_temp.popdata_person_labels"
_FILES = "pg_temp.popdata_file_labels"


@dataclass(frozen=True, slots=True)
class TableSum:
    """One table's row count and checksum, and the columns the checksum leaves out."""

    table: str
    rows: int
    md5: str
    left_out: tuple[str, ...]


def _is_person_key(table: str, column: str) -> bool:
    return (
        column == "person_key"
        or column.endswith("_person_key")
        or (table == "core.person_key_merges" and column in ("old_key", "new_key"))
    )


def _is_file_reference(column: str) -> bool:
    return column == "file_id" or column.endswith("_file_id") or column == "duplicate_of"


def _columns(conn: sa.Connection, schemas: Iterable[str]) -> dict[str, list[tuple[str, str, str | None]]]:
    """Every table's columns as (name, data type, default), in order; partitions left out."""
    found = conn.execute(
        sa.text(
            """
            SELECT c.table_schema || '.' || c.table_name, c.column_name, c.data_type,
                   coalesce(c.column_default, CASE WHEN c.is_identity = 'YES' THEN 'identity' END)
            FROM information_schema.columns c
            JOIN pg_class k ON k.oid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass
            WHERE c.table_schema IN :schemas AND k.relkind IN ('r', 'p') AND NOT k.relispartition
            ORDER BY 1, c.ordinal_position
            """
        ).bindparams(sa.bindparam("schemas", expanding=True)),
        {"schemas": list(schemas)},
    ).all()
    tables: dict[str, list[tuple[str, str, str | None]]] = {}
    for table, column, data_type, default in found:
        tables.setdefault(table, []).append((column, data_type, default))
    return tables


def _label_keys(conn: sa.Connection) -> None:
    """Temporary tables of a comparable label for every person key and every file (see the module
    docstring)."""
    conn.execute(
        sa.text(
            """
            CREATE TEMPORARY TABLE popdata_person_labels ON COMMIT DROP AS
            WITH linked AS (
                SELECT person_key, min(feed || '|' || source_key || '|' || role) AS label
                FROM core.record_link GROUP BY person_key
            ), by_id AS (
                SELECT person_key, 'id:' || min(id_no) AS label FROM core.person_id_numbers GROUP BY person_key
            ), own AS (
                SELECT p.person_key, coalesce(l.label, i.label) AS label
                FROM core.person p LEFT JOIN linked l USING (person_key) LEFT JOIN by_id i USING (person_key)
            )
            SELECT o.person_key,
                   coalesce(o.label, 'merged into ' || f.label, 'unlinked') AS label
            FROM own o
            LEFT JOIN core.person_key_merges m ON m.old_key = o.person_key
            LEFT JOIN own f ON f.person_key = m.new_key
            """
        )
    )
    conn.execute(sa.text(f"CREATE INDEX ON {_LABELS} (person_key)"))
    conn.execute(
        sa.text(
            "CREATE TEMPORARY TABLE popdata_file_labels ON COMMIT DROP AS"
            " SELECT file_id, rel_path AS label FROM audit.file_ledger"
        )
    )
    conn.execute(sa.text(f"CREATE INDEX ON {_FILES} (file_id)"))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_sum(conn: sa.Connection, table: str, columns: list[tuple[str, str, str | None]]) -> TableSum:
    """The checksum of one table (``table`` and its columns come from the catalogue)."""
    exprs: list[str] = []
    left_out: list[str] = []
    for column, data_type, default in columns:
        ident = _quote(column)
        if _is_person_key(table, column):
            exprs.append(f"(SELECT label FROM {_LABELS} WHERE person_key = t.{ident})")
        elif _is_file_reference(column):
            exprs.append(f"(SELECT label FROM {_FILES} WHERE file_id = t.{ident})")
        elif (
            data_type in _TIME_TYPES
            or column in DIGEST_COLUMNS
            or (default is not None and ("nextval(" in default or default == "identity"))
        ):
            left_out.append(column)
        elif column in PATH_COLUMNS:  # the file name, without a quarantined copy's "<file_id>__"
            exprs.append(f"regexp_replace(t.{ident}, '^.*/([0-9]+__)?', '')")
        else:
            exprs.append(f"t.{ident}")
    schema, name = table.split(".", 1)
    row = conn.execute(
        sa.text(
            f"SELECT count(*), coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), md5('')) FROM ("
            f"SELECT ROW({', '.join(exprs)})::text AS r FROM {_quote(schema)}.{_quote(name)} t) s"
        )
    ).one()
    return TableSum(table, int(row[0]), str(row[1]), tuple(left_out))


def fingerprint(engine: sa.Engine, schemas: Iterable[str] = SCHEMAS) -> dict[str, TableSum]:
    """Every table's checksum, read in one repeatable-read snapshot; keyed by ``schema.table``.

    Writes nothing but a temporary table, dropped at the end of the snapshot's transaction.
    """
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            _label_keys(conn)
            tables = _columns(conn, schemas)
            return {table: _table_sum(conn, table, columns) for table, columns in tables.items()}


def differences(left: Mapping[str, TableSum], right: Mapping[str, TableSum]) -> dict[str, str]:
    """The tables whose content differs between two fingerprints, each with how (rows, checksum)."""
    found: dict[str, str] = {}
    for table in sorted(set(left) | set(right)):
        a, b = left.get(table), right.get(table)
        if a is None or b is None:
            found[table] = "only in " + ("the second" if a is None else "the first")
        elif (a.rows, a.md5) != (b.rows, b.md5):
            found[table] = f"{a.rows} rows {a.md5[:8]} ≠ {b.rows} rows {b.md5[:8]}"
    return found
