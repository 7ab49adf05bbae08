"""Rows: map a file's headers to a feed's columns and normalise every value.

This applies the row and file policy of AGENCY_EXTRACTS.md §2:

- a **row is rejected** only when a required field is blank (placeholders such
  as ``不详`` count as blank), cannot be parsed, or holds damaged text; a column
  with ``required_when`` is required on the rows its condition selects (a
  village birth report needs a birth date, a death report a death date);
- an **invalid value in an optional field** loads as null, with a warning;
- an **identity number that fails the check** loads as sent, marked invalid,
  with a warning;
- a region given as a name that the ``stats/regions`` reference cannot resolve
  loads as null with a warning (the text sent is kept in ``<col>_sent``);
- a **missing required column** quarantines the file.

Pure: no I/O. The region resolver comes from the caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from popdata.config.feeds import Column, Feed, normalise_header
from popdata.ingest.read import MISSING_COLUMNS, FileRejected, RawTable
from popdata.normalize import codes, dates, ids, text
from popdata.normalize.codes import RegionResolver

REQUIRED_BLANK = "required_blank"
TOO_MANY_FIELDS = "row_too_many_fields"

# File irregularities found while normalising.
TRADITIONAL_SCRIPT = "traditional_script"
DAMAGED_TEXT = "damaged_text"
EXTRA_COLUMNS = "extra_columns"
DUPLICATE_HEADER = "duplicate_header"

# Values of these types are personal: masked in audit tables and receipts.
_PERSONAL_TYPES = {"id_number", "name", "text"}


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem with one value: where it is, what it is, and the value masked."""

    line_no: int
    column: str | None
    reason: str
    masked_value: str | None


@dataclass(slots=True)
class NormalizedFile:
    """A file's accepted rows as staging columns, plus what was rejected or warned about."""

    columns: dict[str, list[Any]]
    rows_read: int
    rejected: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    irregularities: set[str] = field(default_factory=set)
    extra_headers: list[str] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        """Rows that go to staging."""
        return len(self.columns["line_no"])

    @property
    def rows_rejected(self) -> int:
        """Distinct rejected rows (a row may have several issues)."""
        return len({i.line_no for i in self.rejected})


def staging_columns(feed: Feed) -> list[tuple[str, str]]:
    """The staging (and core) columns of a feed with their PostgreSQL types, in order."""
    out: list[tuple[str, str]] = [("line_no", "integer"), ("extract_date", "date")]
    for column in feed.columns:
        out.extend(_typed_columns(column))
    out.append(("extras", "jsonb"))
    return out


def _typed_columns(column: Column) -> list[tuple[str, str]]:
    name = column.name
    match column.type:
        case "id_number":
            return [(name, "text"), (f"{name}_valid", "boolean"), (f"{name}_sent", "text")]
        case "name" | "region":
            return [(name, "text"), (f"{name}_sent", "text")]
        case "date":
            return [(name, "date")]
        case "datetime":
            return [(name, "date"), (f"{name}_time", "time")]
        case "int" | "birth_order":
            return [(name, "integer")]
        case "money":
            return [(name, "numeric(14,2)")]
        case _:
            return [(name, "text")]


def map_headers(headers: Sequence[str], feed: Feed) -> tuple[dict[str, int], list[tuple[int, str]], set[str]]:
    """Map header positions to columns: (column → index, extra (index, header), irregularities)."""
    known = feed.header_map()
    normalised = [normalise_header(h) for h in headers]
    simplified = text.to_simplified(normalised)
    positions: dict[str, int] = {}
    extras: list[tuple[int, str]] = []
    irregular: set[str] = set()
    for index, (plain, simple) in enumerate(zip(normalised, simplified, strict=True)):
        column = known.get(plain) or (known.get(simple) if simple else None)
        if column is None:
            if headers[index].strip():
                extras.append((index, headers[index].strip()))
            continue
        if column in positions:
            irregular.add(DUPLICATE_HEADER)
            continue
        if plain not in known:
            irregular.add(TRADITIONAL_SCRIPT)
        positions[column] = index
    if extras:
        irregular.add(EXTRA_COLUMNS)
    return positions, extras, irregular


