"""Custom Great Expectations (GX Core 1.x) expectations for population records.

Importing this module registers five expectations with GX, so that a reviewed suite JSON
naming their snake_case ``type`` loads (``load_suite`` in :mod:`popdata.quality.gx`):

* ``expect_column_values_to_be_valid_resident_id`` — the stored value is the normalised
  18-character resident identity number (公民身份号码, GB 11643-1999) of a *valid* number:
  17 ASCII digits and a digit or upper-case ``X``, the ISO 7064 MOD 11-2 check character
  right, and the embedded birth date a real date in 1880-01-01..2030-12-31. This is exactly
  "``popdata.normalize.ids.parse_id(v)`` is valid and its normalised ``value == v``": a
  15-digit number, a lower-case ``x`` or surrounding spaces are not the stored form.
* ``expect_resident_id_to_match_birth_date_and_sex`` (multi-column) — for a row whose id
  passes the check above: digits 7–14 equal the birth date column and the parity of the
  17th digit (odd = male) agrees with the sex column. Nulls, invalid ids and sex values
  outside ``male_values``/``female_values`` (e.g. GB/T 2261.1 ``0`` unknown, ``9`` unstated)
  pass: this expectation only reports contradictions.
* ``expect_column_values_to_be_known_region_code`` — the value is in a reference table
  (``reference_table``/``reference_column``, SQL only) or in ``value_set`` (any engine).
* ``expect_column_values_to_be_plausible_chinese_name`` — ``min_length``..``max_length``
  (1..6) characters, no ASCII digit, not blank, not damaged text (乱码: what
  :func:`popdata.normalize.text.is_damaged` detects).
* ``expect_column_values_to_be_plausible_date`` — not before ``min_date`` (1880-01-01) and
  not after ``max_date`` and/or the row's ``max_date_column`` (e.g. ``extract_date``: "not in
  the future" relative to the extract, so re-runs are deterministic; never ``now()``).

Each is a real GX map expectation (a ``ColumnMapExpectation`` or ``MulticolumnMapExpectation``
backed by a metric provider with ``column_condition_partial`` /
``multicolumn_condition_partial`` implementations): ``mostly`` and the result formats work as
for GX's built-ins and nulls in the checked column are ignored. On PostgreSQL the condition is
one SQL expression (regular expressions, arithmetic on ``substr``/``ascii``, an ``IN
(SELECT …)``), evaluated by the server in the same aggregate scan as GX's other column
checks; no value is pulled into Python for it. Pandas implementations let the expectations run
on a DataFrame outside Airflow.

The SQL builders (:func:`resident_id_sql` and friends) are public so that the platform can
reuse the very same condition, e.g. to select the ``line_no`` of failing rows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, ClassVar, Final

# Before great_expectations is imported (see popdata.quality.gx): analytics stay off.
os.environ["GX_ANALYTICS_ENABLED"] = "false"

from popdata.quality import gx as _gx_support

_gx_support.import_gx()  # analytics off, GX's import-time INFO logging quietened

import pandas as pd  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from great_expectations.compatibility import pydantic  # noqa: E402
from great_expectations.core.metric_domain_types import MetricDomainTypes  # noqa: E402
from great_expectations.core.metric_function_types import MetricPartialFunctionTypes  # noqa: E402
from great_expectations.execution_engine import (  # noqa: E402
    PandasExecutionEngine,
    SqlAlchemyExecutionEngine,
)
from great_expectations.expectations.expectation import (  # noqa: E402
    ColumnMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.metrics.map_metric_provider import (  # noqa: E402
    ColumnMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_condition_partial,
    multicolumn_condition_partial,
)
from great_expectations.expectations.metrics.metric_provider import metric_partial  # noqa: E402
from great_expectations.expectations.metrics.util import (  # noqa: E402
    get_dbms_compatible_metric_domain_kwargs,
)

from popdata.normalize.ids import MAX_BIRTH_DATE, MIN_BIRTH_DATE  # noqa: E402
from popdata.normalize.text import WIDE_CHARS, is_damaged  # noqa: E402

__all__ = [
    "DEFAULT_FEMALE_VALUES",
    "DEFAULT_MALE_VALUES",
    "EXPECTATION_TYPES",
    "ID_CHECK_CHARS",
    "ID_WEIGHTS",
    "ExpectColumnValuesToBeKnownRegionCode",
    "ExpectColumnValuesToBePlausibleChineseName",
    "ExpectColumnValuesToBePlausibleDate",
    "ExpectColumnValuesToBeValidResidentId",
    "ExpectResidentIdToMatchBirthDateAndSex",
    "is_plausible_chinese_name",
    "is_valid_resident_id",
    "known_region_code_sql",
    "plausible_chinese_name_sql",
    "plausible_date_sql",
    "resident_id_matches_sql",
    "resident_id_sql",
]

#: GB 11643 / ISO 7064 MOD 11-2 weights of the first 17 characters.
ID_WEIGHTS: Final[tuple[int, ...]] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
#: Check character for (weighted sum mod 11) = 0, 1, …, 10.
ID_CHECK_CHARS: Final = "10X98765432"
#: Sex values meaning male / female: GB/T 2261.1 codes (what the normaliser stores) and 男/女.
DEFAULT_MALE_VALUES: Final[tuple[str, ...]] = ("1", "男")
DEFAULT_FEMALE_VALUES: Final[tuple[str, ...]] = ("2", "女")

_ID_SHAPE: Final = "^[0-9]{17}[0-9X]$"
_ID_SHAPE_RE: Final = re.compile(_ID_SHAPE)
_MIN_YMD: Final = int(MIN_BIRTH_DATE.strftime("%Y%m%d"))
_MAX_YMD: Final = int(MAX_BIRTH_DATE.strftime("%Y%m%d"))
# Lower-case unquoted PostgreSQL identifiers, as in popdata.quality.gx.
_IDENTIFIER: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# What counts as "blank" in a name: ASCII whitespace, no-break, the U+2000 spaces, zero-width
# space, ideographic space and BOM. One explicit class so SQL and Python agree.
_BLANK_CLASS: Final = " \t\n\r\x0b\x0c\u00a0\u2000-\u200b\u3000\ufeff"
_BLANK_RE: Final = re.compile(f"^[{_BLANK_CLASS}]*$")
_BLANK_SQL: Final = f"^[{_BLANK_CLASS}]*$"
# normalize.text's damage signature as one PostgreSQL ARE (no look-arounds needed for a
# search: "? before a wide letter" is "?<wide>", "? after one" is "<wide>?"). Lone surrogates
# cannot exist in a PostgreSQL UTF8 text, so that alternative is dropped.
_DAMAGE_SQL: Final = f"\ufffd|锟斤拷|烫烫|屯屯|[?？][{WIDE_CHARS}]|[{WIDE_CHARS}][?？]"
_ASCII_DIGIT_SQL: Final = "[0-9]"

# --------------------------------------------------------------------------- pure helpers


def _check_char(body17: str) -> str:
    """Return the GB 11643 check character of 17 ASCII digits."""
    total = sum((ord(char) - 48) * weight for char, weight in zip(body17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def _real_date(year: int, month: int, day: int) -> bool:
    """Tell whether year-month-day is a calendar date (proleptic Gregorian)."""
    if not 1 <= month <= 12 or day < 1:
        return False
    if month == 2:
        leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0
        return day <= (29 if leap else 28)
    return day <= (30 if month in (4, 6, 9, 11) else 31)


def is_valid_resident_id(value: object) -> bool:
    """Tell whether a stored value is the normalised form of a valid resident identity number.

    The same rule as :func:`resident_id_sql` (and as ``parse_id(v).valid and parse_id(v).value
    == v``), written independently of :mod:`popdata.normalize.ids` so each checks the other.

    Args:
        value: the stored cell; anything but a ``str`` is invalid.

    Returns:
        ``True`` for 17 ASCII digits and a digit or ``X`` with the right check character and a
        real embedded birth date in 1880-01-01..2030-12-31.
    """
    if not isinstance(value, str) or not _ID_SHAPE_RE.match(value) or len(value) != 18:
        return False
    if _check_char(value[:17]) != value[17]:
        return False
    ymd = int(value[6:14])
    year, month_day = divmod(ymd, 10_000)
    month, day = divmod(month_day, 100)
    return _MIN_YMD <= ymd <= _MAX_YMD and _real_date(year, month, day)


def is_plausible_chinese_name(value: object, min_length: int = 1, max_length: int = 6) -> bool:
    """Tell whether a value is a plausible Chinese personal name (same rule as the SQL).

    Args:
        value: the cell; anything but a ``str`` is converted with ``str()`` first.
        min_length: fewest characters allowed.
        max_length: most characters allowed.

    Returns:
        ``True`` when the value has ``min_length``..``max_length`` characters, no ASCII digit,
        is not blank and is not damaged text (:func:`popdata.normalize.text.is_damaged`).
    """
    text = value if isinstance(value, str) else str(value)
    return (
        min_length <= len(text) <= max_length
        and not any("0" <= char <= "9" for char in text)
        and _BLANK_RE.match(text) is None
        and not is_damaged(text)
    )


def _as_date(value: object) -> date | None:
    """Turn a date-like cell (date, datetime, Timestamp, ISO text) into a date, else ``None``."""
    if isinstance(value, datetime):  # includes pandas.Timestamp
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _parse_iso_date(value: object, name: str) -> date:
    """Parse an ISO date kwarg; raises ``ValueError`` naming the kwarg."""
    parsed = _as_date(value)
    if parsed is None:
        raise ValueError(f"{name} must be an ISO date (YYYY-MM-DD), got {value!r}")
    return parsed


def _check_identifier(value: str, name: str) -> str:
    """Check a lower-case unquoted SQL identifier kwarg; raises ``ValueError`` otherwise."""
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"{name} {value!r} is not a lower-case unquoted identifier")
    return value


# ----------------------------------------------------------------------------- SQL builders

ColumnSql = sa.ColumnElement[Any]


def _digit(column: ColumnSql, position: int) -> ColumnSql:
    """The digit at 1-based ``position`` as an integer (``ascii(c) - 48``: never raises)."""
    return sa.func.ascii(sa.func.substr(column, position, 1)) - 48


def _digits(column: ColumnSql, start: int, count: int) -> ColumnSql:
    """The number formed by ``count`` digits from 1-based ``start`` (pure arithmetic)."""
    value: ColumnSql = _digit(column, start)
    for position in range(start + 1, start + count):
        value = value * 10 + _digit(column, position)
    return value


def resident_id_sql(column: ColumnSql) -> ColumnSql:
    """SQL condition: ``column`` holds the normalised form of a valid resident identity number.

    Pure SQL (``octet_length``/``ltrim`` for the shape, arithmetic on ``substr``/``ascii``):
    PostgreSQL evaluates it in the scan, and it cannot raise on any text (no casts). ``NULL``
    yields ``false``.

    Args:
        column: a text column expression.

    Returns:
        A boolean SQL expression, never ``NULL``.
    """
    total: ColumnSql = sum(
        (_digit(column, position) * weight for position, weight in enumerate(ID_WEIGHTS, start=1)),
        start=sa.literal(0),
    )
    check = sa.func.substr(sa.literal(ID_CHECK_CHARS), (total % 11) + 1, 1)
    year = _digits(column, 7, 4)
    month = _digits(column, 11, 2)
    day = _digits(column, 13, 2)
    ymd = _digits(column, 7, 8)
    leap = sa.or_(sa.and_(year % 4 == 0, year % 100 != 0), year % 400 == 0)
    month_length = sa.case(
        (month.in_([4, 6, 9, 11]), 30),
        (month == 2, sa.case((leap, 29), else_=28)),
        else_=31,
    )
    # the shape (17 ASCII digits, then a digit or X) without a regular expression: ltrim strips
    # the allowed characters, so nothing may remain; about a third of the regex's cost
    return sa.and_(
        column.is_not(None),
        sa.func.octet_length(column) == 18,
        sa.func.ltrim(sa.func.substr(column, 1, 17), "0123456789") == "",
        sa.func.ltrim(sa.func.substr(column, 18, 1), "0123456789X") == "",
        sa.func.substr(column, 18, 1) == check,
        ymd.between(_MIN_YMD, _MAX_YMD),
        month.between(1, 12),
        day.between(1, month_length),
    )


def resident_id_matches_sql(
    id_column: ColumnSql,
    birth_date_column: ColumnSql,
    sex_column: ColumnSql,
    male_values: Sequence[str] = DEFAULT_MALE_VALUES,
    female_values: Sequence[str] = DEFAULT_FEMALE_VALUES,
) -> ColumnSql:
    """SQL condition: a valid id agrees with the row's birth date and sex (PostgreSQL).

    Args:
        id_column: the identity number (text).
        birth_date_column: the birth date (``date`` or ``timestamp``; ``to_char`` is used).
        sex_column: the sex (text).
        male_values: sex values meaning male (odd 17th digit).
        female_values: sex values meaning female (even 17th digit).

    Returns:
        A boolean SQL expression: true when the id is null or invalid, or when each of birth
        date and sex is null, outside the two value lists, or agrees with the id.
    """
    odd = _digit(id_column, 17) % 2 == 1
    birth_ok = sa.or_(
        birth_date_column.is_(None),
        sa.func.to_char(birth_date_column, "YYYYMMDD") == sa.func.substr(id_column, 7, 8),
    )
    known = [*male_values, *female_values]
    sex_ok = sa.or_(
        sex_column.is_(None),
        sa.not_(sex_column.in_(known)) if known else sa.true(),
        sa.and_(sex_column.in_(list(male_values)), odd) if male_values else sa.false(),
        sa.and_(sex_column.in_(list(female_values)), sa.not_(odd)) if female_values else sa.false(),
    )
    # agreement first: PostgreSQL evaluates OR left to right and stops at true, so the costly
    # validity check runs only for the few rows that disagree
    return sa.or_(sa.and_(birth_ok, sex_ok), sa.not_(resident_id_sql(id_column)))


def known_region_code_sql(
    column: ColumnSql,
    reference_table: str | None = None,
    reference_column: str = "code",
    value_set: Iterable[str] | None = None,
) -> ColumnSql:
    """SQL condition: the value is a known region code.

    ``column IN (SELECT reference_column FROM schema.table WHERE reference_column IS NOT
    NULL)``: the subquery is not correlated (no name in it can capture the outer column) and
    excludes nulls, so the condition is never ``NULL`` for a non-null value (a ``NULL`` in an
    ``IN`` list would make ``NOT IN`` unknown and the row silently "expected").

    Args:
        column: the checked column.
        reference_table: ``schema.table`` of lower-case identifiers; checked here again.
        reference_column: the code column of the reference table (a lower-case identifier).
        value_set: instead of a reference table, the known codes.

    Returns:
        A boolean SQL expression.

    Raises:
        ValueError: neither or both of ``reference_table`` and ``value_set``, or a bad identifier.
    """
    if (reference_table is None) == (value_set is None):
        raise ValueError("give exactly one of reference_table and value_set")
    if value_set is not None:
        return column.in_(list(value_set))
    assert reference_table is not None
    schema, table = _split_table(reference_table)
    _check_identifier(reference_column, "reference_column")
    ref = sa.table(table, sa.column(reference_column), schema=schema)
    code = ref.c[reference_column]
    return column.in_(sa.select(code).where(code.is_not(None)).scalar_subquery())


def _split_table(reference_table: str) -> tuple[str, str]:
    """Split and check ``schema.table``; raises ``ValueError`` when it is not two identifiers."""
    parts = reference_table.split(".")
    if len(parts) != 2:
        raise ValueError(f"reference_table {reference_table!r} must be schema.table")
    return (
        _check_identifier(parts[0], "reference_table schema"),
        _check_identifier(parts[1], "reference_table table"),
    )


def plausible_chinese_name_sql(column: ColumnSql, min_length: int = 1, max_length: int = 6) -> ColumnSql:
    """SQL condition mirroring :func:`is_plausible_chinese_name` (PostgreSQL regular expressions).

    Args:
        column: a text column.
        min_length: fewest characters allowed.
        max_length: most characters allowed.

    Returns:
        A boolean SQL expression (``NULL`` only for a ``NULL`` value).
    """
    return sa.and_(
        sa.func.char_length(column).between(min_length, max_length),
        sa.not_(column.regexp_match(_ASCII_DIGIT_SQL)),
        sa.not_(column.regexp_match(_BLANK_SQL)),
        sa.not_(column.regexp_match(_DAMAGE_SQL)),
    )


def plausible_date_sql(
    column: ColumnSql,
    min_date: date,
    max_date: date | None = None,
    max_date_column: ColumnSql | None = None,
) -> ColumnSql:
    """SQL condition: ``min_date <= column``, ``column <= max_date`` and ``column <= max_date_column``.

    A ``NULL`` in ``max_date_column`` does not fail the row (only the other bounds apply).

    Args:
        column: a ``date`` (or ``timestamp``) column.
        min_date: the earliest plausible date.
        max_date: a fixed latest date, or ``None``.
        max_date_column: a column holding each row's latest date (e.g. ``extract_date``).

    Returns:
        A boolean SQL expression.
    """
    conditions: list[ColumnSql] = [column >= sa.literal(min_date, sa.Date)]
    if max_date is not None:
        conditions.append(column <= sa.literal(max_date, sa.Date))
    if max_date_column is not None:
        conditions.append(sa.or_(max_date_column.is_(None), column <= max_date_column))
    return sa.and_(*conditions)


# ---------------------------------------------------------------------------- metric providers
# Metric names carry a "popdata_" prefix: they share GX's process-wide metric registry.


class ColumnValuesValidResidentId(ColumnMapMetricProvider):
    """Metric ``column_values.popdata_valid_resident_id``: the row's id is valid and normalised."""

    condition_metric_name = "column_values.popdata_valid_resident_id"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls: Any, column: pd.Series, **kwargs: Any) -> pd.Series:
        """Row-wise :func:`is_valid_resident_id`."""
        return column.map(is_valid_resident_id).astype(bool)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls: Any, column: ColumnSql, **kwargs: Any) -> ColumnSql:
        """:func:`resident_id_sql`."""
        return resident_id_sql(column)


