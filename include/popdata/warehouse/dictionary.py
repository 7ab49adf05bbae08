"""The data dictionary (``docs/data-dictionary.md``), generated from the warehouse's own comments.

Every published table and column carries a Chinese and English ``COMMENT`` (set by the
migrations). :func:`render_dictionary` reads them from ``pg_catalog`` and renders Markdown: one
section per published schema (``mart``, ``ops``, ``audit``, then ``core.record_link``, the one
published relation of ``core``; the rest of ``core``, ``pii`` and ``staging`` are internal), one
table per relation with its columns in order (type, nullability, comment), and a fixed section
"Common questions" with the reviewed example SQL of :data:`EXAMPLES_PATH`.

The output is deterministic (fixed schema order, relations sorted by name, columns by position,
no timestamps), so the committed file can be compared with a freshly migrated warehouse:
``popdata db dictionary`` regenerates it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from popdata.warehouse import migrate

EXAMPLES_PATH = Path(__file__).resolve().parent / "sql" / "dictionary_examples.sql"

#: Published schemas, in the order the dictionary presents them (analysts' first).
PUBLISHED_SCHEMAS: tuple[str, ...] = ("mart", "ops", "audit")
#: Relations of otherwise internal schemas that are published (WAREHOUSE.md interfaces).
PUBLISHED_EXTRAS: tuple[tuple[str, str], ...] = (("core", "record_link"),)

_SCHEMA_ORDER: tuple[str, ...] = (*PUBLISHED_SCHEMAS, *dict.fromkeys(s for s, _ in PUBLISHED_EXTRAS))

_KINDS = {
    "r": "table",
    "p": "partitioned table",
    "v": "view",
    "m": "materialized view",
    "f": "foreign table",
}

_QUESTION = re.compile(r"^--\s*question:\s*(?P<text>.+?)\s*$")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class Column:
    """One column of a published relation, as the catalog describes it."""

    name: str
    type: str
    not_null: bool
    comment: str | None


@dataclass(frozen=True)
class Relation:
    """A published table or view with its comment and columns (in column order)."""

    schema: str
    name: str
    kind: str
    comment: str | None
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    @property
    def qualified(self) -> str:
        """``schema.name``."""
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Example:
    """A common question and the SQL that answers it."""

    question: str
    sql: str


_RELATIONS_SQL = """
SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
  AND (n.nspname = ANY(:schemas) OR (n.nspname || '.' || c.relname) = ANY(:extras))
"""

_COLUMNS_SQL = """
SELECT a.attrelid AS oid, a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null, col_description(a.attrelid, a.attnum) AS comment
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = ANY(:oids) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_PRIMARY_KEYS_SQL = """
SELECT con.conrelid AS oid, a.attname AS name
FROM pg_catalog.pg_constraint con
CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, position)
JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
WHERE con.contype = 'p' AND con.conrelid = ANY(:oids)
ORDER BY con.conrelid, k.position
"""

_SCHEMA_COMMENTS_SQL = """
SELECT n.nspname AS schema, obj_description(n.oid, 'pg_namespace') AS comment
FROM pg_catalog.pg_namespace n
WHERE n.nspname = ANY(:schemas)
"""


def read_catalog(conn: sa.Connection) -> list[Relation]:
    """The published relations with their comments and columns, in dictionary order."""
    params = {
        "schemas": list(PUBLISHED_SCHEMAS),
        "extras": [f"{schema}.{name}" for schema, name in PUBLISHED_EXTRAS],
    }
    relations = conn.execute(sa.text(_RELATIONS_SQL), params).all()
    oids = [r.oid for r in relations]
    columns: dict[int, list[Column]] = {oid: [] for oid in oids}
    for c in conn.execute(sa.text(_COLUMNS_SQL), {"oids": oids}):
        columns[c.oid].append(Column(name=c.name, type=c.type, not_null=c.not_null, comment=c.comment))
    keys: dict[int, list[str]] = {oid: [] for oid in oids}
    for k in conn.execute(sa.text(_PRIMARY_KEYS_SQL), {"oids": oids}):
        keys[k.oid].append(k.name)
    result = [
        Relation(
            schema=r.schema,
            name=r.name,
            kind=_KINDS[r.kind],
            comment=r.comment,
            columns=tuple(columns[r.oid]),
            primary_key=tuple(keys[r.oid]),
        )
        for r in relations
    ]
    return sorted(result, key=lambda rel: (_SCHEMA_ORDER.index(rel.schema), rel.name))


