"""Run a reviewed Great Expectations suite against a staged PostgreSQL table, in the database.

The platform COPYs each agency file into ``staging.<feed>_<file_id>``, validates it here and
publishes it only when no ``quarantine_file`` expectation failed. Suites are reviewed JSON
files in ``expectations/<agency>__<feed>.json`` in GX 1.x's own suite format (what
``ExpectationSuite.to_json_dict()`` writes), and every expectation carries ``meta.severity``,
the gate it is:

* ``"quarantine_file"``: a failure (beyond ``mostly``) stops the whole batch: nothing
  publishes, the file is quarantined;
* ``"reject_rows"``: the rows that break it are rejected (per the contract: listed in the
  receipt with their line numbers) and the rest publishes; ``mostly`` only decides whether
  the expectation is recorded as passed;
* ``"warn"``: recorded in ``audit.dq_results`` and shown, the file publishes.

GX's own top-level ``severity`` mirrors the gate (``critical``, ``warning``, ``info``).
Suites may use the platform's custom expectations (:mod:`popdata.quality.expectations`),
registered before any suite is loaded.

How GX is wired (checked against great-expectations 1.24.1):

* an ephemeral context (``gx.get_context(mode="ephemeral")``): nothing is written to disk
  and several workers never share a file context;
* ``data_sources.add_sql(...)``, not ``add_postgres``: the latter's pydantic ``PostgresDsn``
  rejects a URL whose host is a socket directory (``postgresql+psycopg://postgres@/db?host=/dir``),
  which is what the embedded PostgreSQL gives; ``add_sql`` accepts both that and TCP URLs;
* a whole-table batch of a ``TableAsset``: every metric is a SQL query run by PostgreSQL, no
  rows are pulled into pandas;
* result format ``SUMMARY`` with ``partial_unexpected_count: 0`` and
  ``exclude_unexpected_values``: GX still issues its "unexpected values" queries but with
  ``LIMIT 0``, so no value of the (personal) data ever reaches Python, the results or the
  logs. Only counts come back, and :class:`SuiteResult` carries only counts and the suite's
  own kwargs.

Great Expectations is imported lazily inside the functions (importing it takes seconds and
this module is imported by Airflow DAG files), with ``GX_ANALYTICS_ENABLED=false`` set first.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import re
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import great_expectations
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.datasource.fluent import SQLDatasource

# Set before great_expectations is imported anywhere in this process (it reads it at import
# and context creation). Forced, not defaulted: the platform never phones home.
os.environ["GX_ANALYTICS_ENABLED"] = "false"

__all__ = [
    "RESULT_FORMAT",
    "SEVERITIES",
    "ExpectationOutcome",
    "SuiteResult",
    "load_suite",
    "validate_query",
    "validate_table",
]

logger = logging.getLogger(__name__)

#: The gates a suite entry may declare in ``meta.severity``.
SEVERITIES: Final = frozenset({"reject_rows", "quarantine_file", "warn"})

#: GX's own ``severity`` (``FailureSeverity``) that mirrors each gate.
GX_SEVERITY: Final[Mapping[str, str]] = {
    "quarantine_file": "critical",
    "reject_rows": "warning",
    "warn": "info",
}

#: Map expectations whose failing rows GX 1.24 cannot name on SQL (its unexpected index list
#: comes back empty for the window-function metric), so they cannot be ``reject_rows``.
UNLOCATABLE: Final = frozenset(
    {"expect_compound_columns_to_be_unique", "expect_select_column_values_to_be_unique_within_record"}
)

#: The column that numbers a staged row by its physical line in the agency's file.
LINE_COLUMN: Final = "line_no"

#: Second pass for ``reject_rows`` expectations that found rows: the failing rows' line numbers
#: (GX's unexpected index list keyed on ``line_no``), with ``partial_unexpected_count`` raised
#: to the number of failing rows at run time (GX caps the index list at it, default 20).
#: With ``exclude_unexpected_values`` GX returns ``[{"line_no": [3, 9, …]}]`` and no value
#: lists; it still fetches the failing rows' values from PostgreSQL while computing (checked
#: on 1.24.1), so they pass through this process's memory, but :func:`_failing_lines` keeps the
#: line numbers only and nothing else is returned, stored or logged.
LINES_RESULT_FORMAT: Final[Mapping[str, object]] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [LINE_COLUMN],
    "exclude_unexpected_values": True,
    "include_unexpected_rows": False,
    "return_unexpected_index_query": False,
}

#: Counts only. ``partial_unexpected_count: 0`` makes GX's "unexpected values" queries
#: ``LIMIT 0`` (nothing fetched); ``exclude_unexpected_values`` keeps any list out of the
#: result; no unexpected rows and no unexpected-index query either.
RESULT_FORMAT: Final[Mapping[str, object]] = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": 0,
    "exclude_unexpected_values": True,
    "include_unexpected_rows": False,
    "return_unexpected_index_query": False,
}

# Keys GX's suite JSON may carry at the top level and per expectation.
_SUITE_KEYS: Final = frozenset({"name", "id", "expectations", "suite_parameters", "meta", "notes"})
_EXPECTATION_KEYS: Final = frozenset({"type", "kwargs", "meta", "notes", "description", "severity", "id"})
# Run-time settings that a reviewed suite must not override per expectation (a per-expectation
# ``result_format: COMPLETE`` is exactly how personal values would leak into results).
_FORBIDDEN_KWARGS: Final = frozenset({"result_format", "include_config", "catch_exceptions"})
# Table-level expectations whose ``observed_value`` is the table's row count.
_ROW_COUNT_EXPECTATIONS: Final = frozenset(
    {"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"}
)
# Lower-case unquoted PostgreSQL identifiers (GX lower-cases unquoted names anyway).
_IDENTIFIER: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Whether import_gx has already quietened GX's loggers (done once per process).
_gx_logging_quietened = False


@dataclass(frozen=True, slots=True)
class ExpectationOutcome:
    """The outcome of one expectation: counts only, never values from the data.

    Attributes:
        expectation: the expectation type, e.g. ``"expect_column_values_to_not_be_null"``.
        column_name: the column the expectation is about, ``None`` for table-level ones.
        success: whether the expectation held (``False`` too when it raised).
        unexpected_count: rows that broke it (GX's count), ``None`` when not applicable.
        element_count: rows looked at (for row-count expectations: the row count).
        severity: the gate, from the suite's ``meta.severity`` (:data:`SEVERITIES`).
        kwargs: the expectation's kwargs as reviewed in the suite (for reports).
        error: when GX raised while computing the expectation, its message with quoted
            literals, digit runs and Chinese text masked; ``None`` otherwise.
        failing_lines: for a ``reject_rows`` expectation, the ``line_no`` of every row that
            broke it (sorted); empty otherwise.
    """

    expectation: str
    column_name: str | None
    success: bool
    unexpected_count: int | None
    element_count: int | None
    severity: str
    kwargs: dict[str, object]
    error: str | None = None
    failing_lines: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SuiteResult:
    """The result of validating one table with one suite.

    Attributes:
        suite: the suite's name.
        success: every expectation succeeded.
        blocked: some ``quarantine_file`` expectation failed: the batch must not publish.
        outcomes: one outcome per expectation, in the suite's order.
    """

    suite: str
    success: bool
    blocked: bool
    outcomes: tuple[ExpectationOutcome, ...]

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        """The outcomes that did not succeed, in the suite's order."""
        return tuple(outcome for outcome in self.outcomes if not outcome.success)

    @property
    def rejected_lines(self) -> dict[int, list[ExpectationOutcome]]:
        """Line number → the ``reject_rows`` expectations that row broke (suite order)."""
        lines: dict[int, list[ExpectationOutcome]] = {}
        for outcome in self.outcomes:
            for line in outcome.failing_lines:
                lines.setdefault(line, []).append(outcome)
        return dict(sorted(lines.items()))


def _import_gx() -> ModuleType:
    """:func:`import_gx`, with the platform's custom expectation types registered.

    Returns:
        The ``great_expectations`` module.
    """
    gx = import_gx()
    import popdata.quality.expectations  # noqa: F401  (registers the custom expectation types)

    return gx


def import_gx() -> ModuleType:
    """Import great_expectations with analytics off and its logger quietened.

    Returns:
        The ``great_expectations`` module.
    """
    global _gx_logging_quietened
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    if not _gx_logging_quietened:
        # Before the import: importing GX logs ~150 INFO lines from _docs_decorators.
        gx_logger = logging.getLogger("great_expectations")
        if gx_logger.level == logging.NOTSET:  # leave an explicit configuration alone
            gx_logger.setLevel(logging.ERROR)
    import great_expectations as gx

    if not _gx_logging_quietened:
        _gx_logging_quietened = True
        # Some GX modules pin their own logger to INFO at import (data_context.types.base logs
        # a line per ephemeral context): let them inherit the level above instead.
        for name, candidate in list(logging.Logger.manager.loggerDict.items()):
            if (
                name.startswith("great_expectations.")
                and isinstance(candidate, logging.Logger)
                and logging.NOTSET < candidate.level < logging.WARNING
            ):
                candidate.setLevel(logging.NOTSET)
    return gx


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the warnings GX emits for our (deliberate) choices while it runs.

    ``add_sql`` with a PostgreSQL URL warns that ``add_postgres`` "may be more appropriate"
    (it is not: it rejects socket URLs), and ``schema_name`` on a table asset is deprecated
    in favour of a schema in the connection configuration, which the generic SQL data source
    does not have.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"You are using a generic SQLDatasource")
        warnings.filterwarnings("ignore", message=r"`schema_name` is deprecated")
        yield