def normalise_table(
    table: RawTable, feed: Feed, *, extract_date: date, resolver: RegionResolver | None = None
) -> NormalizedFile:
    """Normalise a raw table into staging columns; raises FileRejected when a required column is missing."""
    positions, extras, irregular = map_headers(table.headers, feed)
    missing = [c.name for c in feed.required_columns if c.name not in positions]
    if missing:
        headers = " / ".join(
            f"{c.name}({'|'.join(c.headers)})" for c in feed.required_columns if c.name in missing
        )
        raise FileRejected(MISSING_COLUMNS, f"required columns missing: {headers}")

    n_rows = len(table.rows)
    width = len(table.headers)
    rejected: list[Issue] = []
    warnings: list[Issue] = []
    reject_row = [False] * n_rows
    for i, row in enumerate(table.rows):
        if len(row) > width and any(v is not None and v.strip() for v in row[width:]):
            reject_row[i] = True
            rejected.append(Issue(table.line_nos[i], None, TOO_MANY_FIELDS, None))

    def raw_column(column: Column) -> list[str | None]:
        index = positions.get(column.name)
        raw = [row[index] if index is not None and index < len(row) else None for row in table.rows]
        return _clean_column(
            raw, text.clean_name_text if column.type in ("name", "text") else text.clean_text
        )

    needed = _conditionally_required(feed, raw_column, resolver)
    staged: dict[str, list[Any]] = {}
    for column in feed.columns:
        cleaned = raw_column(column)
        outputs = _normalise_column(column, cleaned, resolver)
        rows_needing = needed.get(column.name, frozenset())
        if rows_needing:
            primary = outputs.values[column.name]
            for i in sorted(rows_needing):
                if primary[i] is None and i not in outputs.errors and i not in outputs.warnings:
                    outputs.errors[i] = REQUIRED_BLANK
        for name, values in outputs.values.items():
            staged[name] = values
        irregular |= outputs.irregular
        for i, reason in outputs.errors.items():
            issue = Issue(table.line_nos[i], column.name, reason, mask_value(column, cleaned[i]))
            if column.required or i in rows_needing:
                reject_row[i] = True
                rejected.append(issue)
            else:
                warnings.append(issue)
                for name in outputs.values:
                    if not name.endswith("_sent"):
                        staged[name][i] = None
        for i, reason in outputs.warnings.items():
            warnings.append(Issue(table.line_nos[i], column.name, reason, mask_value(column, cleaned[i])))

    extra_values: list[Any] = [None] * n_rows
    if extras:
        for i, row in enumerate(table.rows):
            kept = {h: row[j] for j, h in extras if j < len(row) and row[j] is not None}
            extra_values[i] = json.dumps(kept, ensure_ascii=False) if kept else None

    keep = [i for i in range(n_rows) if not reject_row[i]]
    columns: dict[str, list[Any]] = {
        "line_no": [table.line_nos[i] for i in keep],
        "extract_date": [extract_date] * len(keep),
    }
    for name, _type in staging_columns(feed)[2:-1]:
        values = staged[name]
        columns[name] = [values[i] for i in keep]
    columns["extras"] = [extra_values[i] for i in keep]
    rejected_lines = {table.line_nos[i] for i in range(n_rows) if reject_row[i]}
    warnings = [w for w in warnings if w.line_no not in rejected_lines]
    return NormalizedFile(
        columns=columns,
        rows_read=n_rows,
        rejected=rejected,
        warnings=warnings,
        irregularities=irregular | table.irregularities,
        extra_headers=[h for _, h in extras],
    )


def _conditionally_required(
    feed: Feed, raw_column: Callable[[Column], list[str | None]], resolver: RegionResolver | None
) -> dict[str, frozenset[int]]:
    """Column → the rows that must hold it, for each column with ``required_when`` (rows whose
    condition column, normalised, holds one of the listed values: a birth report needs a birth date)."""
    needed: dict[str, frozenset[int]] = {}
    conditions: dict[str, list[Any]] = {}
    for column in feed.columns:
        if column.required_when is None:
            continue
        ((name, values),) = column.required_when.items()
        if name not in conditions:
            condition = feed.column(name)
            conditions[name] = _normalise_column(condition, raw_column(condition), resolver).values[name]
        wanted = set(values)
        needed[column.name] = frozenset(i for i, v in enumerate(conditions[name]) if v in wanted)
    return needed


@dataclass(slots=True)
class _ColumnOutput:
    values: dict[str, list[Any]]
    errors: dict[int, str] = field(default_factory=dict)  # reject (required) or null + warning (optional)
    warnings: dict[int, str] = field(default_factory=dict)  # loaded as is, with a warning
    irregular: set[str] = field(default_factory=set)


def _normalise_column(
    column: Column, values: list[str | None], resolver: RegionResolver | None
) -> _ColumnOutput:
    """Normalise one column's cleaned values according to its type."""
    out = (
        _region(column, values, resolver)
        if column.type == "region"
        else _HANDLERS[column.type](column, values)
    )
    if column.required:
        primary = out.values[column.name]
        for i, value in enumerate(primary):
            if value is None and i not in out.errors and i not in out.warnings:
                out.errors[i] = REQUIRED_BLANK
    return out


def _clean_column(
    values: list[str | None], clean: Callable[[str | None], str | None] = text.clean_text
) -> list[str | None]:
    """``clean`` over a column, once per distinct value (codes, dates and regions repeat a lot)."""
    cache: dict[str | None, str | None] = {}
    out: list[str | None] = []
    append = out.append
    for value in values:
        try:
            append(cache[value])
        except KeyError:
            cleaned = cache[value] = clean(value)
            append(cleaned)
    return out


_PLACEHOLDERS_FOLDED = frozenset(c.casefold() for p in text.PLACEHOLDERS if (c := text.clean_text(p)))
_PLACEHOLDER_MAX = max(len(p) for p in _PLACEHOLDERS_FOLDED)