def load_examples(path: Path = EXAMPLES_PATH) -> list[Example]:
    """The example queries of ``path``: each starts at a ``-- question: 中文 / English`` line.

    Lines before the first question (the file's header) are ignored; the SQL of an example is
    everything up to the next question, stripped, comments included.
    """
    examples: list[Example] = []
    question: str | None = None
    body: list[str] = []

    def flush() -> None:
        if question is not None:
            sql = "\n".join(body).strip()
            if not sql:
                raise ValueError(f"{path.name}: the question {question!r} has no SQL")
            examples.append(Example(question=question, sql=sql))

    for line in path.read_text(encoding="utf-8").splitlines():
        match = _QUESTION.match(line)
        if match:
            flush()
            question, body = match.group("text"), []
        elif question is not None:
            body.append(line.rstrip())
    flush()
    return examples


def is_bilingual(text: str | None) -> bool:
    """Whether ``text`` holds both Chinese characters and ASCII letters (a bilingual comment)."""
    return bool(text and _CJK.search(text) and _LATIN.search(text))


def _cell(text: str | None) -> str:
    """``text`` as one Markdown table cell: one line, pipes escaped."""
    if not text:
        return ""
    return " ".join(text.split()).replace("|", "\\|")


def _anchor(relation: Relation) -> str:
    """The anchor GitHub gives the relation's heading ``### schema.name``."""
    return re.sub(r"[^a-z0-9_-]", "", relation.qualified.lower())


def _render_relation(relation: Relation) -> list[str]:
    lines = [f"### {relation.qualified}", ""]
    lines.append(_cell(relation.comment) or "*(no comment)*")
    lines.append("")
    detail = f"{relation.kind.capitalize()}, {len(relation.columns)} columns"
    if relation.primary_key:
        detail += "; primary key (" + ", ".join(f"`{name}`" for name in relation.primary_key) + ")"
    lines += [detail + ".", ""]
    lines += ["| # | column | type | nullable | comment |", "|---:|---|---|---|---|"]
    for position, column in enumerate(relation.columns, start=1):
        lines.append(
            f"| {position} | `{column.name}` | {column.type} | {'no' if column.not_null else 'yes'} "
            f"| {_cell(column.comment) or '*(no comment)*'} |"
        )
    lines.append("")
    return lines


def render(
    relations: list[Relation],
    schema_comments: dict[str, str | None],
    examples: list[Example],
    revision: str | None,
) -> str:
    """The Markdown of the dictionary (see :func:`render_dictionary`)."""
    lines = [
        "# 数据字典 / Data dictionary",
        "",
        "<!-- Generated by `popdata db dictionary`: do not edit by hand. -->",
        "",
        "Generated by `popdata db dictionary` from the `COMMENT`s of the warehouse tables and columns"
        f" (migration revision `{revision}`). Do not edit it: change the comment in a migration and"
        " regenerate. The rules behind the figures are in [warehouse.md](warehouse.md).",
        "",
        "Published: the schemas `mart` (de-identified marts), `ops` (work lists for the agencies),"
        " `audit` (ledger and quality), and `core.record_link` (the person index). The rest of `core`,"
        " `pii` and `staging` are internal.",
        "",
        "## Contents",
        "",
        "| relation | kind | description |",
        "|---|---|---|",
    ]
    for relation in relations:
        lines.append(
            f"| [{relation.qualified}](#{_anchor(relation)}) | {relation.kind} | {_cell(relation.comment)} |"
        )
    lines += ["", "[Common questions](#common-questions): example SQL.", ""]
    for schema in _SCHEMA_ORDER:
        in_schema = [r for r in relations if r.schema == schema]
        if not in_schema:
            continue
        lines += [f"## {schema}", ""]
        if schema_comments.get(schema):
            lines += [_cell(schema_comments[schema]), ""]
        if schema not in PUBLISHED_SCHEMAS:
            names = ", ".join(f"`{r.qualified}`" for r in in_schema)
            lines += [f"Internal schema; published here: {names} only.", ""]
        for relation in in_schema:
            lines += _render_relation(relation)
    lines += [
        "## Common questions",
        "",
        "Example SQL for the questions asked most often (reviewed in"
        " `include/popdata/warehouse/sql/dictionary_examples.sql`; a test runs every one).",
        "",
    ]
    for example in examples:
        lines += [f"### {example.question}", "", "```sql", example.sql, "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_dictionary(engine: sa.Engine) -> str:
    """The data dictionary of the warehouse at ``engine`` as Markdown (deterministic; no timestamps)."""
    with engine.connect() as conn:
        relations = read_catalog(conn)
        schema_comments: dict[str, str | None] = {
            row.schema: row.comment
            for row in conn.execute(sa.text(_SCHEMA_COMMENTS_SQL), {"schemas": list(_SCHEMA_ORDER)})
        }
    return render(relations, schema_comments, load_examples(), migrate.current_revision(engine))


def write_dictionary(engine: sa.Engine, out: Path) -> Path:
    """Render the dictionary of ``engine`` into ``out`` (UTF-8, ``\\n`` line ends); returns ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_dictionary(engine), encoding="utf-8", newline="\n")
    return out