def _fail(path: Path, where: str, problem: str) -> ValueError:
    """Build the error :func:`load_suite` raises.

    Args:
        path: the suite file.
        where: which part of it is wrong, e.g. ``expectations[3] (expect_column_values_to_be_unique)``.
        problem: what is wrong with it.

    Returns:
        A ``ValueError`` naming the file and the bad entry.
    """
    return ValueError(f"invalid expectation suite {path}: {where}: {problem}")


def _describe(index: int, entry: Mapping[str, Any]) -> str:
    """Name a suite entry for error messages: its position, type and column.

    Args:
        index: the entry's position in ``expectations``.
        entry: the raw JSON entry.

    Returns:
        e.g. ``expectations[3] (expect_column_values_to_be_unique, column 'id_no')``.
    """
    kind = entry.get("type")
    kwargs = entry.get("kwargs")
    column = kwargs.get("column") if isinstance(kwargs, Mapping) else None
    label = f"expectations[{index}]"
    if isinstance(kind, str):
        label += f" ({kind}" + (f", column {column!r})" if column is not None else ")")
    return label


def _check_entry(path: Path, index: int, entry: object) -> dict[str, Any]:
    """Check one raw suite entry and return it with GX's own ``severity`` set from ``meta``.

    Args:
        path: the suite file (for messages).
        index: the entry's position in ``expectations``.
        entry: the raw JSON entry.

    Returns:
        A copy of the entry, ready for ``ExpectationSuite(expectations=[...])``.

    Raises:
        ValueError: the entry is malformed, of an unknown type, has invalid kwargs, or lacks a
            valid ``meta.severity``.
    """
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    if not isinstance(entry, dict):
        raise _fail(path, f"expectations[{index}]", "must be a JSON object")
    where = _describe(index, entry)
    unknown = sorted(set(entry) - _EXPECTATION_KEYS)
    if unknown:
        raise _fail(path, where, f"unknown keys {unknown}")
    kind = entry.get("type")
    if not isinstance(kind, str) or not kind:
        raise _fail(path, where, "missing or empty 'type'")
    kwargs = entry.get("kwargs")
    if not isinstance(kwargs, dict):
        raise _fail(path, where, "'kwargs' must be a JSON object")
    forbidden = sorted(set(kwargs) & _FORBIDDEN_KWARGS)
    if forbidden:
        raise _fail(path, where, f"kwargs {forbidden} are set by the platform, not by the suite")
    meta = entry.get("meta")
    if not isinstance(meta, dict) or "severity" not in meta:
        raise _fail(path, where, f"missing meta.severity (one of {sorted(SEVERITIES)})")
    severity = meta["severity"]
    if not isinstance(severity, str) or severity not in SEVERITIES:
        raise _fail(path, where, f"meta.severity {severity!r} is not one of {sorted(SEVERITIES)}")
    # GX 1.x has its own top-level `severity` (default "critical", and to_json_dict() always
    # writes it): keep it equal to the gate's GX severity so GX-native consumers agree with us.
    native = entry.get("severity", GX_SEVERITY[severity])
    if native != GX_SEVERITY[severity]:
        raise _fail(
            path,
            where,
            f"severity {native!r} disagrees with meta.severity {severity!r} (GX severity "
            f"{GX_SEVERITY[severity]!r})",
        )
    for key in ("regex", "regex_list"):
        patterns = kwargs.get(key)
        for pattern in [patterns] if isinstance(patterns, str) else patterns or []:
            try:
                re.compile(pattern)
            except (re.error, TypeError) as exc:
                raise _fail(path, where, f"invalid {key} {pattern!r}: {exc}") from exc
    checked = copy.deepcopy(entry)
    checked["severity"] = GX_SEVERITY[severity]
    try:
        built = ExpectationConfiguration(**checked).to_domain_obj()
    except ExpectationNotFoundError as exc:
        raise _fail(path, where, f"unknown expectation type {kind!r}") from exc
    except Exception as exc:  # pydantic ValidationError, TypeError, GX configuration errors
        message = " ".join(str(exc).split())
        raise _fail(path, where, f"invalid kwargs: {message}") from exc
    if severity == "reject_rows" and (kind in UNLOCATABLE or not _is_row_level(built)):
        raise _fail(
            path, where, "reject_rows needs a row-level (map) expectation whose failing rows GX can name"
        )
    return checked