def _blank_or_placeholder(value: str | None) -> bool:
    """Blank, or a generic placeholder (``不详``, ``无``, ``-`` …); ``value`` is already cleaned."""
    return value is None or (len(value) <= _PLACEHOLDER_MAX and value.casefold() in _PLACEHOLDERS_FOLDED)


_BLANK, _DAMAGED, _USABLE = 0, 1, 2


def _text_kind(value: str | None) -> int:
    if _blank_or_placeholder(value):
        return _BLANK
    assert value is not None
    return _DAMAGED if text.is_damaged(value) else _USABLE


def _text_like(column: Column, values: list[str | None]) -> _ColumnOutput:
    out = _ColumnOutput(values={})
    usable: list[str | None] = []
    kinds: dict[str | None, int] = {}
    for i, value in enumerate(values):
        kind = kinds.get(value)
        if kind is None:
            kind = kinds[value] = _text_kind(value)
        if kind == _USABLE:
            usable.append(value)
            continue
        usable.append(None)
        if kind == _DAMAGED:
            out.errors[i] = text.DAMAGED_TEXT
            out.irregular.add(DAMAGED_TEXT)
    # codes too: a vocabulary value sent in Traditional script (單獨二孩) is the Simplified one
    # (单独二孩); ASCII codes (certificate numbers, ICD-10) are returned unchanged
    simplified = text.to_simplified(usable)
    if any(s != u for s, u in zip(simplified, usable, strict=True)):
        out.irregular.add(TRADITIONAL_SCRIPT)
    out.values[column.name] = simplified
    if column.type == "name":
        out.values[f"{column.name}_sent"] = [None if i in out.errors else v for i, v in enumerate(values)]
    return out


def _id_number(column: Column, values: list[str | None]) -> _ColumnOutput:
    parsed = ids.parse_ids(values)
    out = _ColumnOutput(
        values={
            column.name: [p.value for p in parsed],
            f"{column.name}_valid": [p.valid if p.value is not None else None for p in parsed],
            f"{column.name}_sent": [p.sent for p in parsed],
        }
    )
    for i, p in enumerate(parsed):
        if p.value is None:
            continue
        if not p.valid and p.reason:
            out.warnings[i] = p.reason
        elif p.warnings:
            out.warnings[i] = p.warnings[0]
    return out


def _sex(column: Column, values: list[str | None]) -> _ColumnOutput:
    codes_out: list[str | None] = []
    out = _ColumnOutput(values={})
    for i, value in enumerate(values):
        code, error = codes.parse_sex(value)
        codes_out.append(code)
        if error:
            out.errors[i] = error
    out.values[column.name] = codes_out
    return out


def _date(column: Column, values: list[str | None]) -> _ColumnOutput:
    parsed = dates.parse_dates(values, allow_time=column.type == "datetime")
    out = _ColumnOutput(values={column.name: [p.value for p in parsed]})
    if column.type == "datetime":
        out.values[f"{column.name}_time"] = [p.time for p in parsed]
    for i, p in enumerate(parsed):
        if p.error:
            out.errors[i] = p.error
    return out


def _region(column: Column, values: list[str | None], resolver: RegionResolver | None) -> _ColumnOutput:
    usable = [None if _blank_or_placeholder(v) else v for v in values]
    parsed = codes.parse_regions(usable, resolver)
    out = _ColumnOutput(values={column.name: [p.code for p in parsed], f"{column.name}_sent": values})
    for i, p in enumerate(parsed):
        if usable[i] is None:
            continue
        if p.error == codes.REGION_UNPARSEABLE:
            out.errors[i] = p.error
        elif p.error:
            out.warnings[i] = p.error
    return out


def _number(column: Column, values: list[str | None]) -> _ColumnOutput:
    parse: Callable[[str | None], tuple[Any, str | None]]
    if column.type == "money":
        parse = codes.parse_money
    elif column.type == "birth_order":
        parse = codes.parse_birth_order
    else:
        parse = codes.parse_int
    out = _ColumnOutput(values={})
    parsed_values: list[Any] = []
    for i, value in enumerate(values):
        if _blank_or_placeholder(value):
            parsed_values.append(None)
            continue
        number, error = parse(value)
        parsed_values.append(number)
        if error:
            out.errors[i] = error
    out.values[column.name] = parsed_values
    return out


_HANDLERS: dict[str, Callable[[Column, list[str | None]], _ColumnOutput]] = {
    "id_number": _id_number,
    "name": _text_like,
    "text": _text_like,
    "code": _text_like,
    "sex": _sex,
    "date": _date,
    "datetime": _date,
    "int": _number,
    "birth_order": _number,
    "money": _number,
}


def mask_value(column: Column, value: str | None) -> str | None:
    """Mask a personal value for audit tables and receipts.

    Identity numbers keep the 6-digit address code and the last two characters;
    names and free text keep their first character. Codes, dates and numbers
    (not personal on their own) are kept, cut to 64 characters.
    """
    if value is None:
        return None
    if column.type == "id_number":
        if len(value) <= 8:
            return "*" * len(value)
        return value[:6] + "*" * (len(value) - 8) + value[-2:]
    if column.type in _PERSONAL_TYPES:
        return value[:1] + "*" * min(len(value) - 1, 15)
    return value[:64]