class ResidentIdMatchesBirthDateAndSex(MulticolumnMapMetricProvider):
    """Metric ``multicolumn_values.popdata_resident_id_matches``: id, birth date and sex agree.

    The domain's ``column_list`` is ``[id, birth date, sex]`` in that order.
    """

    condition_metric_name = "multicolumn_values.popdata_resident_id_matches"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_list",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )
    condition_value_keys = ("male_values", "female_values")

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls: Any,
        column_list: pd.DataFrame,
        male_values: Sequence[str] | None = None,
        female_values: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> pd.Series:
        """Row-wise agreement of a valid id with the birth date and sex columns."""
        males = set(DEFAULT_MALE_VALUES if male_values is None else male_values)
        females = set(DEFAULT_FEMALE_VALUES if female_values is None else female_values)
        id_name, birth_name, sex_name = column_list.columns[:3]

        def agrees(id_no: object, birth: object, sex: object) -> bool:
            if not is_valid_resident_id(id_no):
                return True
            assert isinstance(id_no, str)
            if not _is_null(birth):
                birth_date = _as_date(birth)
                if birth_date is None or birth_date.strftime("%Y%m%d") != id_no[6:14]:
                    return False
            if _is_null(sex):
                return True
            male = int(id_no[16]) % 2 == 1
            if sex in males:
                return male
            if sex in females:
                return not male
            return True

        return pd.Series(
            [
                agrees(*row)
                for row in zip(
                    column_list[id_name], column_list[birth_name], column_list[sex_name], strict=True
                )
            ],
            index=column_list.index,
            dtype=bool,
        )

    @multicolumn_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls: Any,
        column_list: list[ColumnSql],
        male_values: Sequence[str] | None = None,
        female_values: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> ColumnSql:
        """:func:`resident_id_matches_sql` on ``column_list`` = ``[id, birth date, sex]``."""
        id_column, birth_column, sex_column = column_list[:3]
        return resident_id_matches_sql(
            id_column,
            birth_column,
            sex_column,
            DEFAULT_MALE_VALUES if male_values is None else male_values,
            DEFAULT_FEMALE_VALUES if female_values is None else female_values,
        )