def _is_row_level(expectation: object) -> bool:
    """True for GX map expectations (one verdict per row): the only ones that can reject rows."""
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    return isinstance(
        expectation, ColumnMapExpectation | ColumnPairMapExpectation | MulticolumnMapExpectation
    )


def load_suite(path: Path) -> great_expectations.ExpectationSuite:
    """Load and check a reviewed suite JSON file.

    GX itself only *logs* an entry of an unknown type and drops it from the suite, and would
    accept a missing severity: here every problem is an error, so a typo can never silently
    remove a check.

    Args:
        path: the suite file, in GX 1.x suite JSON (``name``, ``expectations``, ``meta``).

    Returns:
        The suite, not attached to any data context.

    Raises:
        ValueError: naming the file and the bad entry, when the file is not JSON, the suite
            has no name or expectations, an entry has an unknown type, invalid kwargs, a
            missing or invalid ``meta.severity``, or duplicates another entry.
    """
    suite, _ = _load_checked(path)
    return suite


def _load_checked(
    path: Path,
) -> tuple[great_expectations.ExpectationSuite, list[tuple[str, dict[str, object]]]]:
    """Do the work of :func:`load_suite`, also returning each entry's severity and kwargs.

    GX turns some kwargs into Python objects (date strings become ``datetime.date``); reports
    want them as reviewed, JSON-ready.

    Args:
        path: the suite file.

    Returns:
        The suite and, in the suite's order, each expectation's ``meta.severity`` and kwargs
        as written in the file.

    Raises:
        ValueError: see :func:`load_suite`.
    """
    gx = _import_gx()
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, "file", f"cannot read JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise _fail(path, "top level", "must be a JSON object")
    unknown = sorted(set(raw) - _SUITE_KEYS)
    if unknown:
        raise _fail(path, "top level", f"unknown keys {unknown}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(path, "name", "missing or empty")
    entries = raw.get("expectations")
    if not isinstance(entries, list) or not entries:
        raise _fail(path, "expectations", "must be a non-empty list")
    if not isinstance(raw.get("meta", {}), dict):
        raise _fail(path, "meta", "must be a JSON object")

    checked = [_check_entry(path, index, entry) for index, entry in enumerate(entries)]
    seen: dict[str, int] = {}
    for index, entry in enumerate(checked):
        key = json.dumps([entry["type"], entry["kwargs"]], sort_keys=True, default=str)
        if key in seen:
            raise _fail(path, _describe(index, entry), f"duplicates expectations[{seen[key]}]")
        seen[key] = index

    reviewed = [(str(entry["meta"]["severity"]), copy.deepcopy(entry["kwargs"])) for entry in checked]
    suite = gx.ExpectationSuite(**{**raw, "expectations": checked})
    if len(suite.expectations) != len(checked):  # GX drops entries it cannot build
        raise _fail(path, "expectations", "GX rejected some entries")
    return suite, reviewed


def _scrub(message: str, limit: int = 300) -> str:
    """Mask what could be personal data in an error message.

    Quoted literals, runs of 4+ digits (ID numbers, dates) and Chinese text (names,
    addresses) are masked; double-quoted identifiers (column names) are kept.

    Args:
        message: the raw message.
        limit: maximum length of the result.

    Returns:
        The first line of the message, masked and truncated.
    """
    first = message.strip().splitlines()[0] if message.strip() else ""
    first = re.sub(r"'[^']*'", "'?'", first)
    first = re.sub(r"\d{4,}[0-9Xx]*", "#", first)
    first = re.sub(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]+", "＊", first)
    return first[:limit]


def _as_count(value: object) -> int | None:
    """Convert a count from a GX result (int, Decimal, numpy integer) to ``int``.

    Args:
        value: what GX reported.

    Returns:
        The count, or ``None`` when GX reported none (or something that is not a count).
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _error_message(exception_info: object) -> str | None:
    """Extract a scrubbed error message from a GX result's ``exception_info``.

    GX 1.x reports either one ``{"raised_exception", "exception_message", ...}`` dict or, when
    a metric failed, a dict of those keyed by metric id.

    Args:
        exception_info: ``ExpectationValidationResult.exception_info``.

    Returns:
        The scrubbed messages joined with ``"; "``, or ``None`` when nothing raised.
    """
    if not isinstance(exception_info, Mapping):
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    messages: list[str] = []
    for info in infos:
        if isinstance(info, Mapping) and info.get("raised_exception"):
            message = _scrub(str(info.get("exception_message") or "exception while validating"))
            if message not in messages:
                messages.append(message)
    return "; ".join(messages) if messages else None


def _column_name(kwargs: Mapping[str, object]) -> str | None:
    """The column(s) an expectation is about, for reports.

    Args:
        kwargs: the expectation's kwargs.

    Returns:
        ``column``; or ``column_A,column_B`` for pair expectations; or the ``column_list``
        joined with commas; or the kwargs named ``*_column`` (multi-column custom expectations);
        ``None`` for table-level expectations.
    """
    column = kwargs.get("column")
    if isinstance(column, str):
        return column
    pair = [kwargs.get("column_A"), kwargs.get("column_B")]
    if all(isinstance(name, str) for name in pair):
        return ",".join(str(name) for name in pair)
    column_list = kwargs.get("column_list")
    if isinstance(column_list, list) and column_list:
        return ",".join(str(name) for name in column_list)
    named = [
        str(value) for key, value in kwargs.items() if key.endswith("_column") and isinstance(value, str)
    ]
    return ",".join(named) if named else None


def _outcome(
    result: ExpectationValidationResult, severity: str, kwargs: dict[str, object]
) -> ExpectationOutcome:
    """Turn one GX expectation result into an :class:`ExpectationOutcome` (counts only).

    Args:
        result: GX's result for one expectation.
        severity: the expectation's ``meta.severity``.
        kwargs: the expectation's kwargs as written in the suite.

    Returns:
        The outcome.
    """
    config = result.expectation_config
    kind = config.type if config is not None else "unknown"
    details: dict[str, Any] = result.result or {}
    element_count = _as_count(details.get("element_count"))
    if element_count is None and kind in _ROW_COUNT_EXPECTATIONS:
        element_count = _as_count(details.get("observed_value"))
    error = _error_message(result.exception_info)
    return ExpectationOutcome(
        expectation=kind,
        column_name=_column_name(kwargs),
        success=bool(result.success) and error is None,
        unexpected_count=_as_count(details.get("unexpected_count")),
        element_count=element_count,
        severity=severity,
        kwargs=copy.deepcopy(kwargs),
        error=error,
    )


def _dispose(datasource: SQLDatasource) -> None:
    """Close the connection pools GX opened for a data source.

    GX never disposes its engines, and a pooled connection left open keeps, for one, a test
    from dropping its database. The data source's engine (used for the connection probe) and
    the execution engine's (used for the metrics) are distinct.

    Args:
        datasource: the data source the validation used.
    """
    try:
        datasource.get_execution_engine().close()
    except Exception:  # best effort: never mask the validation's own outcome
        logger.debug("could not close the GX execution engine", exc_info=True)
    try:
        datasource.get_engine().dispose()
    except Exception:
        logger.debug("could not dispose the GX data source engine", exc_info=True)


def _url_for_gx(url: str) -> str:
    """Re-render a SQLAlchemy URL so GX's config substitution cannot touch it.

    GX treats ``$NAME`` and ``${NAME}`` anywhere in a connection string as a variable to
    substitute from the environment (a password ``pa$HOME`` would silently become the home
    directory, ``pa$UNSET`` raises). SQLAlchemy 2.x percent-encodes ``$`` in the user,
    password, database and query when rendering, and decodes it again when parsing.

    Args:
        url: the caller's SQLAlchemy URL.

    Returns:
        An equivalent URL with no ``$`` in it.

    Raises:
        ValueError: the URL cannot be parsed, or still contains ``$`` (in the host name).
    """
    import sqlalchemy as sa

    try:
        rendered = sa.engine.make_url(url).render_as_string(hide_password=False)
    except sa.exc.ArgumentError as exc:
        # `from None`: the URL may carry a password
        raise ValueError(f"not a valid SQLAlchemy URL ({type(exc).__name__})") from None
    if "$" in rendered:
        raise ValueError("a '$' in the URL's host would be taken by GX as a variable to substitute")
    return rendered


def validate_table(
    url: str,
    schema: str,
    table: str,
    suite_path: Path,
    *,
    run_name: str,
    record_to: Path | None = None,
    file_id: int | None = None,
) -> SuiteResult:
    """Validate ``schema.table`` with the suite at ``suite_path``, in the database.

    Args:
        url: SQLAlchemy URL, TCP (``postgresql+psycopg://postgres@127.0.0.1:5432/db``) or Unix
            socket (``postgresql+psycopg://postgres@/db?host=/run/dir``).
        schema: the table's schema, e.g. ``"staging"`` (a lower-case unquoted identifier).
        table: the table, e.g. ``"household_registry_17"`` (a lower-case unquoted identifier).
        suite_path: the reviewed suite JSON (see :func:`load_suite`).
        run_name: names the GX run (recorded in GX's run id and in this module's log line).
        record_to: when given, the Data Docs folder the (scrubbed) GX result is recorded in
            (:func:`popdata.quality.docs.record_validation`); a failure to record is logged,
            never raised.
        file_id: the ledger file the batch is, for the record.

    Returns:
        Counts only, plus the failing line numbers of ``reject_rows`` expectations (the table
        must then have a ``line_no`` column): no value from the table is returned or logged.
        An expectation that raised (e.g. a column missing from the table) is an unsuccessful
        outcome with ``error`` set.

    Raises:
        ValueError: bad identifiers or URL, or an invalid suite (see :func:`load_suite`).
        great_expectations.datasource.fluent.interfaces.TestConnectionError: the server does
            not answer, or the table does not exist or cannot be read.
    """
    for label, identifier in (("schema", schema), ("table", table)):
        if not _IDENTIFIER.fullmatch(identifier):
            raise ValueError(f"{label} {identifier!r} is not a lower-case unquoted PostgreSQL identifier")
    return _validate(
        url,
        f"{schema}.{table}",
        lambda datasource: datasource.add_table_asset(
            name=f"{schema}.{table}", table_name=table, schema_name=schema
        ),
        suite_path,
        run_name=run_name,
        record_to=record_to,
        file_id=file_id,
    )


def validate_query(
    url: str, name: str, query: str, suite_path: Path, *, run_name: str, record_to: Path | None = None
) -> SuiteResult:
    """Validate the rows of a reviewed SELECT (a cross-feed check) with a suite, in the database.

    Args:
        url: SQLAlchemy URL (see :func:`validate_table`).
        name: names the batch (e.g. the check's file name), for GX and the log.
        query: one SELECT statement, read from a reviewed ``.sql`` file, never built from input.
        suite_path: the reviewed suite JSON; ``reject_rows`` is refused here (a query's rows
            belong to no file, so there is nothing to reject).
        run_name: names the GX run.
        record_to: the Data Docs folder to record the result in (see :func:`validate_table`).

    Returns:
        Counts only (see :func:`validate_table`).

    Raises:
        ValueError: bad URL, an invalid suite, or a ``reject_rows`` gate in it.
    """
    _, reviewed = _load_checked(suite_path)
    if any(severity == "reject_rows" for severity, _ in reviewed):
        raise ValueError(f"{suite_path}: reject_rows has no meaning for a query batch; use warn")
    return _validate(
        url,
        name,
        lambda datasource: datasource.add_query_asset(name=name, query=query),
        suite_path,
        run_name=run_name,
        record_to=record_to,
        file_id=None,
    )


def _validate(
    url: str,
    label: str,
    add_asset: Callable[[Any], Any],
    suite_path: Path,
    *,
    run_name: str,
    record_to: Path | None,
    file_id: int | None,
) -> SuiteResult:
    """Run a suite on one whole-table batch of the asset ``add_asset`` creates (see :func:`validate_table`)."""
    gx_url = _url_for_gx(url)
    # What the reviewed file says, by position (GX reorders results and adds batch_id to kwargs).
    suite, reviewed = _load_checked(suite_path)
    suite_name = suite.name

    gx = _import_gx()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    with _quiet():
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        datasource = context.data_sources.add_sql(
            name="popdata", connection_string=gx_url, create_temp_table=False
        )
        try:
            batch_definition = add_asset(datasource).add_batch_definition_whole_table("whole_table")
            suite = context.suites.add(suite)
            position = {exp.id: index for index, exp in enumerate(suite.expectations)}
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(
                    name=f"{suite_name}:{uuid.uuid4().hex}", data=batch_definition, suite=suite
                )
            )
            run = definition.run(result_format=dict(RESULT_FORMAT), run_id=RunIdentifier(run_name=run_name))
            outcomes: list[ExpectationOutcome | None] = [None] * len(reviewed)
            for result in run.results:
                index = position.get(result.expectation_config.id if result.expectation_config else None)
                if index is None or outcomes[index] is not None:
                    raise RuntimeError(
                        f"GX returned a result that matches no expectation of suite {suite_name!r}"
                    )
                outcomes[index] = _outcome(result, *reviewed[index])
            missing = [index for index, outcome in enumerate(outcomes) if outcome is None]
            if missing:
                raise RuntimeError(
                    f"GX returned no result for expectations {missing} of suite {suite_name!r}"
                )
            final = [outcome for outcome in outcomes if outcome is not None]
            to_locate = [
                index
                for index, outcome in enumerate(final)
                if outcome.severity == "reject_rows"
                and outcome.error is None
                and (outcome.unexpected_count or 0) > 0
            ]
            if to_locate:
                lines = _locate_failing_rows(
                    gx,
                    context,
                    batch_definition,
                    suite,
                    [suite.expectations[i] for i in to_locate],
                    run_name,
                    max(final[i].unexpected_count or 0 for i in to_locate),
                )
                for index, found in zip(to_locate, lines, strict=True):
                    final[index] = dataclasses.replace(final[index], failing_lines=found)
        finally:
            _dispose(datasource)
    if record_to is not None:
        try:
            from popdata.quality.docs import record_validation

            record_validation(run, suite, file_id=file_id, root=record_to)
        except Exception:  # Data Docs never fail a load
            logger.warning("could not record the validation of %s for Data Docs", label, exc_info=True)

    success = all(outcome.success for outcome in final)
    blocked = any(not outcome.success and outcome.severity == "quarantine_file" for outcome in final)
    for outcome in final:
        if not outcome.success or outcome.failing_lines:
            logger.warning(
                "%s run %s: %s %s (%s) %s: unexpected %s of %s%s",
                label,
                run_name,
                outcome.expectation,
                outcome.column_name or "(table)",
                outcome.severity,
                "failed" if not outcome.success else "passed within mostly",
                outcome.unexpected_count,
                outcome.element_count,
                f"; error: {outcome.error}" if outcome.error else "",
            )
    logger.info(
        "%s run %s: suite %s success=%s blocked=%s (%d expectations)",
        label,
        run_name,
        suite_name,
        success,
        blocked,
        len(final),
    )
    return SuiteResult(suite=suite_name, success=success, blocked=blocked, outcomes=tuple(final))


def _locate_failing_rows(
    gx: ModuleType,
    context: Any,
    batch_definition: Any,
    suite: Any,
    expectations: list[Any],
    run_name: str,
    max_unexpected: int,
) -> list[tuple[int, ...]]:
    """Line numbers of the rows each of ``expectations`` (row-level, same batch) found bad.

    One more validation of only those expectations with :data:`LINES_RESULT_FORMAT`: GX adds
    the ``line_no`` of every unexpected row to the result. Only the numbers are kept.
    """
    from great_expectations.core.run_identifier import RunIdentifier

    located = gx.ExpectationSuite(
        name=f"{suite.name}__lines",
        expectations=[_unbound_copy(e) for e in expectations],
    )
    located = context.suites.add(located)
    order = {e.id: i for i, e in enumerate(located.expectations)}
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(
            name=f"{located.name}:{uuid.uuid4().hex}", data=batch_definition, suite=located
        )
    )
    result_format = {**LINES_RESULT_FORMAT, "partial_unexpected_count": max(1, max_unexpected)}
    run = definition.run(result_format=result_format, run_id=RunIdentifier(run_name=run_name))
    lines: list[tuple[int, ...]] = [()] * len(expectations)
    for result in run.results:
        index = order.get(result.expectation_config.id if result.expectation_config else None)
        if index is not None:
            lines[index] = _failing_lines(result.result or {})
    return lines


def _unbound_copy(expectation: Any) -> Any:
    """A copy of a suite's expectation that belongs to no suite (GX refuses to share one)."""
    twin = copy.copy(expectation)
    twin.id = None
    return twin


def _failing_lines(details: Mapping[str, Any]) -> tuple[int, ...]:
    """The ``line_no`` values of GX's ``unexpected_index_list``, and nothing else from it.

    GX gives ``[{"line_no": [3, 9]}]`` when values are excluded, ``[{"line_no": 3, <col>: <value>},
    …]`` otherwise; both are accepted, values are dropped.

    Raises:
        RuntimeError: GX found unexpected rows but returned another number of line numbers (the
            rows would be counted as failing but not all could be rejected).
    """
    entries = details.get("unexpected_index_list")
    count = _as_count(details.get("unexpected_count")) or 0
    found: set[int] = set()
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping):
            value = entry.get(LINE_COLUMN)
            for line in value if isinstance(value, list) else [value]:
                if line is not None:
                    found.add(int(line))
    if len(found) != count:
        raise RuntimeError(
            f"GX reported {count} failing rows for a reject_rows expectation but {len(found)} line numbers"
        )
    return tuple(sorted(found))