class ColumnValuesKnownRegionCode(ColumnMapMetricProvider):
    """Metric ``column_values.popdata_known_region_code``: the value is a known region code."""

    condition_metric_name = "column_values.popdata_known_region_code"
    condition_value_keys = ("reference_table", "reference_column", "value_set")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls: Any,
        column: pd.Series,
        value_set: Sequence[str] | None = None,
        reference_table: str | None = None,
        **kwargs: Any,
    ) -> pd.Series:
        """Membership in ``value_set`` (a reference table cannot be read from a DataFrame)."""
        if value_set is None:
            raise ValueError(
                "expect_column_values_to_be_known_region_code needs value_set on a DataFrame "
                "(reference_table is for SQL data sources)"
            )
        return column.isin(list(value_set)).astype(bool)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls: Any,
        column: ColumnSql,
        reference_table: str | None = None,
        reference_column: str | None = None,
        value_set: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> ColumnSql:
        """:func:`known_region_code_sql`."""
        return known_region_code_sql(column, reference_table, reference_column or "code", value_set)


class ColumnValuesPlausibleChineseName(ColumnMapMetricProvider):
    """Metric ``column_values.popdata_plausible_chinese_name``."""

    condition_metric_name = "column_values.popdata_plausible_chinese_name"
    condition_value_keys = ("min_length", "max_length")
    # GX reads this class attribute, never mutates it.
    default_kwarg_values = {"min_length": 1, "max_length": 6}  # noqa: RUF012

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls: Any, column: pd.Series, min_length: int = 1, max_length: int = 6, **kwargs: Any
    ) -> pd.Series:
        """Row-wise :func:`is_plausible_chinese_name`."""
        return column.map(lambda value: is_plausible_chinese_name(value, min_length, max_length)).astype(bool)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls: Any, column: ColumnSql, min_length: int = 1, max_length: int = 6, **kwargs: Any
    ) -> ColumnSql:
        """:func:`plausible_chinese_name_sql`."""
        return plausible_chinese_name_sql(column, min_length, max_length)


def _is_null(value: object) -> bool:
    """Tell whether a pandas cell is missing (None, NaN, NaT, pd.NA)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):  # list-like cells are not missing
        return False


def _pandas_plausible_date(
    cls: Any,
    execution_engine: PandasExecutionEngine,
    metric_domain_kwargs: dict[str, Any],
    metric_value_kwargs: dict[str, Any],
    metrics: dict[str, Any],
    runtime_configuration: dict[str, Any],
) -> tuple[pd.Series, dict[str, Any], dict[str, Any]]:
    """Pandas map condition of the plausible-date metric (it needs a second column).

    GX's ``column_condition_partial`` hands a pandas metric only the checked column, so this
    does what that decorator does (``column_condition_partial.py``, pandas branch) but keeps
    the frame, to read ``max_date_column`` row by row.

    Returns:
        The *unexpected* boolean series (indexed like the non-null rows) and GX's domain kwargs.
    """
    domain_kwargs = get_dbms_compatible_metric_domain_kwargs(
        metric_domain_kwargs=metric_domain_kwargs, batch_columns_list=metrics["table.columns"]
    )
    frame, compute_domain_kwargs, accessor_domain_kwargs = execution_engine.get_compute_domain(
        domain_kwargs=domain_kwargs, domain_type=MetricDomainTypes.COLUMN
    )
    column_name = accessor_domain_kwargs["column"]
    frame = frame[frame[column_name].notnull()]
    min_date = _parse_iso_date(metric_value_kwargs.get("min_date") or "1880-01-01", "min_date")
    raw_max = metric_value_kwargs.get("max_date")
    max_date = _parse_iso_date(raw_max, "max_date") if raw_max is not None else None
    max_column = metric_value_kwargs.get("max_date_column")

    values = frame[column_name]
    limits = (
        frame[max_column] if max_column is not None else pd.Series([None] * len(frame), index=frame.index)
    )

    def plausible(value: object, limit: object) -> bool:
        day = _as_date(value)
        if day is None or day < min_date or (max_date is not None and day > max_date):
            return False
        if _is_null(limit):
            return True
        limit_day = _as_date(limit)
        return limit_day is None or day <= limit_day

    meets = pd.Series(
        [plausible(value, limit) for value, limit in zip(values, limits, strict=True)],
        index=frame.index,
        dtype=bool,
    )
    return ~meets, compute_domain_kwargs, accessor_domain_kwargs


class ColumnValuesPlausibleDate(ColumnMapMetricProvider):
    """Metric ``column_values.popdata_plausible_date``: within ``min_date``..max bound(s)."""

    condition_metric_name = "column_values.popdata_plausible_date"
    condition_value_keys = ("min_date", "max_date", "max_date_column")
    default_kwarg_values = {  # noqa: RUF012 (GX reads this class attribute, never mutates it)
        "min_date": "1880-01-01",
        "max_date": None,
        "max_date_column": None,
    }

    _pandas = metric_partial(
        engine=PandasExecutionEngine,
        partial_fn_type=MetricPartialFunctionTypes.MAP_CONDITION_SERIES,
        domain_type=MetricDomainTypes.COLUMN,
    )(_pandas_plausible_date)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls: Any,
        column: ColumnSql,
        min_date: str | date = "1880-01-01",
        max_date: str | date | None = None,
        max_date_column: str | None = None,
        **kwargs: Any,
    ) -> ColumnSql:
        """:func:`plausible_date_sql`, the other column named by ``max_date_column``."""
        return plausible_date_sql(
            column,
            _parse_iso_date(min_date, "min_date"),
            _parse_iso_date(max_date, "max_date") if max_date is not None else None,
            sa.column(_check_identifier(max_date_column, "max_date_column")) if max_date_column else None,
        )


# ------------------------------------------------------------------------------ expectations


class ExpectColumnValuesToBeValidResidentId(ColumnMapExpectation):
    """Expect each value to be the normalised 18-character resident identity number of a valid id.

    Type ``expect_column_values_to_be_valid_resident_id``; kwargs ``column``, ``mostly``.
    Valid means: 17 ASCII digits and a digit or upper-case ``X``, the GB 11643 check character
    right, the embedded birth date real and within 1880-01-01..2030-12-31 (as
    :mod:`popdata.normalize.ids`). Nulls are ignored.
    """

    map_metric: ClassVar[str] = "column_values.popdata_valid_resident_id"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)
    args_keys: ClassVar[tuple[str, ...]] = ("column",)


class ExpectResidentIdToMatchBirthDateAndSex(MulticolumnMapExpectation):
    """Expect a valid resident id to agree with the row's birth date and sex.

    Type ``expect_resident_id_to_match_birth_date_and_sex``; kwargs ``id_column``,
    ``birth_date_column``, ``sex_column`` (``column_list`` is derived from them, in that order),
    ``male_values`` (default ``["1", "男"]``), ``female_values`` (default ``["2", "女"]``),
    ``mostly``. Digits 7–14 of the id must equal the birth date and the 17th digit must be odd
    for a male value, even for a female one. Rows pass when the id is null or invalid (that is
    ``expect_column_values_to_be_valid_resident_id``'s job), and each check is skipped when its
    column is null or (sex) holds neither a male nor a female value (``0``/``9``).
    """

    id_column: pydantic.StrictStr
    birth_date_column: pydantic.StrictStr
    sex_column: pydantic.StrictStr
    column_list: list[pydantic.StrictStr] | None = None  # type: ignore[assignment]
    # pydantic copies a field's default for each instance: the lists are not shared.
    male_values: list[pydantic.StrictStr] = list(DEFAULT_MALE_VALUES)  # noqa: RUF012
    female_values: list[pydantic.StrictStr] = list(DEFAULT_FEMALE_VALUES)  # noqa: RUF012

    map_metric: ClassVar[str] = "multicolumn_values.popdata_resident_id_matches"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly", "male_values", "female_values")
    args_keys: ClassVar[tuple[str, ...]] = ("id_column", "birth_date_column", "sex_column")

    @pydantic.root_validator(pre=True)
    def _derive_column_list(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Set ``column_list`` to ``[id_column, birth_date_column, sex_column]`` (or check it)."""
        names = [values.get("id_column"), values.get("birth_date_column"), values.get("sex_column")]
        if all(isinstance(name, str) and name for name in names):
            given = values.get("column_list")
            if given is not None and list(given) != names:
                raise ValueError("column_list must be [id_column, birth_date_column, sex_column] when given")
            values["column_list"] = names
        return values

    @pydantic.validator("female_values")
    def _disjoint_sexes(cls, female: list[str], values: dict[str, Any]) -> list[str]:
        """Reject a value listed as both male and female."""
        both = set(female) & set(values.get("male_values") or [])
        if both:
            raise ValueError(f"values {sorted(both)} are listed as both male and female")
        return female


class ExpectColumnValuesToBeKnownRegionCode(ColumnMapExpectation):
    """Expect each value to be a known region code.

    Type ``expect_column_values_to_be_known_region_code``; kwargs ``column``, ``mostly`` and
    either ``reference_table`` (``schema.table``, lower-case identifiers; SQL data sources only)
    with ``reference_column`` (default ``code``), or ``value_set`` (any data source, required
    on a DataFrame). On SQL: ``column IN (SELECT reference_column FROM reference_table WHERE
    reference_column IS NOT NULL)``. Nulls are ignored.
    """

    reference_table: str | None = None
    reference_column: str = "code"
    value_set: list[str] | None = None

    map_metric: ClassVar[str] = "column_values.popdata_known_region_code"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly", "reference_table", "reference_column", "value_set")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "reference_table", "reference_column")

    @pydantic.validator("reference_table")
    def _valid_table(cls, value: str | None) -> str | None:
        """``schema.table`` of lower-case unquoted identifiers."""
        if value is not None:
            _split_table(value)
        return value

    @pydantic.validator("reference_column")
    def _valid_column(cls, value: str) -> str:
        """A lower-case unquoted identifier."""
        return _check_identifier(value, "reference_column")

    @pydantic.root_validator(skip_on_failure=True)
    def _one_source(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Exactly one of ``reference_table`` and ``value_set``."""
        if (values.get("reference_table") is None) == (values.get("value_set") is None):
            raise ValueError("give exactly one of reference_table and value_set")
        return values


class ExpectColumnValuesToBePlausibleChineseName(ColumnMapExpectation):
    """Expect each value to be a plausible Chinese personal name.

    Type ``expect_column_values_to_be_plausible_chinese_name``; kwargs ``column``, ``mostly``,
    ``min_length`` (default 1), ``max_length`` (default 6). A plausible name has
    ``min_length``..``max_length`` characters, no ASCII digit, is not blank (only spaces,
    including ideographic and zero-width ones) and is not damaged text (U+FFFD, ``锟斤拷``,
    ``烫烫``/``屯屯``, ``?``/``？`` next to a CJK character: as
    :func:`popdata.normalize.text.is_damaged`). Nulls are ignored.
    """

    min_length: pydantic.conint(ge=1) = 1  # type: ignore[valid-type]
    max_length: pydantic.conint(ge=1) = 6  # type: ignore[valid-type]

    map_metric: ClassVar[str] = "column_values.popdata_plausible_chinese_name"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly", "min_length", "max_length")
    args_keys: ClassVar[tuple[str, ...]] = ("column",)

    @pydantic.validator("max_length")
    def _ordered(cls, value: int, values: dict[str, Any]) -> int:
        """``max_length >= min_length``."""
        if value < values.get("min_length", 1):
            raise ValueError("max_length must not be below min_length")
        return value


class ExpectColumnValuesToBePlausibleDate(ColumnMapExpectation):
    """Expect each date to be neither too early nor after the applicable latest date.

    Type ``expect_column_values_to_be_plausible_date``; kwargs ``column``, ``mostly``,
    ``min_date`` (ISO, default ``"1880-01-01"``), ``max_date`` (ISO, optional) and
    ``max_date_column`` (optional: a column of the same table holding each row's latest date,
    e.g. ``extract_date``; a null there skips that bound). Never relative to "now": re-running
    a validation gives the same answer. On SQL the columns must be ``date``/``timestamp``; on a
    DataFrame dates, datetimes and ISO strings are read, anything else fails. Nulls are ignored.
    """

    min_date: str = "1880-01-01"
    max_date: str | None = None
    max_date_column: str | None = None

    map_metric: ClassVar[str] = "column_values.popdata_plausible_date"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly", "min_date", "max_date", "max_date_column")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "min_date", "max_date")

    @pydantic.validator("min_date", "max_date", pre=True)
    def _iso_date(cls, value: object) -> str | None:
        """Keep dates as ISO text (JSON-ready); accept ``date`` objects too."""
        if value is None:
            return None
        return _parse_iso_date(value, "min_date/max_date").isoformat()

    @pydantic.validator("max_date_column")
    def _valid_column(cls, value: str | None) -> str | None:
        """A lower-case unquoted identifier."""
        return None if value is None else _check_identifier(value, "max_date_column")

    @pydantic.root_validator(skip_on_failure=True)
    def _ordered(cls, values: dict[str, Any]) -> dict[str, Any]:
        """``max_date`` must not be before ``min_date``."""
        low, high = values.get("min_date"), values.get("max_date")
        if low is not None and high is not None and high < low:
            raise ValueError("max_date must not be before min_date")
        return values


#: The expectation types this module registers, by snake_case ``type``.
EXPECTATION_TYPES: Final[dict[str, type[ColumnMapExpectation] | type[MulticolumnMapExpectation]]] = {
    cls.expectation_type: cls
    for cls in (
        ExpectColumnValuesToBeValidResidentId,
        ExpectResidentIdToMatchBirthDateAndSex,
        ExpectColumnValuesToBeKnownRegionCode,
        ExpectColumnValuesToBePlausibleChineseName,
        ExpectColumnValuesToBePlausibleDate,
    )
}
