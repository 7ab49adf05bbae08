"""Great Expectations Data Docs: record each validation, build GX's static site off the critical path.

Two steps, so that building the site never slows down or fails a load:

1. :func:`record_validation` runs right after a suite was validated (inside the load). It writes
   one small JSON file, ``<root>/records/<suite>/<file_<id>>__<run>.json``, holding the
   validation result (scrubbed: counts only, see below) and the suite. It is a plain atomic file
   write: no GX context, no lock. The key is deterministic (suite + file id + run id), so
   validating the same file again in the same run overwrites its record and never adds one.
2. :func:`build_data_docs` runs at the end of every ingest DAG run (a teardown task). Under a
   file lock it syncs the records into a file-backed GX project under ``<root>/gx/`` (its
   expectations and validation-results stores) and lets GX's own ``SiteBuilder`` render the
   site into ``<root>/site/`` — ``index.html`` plus one page per suite and per validation. Only
   the records that changed since the last build are re-rendered. It never raises.

Layout under ``root`` (default ``<POPDATA_VAR>/gx/``, see :func:`docs_root`)::

    records/<suite>/<file_17>__<run>.json   what record_validation wrote (the source of truth)
    gx/great_expectations.yml, gx/expectations/, gx/uncommitted/validations/   GX's project
    site/index.html, site/validations/..., site/expectations/...                the Data Docs
    .data_docs.lock, .data_docs_state.json                                       build bookkeeping

Nothing personal is written: the platform validates with GX's ``SUMMARY`` format with
``partial_unexpected_count: 0`` (counts only), and :func:`scrub_result` removes, defensively,
every list of unexpected values or indexes, ``details`` (value counts), non-numeric observed
values (a max date, a distinct-value list), exception tracebacks, and masks quoted literals,
digit runs and Chinese text in exception messages.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from popdata.config.settings import Settings

__all__ = [
    "SITE_NAME",
    "build_data_docs",
    "docs_root",
    "index_path",
    "record_validation",
    "scrub_result",
]

logger = logging.getLogger(__name__)

#: The Data Docs site's name in the GX project (``great_expectations.yml``).
SITE_NAME: Final = "popdata"
#: Version tag of the record files written by :func:`record_validation`.
RECORD_FORMAT: Final = "popdata.data_docs.record/1"

_RECORDS: Final = "records"
_PROJECT: Final = "gx"
_SITE: Final = "site"
_LOCK: Final = ".data_docs.lock"
_STATE: Final = ".data_docs_state.json"

# Keys of an expectation's ``result`` that may carry values from the data.
_VALUE_KEYS: Final = frozenset(
    {
        "unexpected_list",
        "partial_unexpected_list",
        "unexpected_index_list",
        "partial_unexpected_index_list",
        "unexpected_index_query",
        "unexpected_index_column_names",
        "partial_unexpected_counts",
        "unexpected_rows",
        "details",
    }
)
# The parts of a validation result's ``meta`` that are kept (none carries data values).
_META_KEYS: Final = frozenset(
    {
        "great_expectations_version",
        "batch_spec",
        "batch_markers",
        "active_batch_definition",
        "validation_id",
        "checkpoint_id",
        "run_id",
        "validation_time",
    }
)
# The parts of ``meta.batch_spec`` that are kept (a query batch's ``query`` may quote literals).
_BATCH_SPEC_KEYS: Final = frozenset({"type", "data_asset_name", "table_name", "schema_name"})
_SAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]+")


def docs_root(settings: Settings) -> Path:
    """The Data Docs folder for these settings.

    ``settings.data_docs`` (``POPDATA_DATA_DOCS``) when set, else ``<settings.var>/gx``.

    Args:
        settings: the process's settings.

    Returns:
        The folder under which records, the GX project and the site live.
    """
    return settings.data_docs or settings.var / "gx"


def index_path(root: Path) -> Path:
    """Where the site's ``index.html`` is (or will be) under ``root``.

    Args:
        root: the Data Docs folder.

    Returns:
        ``<root>/site/index.html``; it exists only once a build succeeded.
    """
    return Path(root) / _SITE / "index.html"


# --- recording ------------------------------------------------------------------------------------


def _scrub_message(message: str, limit: int = 300) -> str:
    """Mask what could be data in an exception message (quoted literals, digit runs, Chinese).

    Args:
        message: GX's exception message.
        limit: maximum length of the result.

    Returns:
        The first line, masked and truncated.
    """
    first = message.strip().splitlines()[0] if message.strip() else ""
    first = re.sub(r"'[^']*'", "'?'", first)
    first = re.sub(r'"[^"]*"', '"?"', first)
    first = re.sub(r"\d{4,}[0-9Xx]*", "#", first)
    first = re.sub(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]+", "＊", first)
    return first[:limit]


def _scrub_exception_info(info: object) -> object:
    """Drop tracebacks and mask messages in an ``exception_info`` (flat or keyed by metric).

    Args:
        info: ``ExpectationValidationResult.exception_info`` as JSON.

    Returns:
        The same structure without tracebacks and with masked messages.
    """
    if not isinstance(info, dict):
        return info
    if "raised_exception" in info or "exception_message" in info:
        scrubbed = dict(info)
        scrubbed["exception_traceback"] = None
        if scrubbed.get("exception_message"):
            scrubbed["exception_message"] = _scrub_message(str(scrubbed["exception_message"]))
        return scrubbed
    return {key: _scrub_exception_info(value) for key, value in info.items()}


def _is_number(value: object) -> bool:
    """Whether ``value`` is a plain JSON number (not a bool).

    Args:
        value: anything.

    Returns:
        True for ints and floats.
    """
    return isinstance(value, int | float) and not isinstance(value, bool)


def scrub_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a validation result's JSON with nothing from the data in it but counts.

    Removes every unexpected-values / -index list and query, ``details``, non-numeric
    ``observed_value`` s, exception tracebacks, and unknown ``meta`` keys; masks exception
    messages. GX's renderer needs ``unexpected_percent`` whenever ``unexpected_count`` is
    set: it is computed from ``element_count`` when GX left it out, and a count without a
    base (distinct-value expectations) is dropped rather than rendered wrongly.

    Args:
        result: ``ExpectationSuiteValidationResult.to_json_dict()``.

    Returns:
        The scrubbed copy (the input is not changed).
    """
    scrubbed: dict[str, Any] = json.loads(json.dumps(result, default=str))
    for item in scrubbed.get("results") or []:
        if not isinstance(item, dict):
            continue
        details = item.get("result")
        if isinstance(details, dict):
            for key in _VALUE_KEYS & set(details):
                del details[key]
            if "observed_value" in details and not (
                details["observed_value"] is None or _is_number(details["observed_value"])
            ):
                details["observed_value"] = None
            if details.get("unexpected_count") is not None and "unexpected_percent" not in details:
                count, total = details.get("unexpected_count"), details.get("element_count")
                if isinstance(count, int | float) and isinstance(total, int | float) and total:
                    details["unexpected_percent"] = 100.0 * count / total
                else:
                    del details["unexpected_count"]
        if "exception_info" in item:
            item["exception_info"] = _scrub_exception_info(item["exception_info"])
    meta = scrubbed.get("meta")
    if isinstance(meta, dict):
        meta = {key: value for key, value in meta.items() if key in _META_KEYS}
        if isinstance(meta.get("batch_spec"), dict):
            meta["batch_spec"] = {k: v for k, v in meta["batch_spec"].items() if k in _BATCH_SPEC_KEYS}
        scrubbed["meta"] = meta
    return scrubbed


def _as_json(obj: object, what: str) -> dict[str, Any]:
    """The JSON dict of a GX object (``to_json_dict()``) or of a mapping.

    Args:
        obj: a GX result or suite, or its JSON dict.
        what: names it in errors.

    Returns:
        A JSON-ready copy.

    Raises:
        TypeError: ``obj`` is neither.
    """
    to_json = getattr(obj, "to_json_dict", None)
    if callable(to_json):
        raw = to_json()
    elif isinstance(obj, Mapping):
        raw = obj
    else:
        raise TypeError(f"{what} must be a GX object with to_json_dict() or a mapping, not {type(obj)!r}")
    return dict(json.loads(json.dumps(raw, default=str)))


def _safe_name(name: str, limit: int = 80) -> str:
    """A file-name-safe form of ``name``; a short hash keeps altered names distinct.

    Args:
        name: a suite name or run id.
        limit: maximum length of the readable part.

    Returns:
        ``name`` itself when already safe, else its safe form plus ``-<8 hex>``.
    """
    safe = _SAFE_NAME.sub("_", name).strip("._")[:limit] or "x"
    if safe == name:
        return safe
    return f"{safe}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"


def _write_atomically(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON to ``path`` through a temporary file and a rename (readers never see half).

    Args:
        path: the target file.
        payload: what to write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, ensure_ascii=False, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def record_validation(
    result: object,
    suite: object,
    *,
    file_id: int | None,
    root: Path,
    run_id: str | None = None,
) -> Path:
    """Persist one GX validation result and its suite so :func:`build_data_docs` can render them.

    Cheap (one small JSON file, written atomically; GX is not imported) and keyed
    deterministically: ``<root>/records/<suite>/file_<file_id>__<run>.json``, where ``run`` is
    ``run_id`` or, when not given, the result's ``meta.run_id.run_name``. Recording the same
    suite, file and run again overwrites the record.

    Args:
        result: the ``ExpectationSuiteValidationResult`` that ``ValidationDefinition.run()``
            (or a checkpoint) returned, or its ``to_json_dict()``. It is scrubbed with
            :func:`scrub_result` before anything is written.
        suite: the ``ExpectationSuite`` that was validated, or its ``to_json_dict()``.
        file_id: the ledger's file id (``None`` for a table that is not a file).
        root: the Data Docs folder (see :func:`docs_root`).
        run_id: names the run; default the result's GX run name.

    Returns:
        The record file.

    Raises:
        TypeError: ``result`` or ``suite`` is not a GX object or a mapping.
        ValueError: the suite has no name.
        OSError: the record cannot be written.
    """
    result_json = scrub_result(_as_json(result, "result"))
    suite_json = _as_json(suite, "suite")
    suite_name = suite_json.get("name") or result_json.get("suite_name")
    if not isinstance(suite_name, str) or not suite_name:
        raise ValueError("the suite has no name")
    raw_meta = result_json.get("meta")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    raw_run = meta.get("run_id")
    gx_run: dict[str, Any] = raw_run if isinstance(raw_run, dict) else {}
    run_name = run_id or str(gx_run.get("run_name") or "run")
    batch = f"file_{file_id}" if file_id is not None else "table"
    path = Path(root) / _RECORDS / _safe_name(suite_name) / f"{batch}__{_safe_name(run_name)}.json"
    _write_atomically(
        path,
        {
            "format": RECORD_FORMAT,
            "suite_name": suite_name,
            "file_id": file_id,
            "run_name": run_name,
            "batch_identifier": batch,
            "run_time": gx_run.get("run_time") or meta.get("validation_time"),
            "recorded_at": datetime.now(UTC).isoformat(),
            "suite": suite_json,
            "result": result_json,
        },
    )
    return path


# --- building -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``<root>/.data_docs.lock`` (waits for other builders).

    Args:
        root: the Data Docs folder.
    """
    root.mkdir(parents=True, exist_ok=True)
    with open(root / _LOCK, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _import_gx() -> Any:
    """Import great_expectations with analytics off and its loggers at ERROR unless configured.

    Returns:
        The ``great_expectations`` module.
    """
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.ERROR)
    import great_expectations as gx

    return gx


def _site_config() -> dict[str, Any]:
    """The Data Docs site configuration: GX's ``SiteBuilder`` writing to ``<root>/site/``.

    Returns:
        A ``data_docs_sites`` entry (``base_directory`` is relative to ``<root>/gx``).
    """
    return {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": f"../{_SITE}/"},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }


def _load_state(root: Path) -> dict[str, dict[str, Any]]:
    """What the last successful build synced: record path → ``{"mtime_ns", "key"}``.

    Args:
        root: the Data Docs folder.

    Returns:
        The state, empty when there is none or it is unreadable.
    """
    try:
        raw = json.loads((root / _STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    records = raw.get("records") if isinstance(raw, dict) else None
    return {k: v for k, v in records.items() if isinstance(v, dict)} if isinstance(records, dict) else {}


def _sync_record(context: Any, path: Path) -> tuple[Any, Any]:
    """Put one record's suite and result into the GX project's stores.

    Args:
        context: the file-backed GX data context.
        path: the record file.

    Returns:
        The validation result's key and the suite's key in the stores.

    Raises:
        ValueError, KeyError, TypeError, OSError: the record is unreadable or malformed.
    """
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResultSchema,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    record = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise ValueError("not a popdata Data Docs record")
    suite_name = str(record["suite_name"])
    result_json = scrub_result(record["result"])  # again: records are inputs too
    result_json["suite_name"] = suite_name
    result = ExpectationSuiteValidationResultSchema().load(result_json)
    gx = _import_gx()
    suite_json = copy.deepcopy(record["suite"])
    suite_json["name"] = suite_name
    suite = gx.ExpectationSuite(**suite_json)

    suite_key = ExpectationSuiteIdentifier(name=suite_name)
    context.expectations_store.set(suite_key, suite)
    run_time = record.get("run_time") or record.get("recorded_at")
    result_key = ValidationResultIdentifier(
        expectation_suite_identifier=suite_key,
        run_id=RunIdentifier(run_name=_safe_name(str(record["run_name"])), run_time=run_time),
        batch_identifier=_safe_name(str(record["batch_identifier"])),
    )
    context.validation_results_store.set(result_key, result)
    return result_key, suite_key


def _build(root: Path) -> Path | None:
    """Do the work of :func:`build_data_docs` (caller holds the lock and catches errors).

    Args:
        root: the Data Docs folder.

    Returns:
        The index page, or ``None`` when nothing was ever recorded.
    """
    records_dir = root / _RECORDS
    records = sorted(records_dir.glob("*/*.json")) if records_dir.is_dir() else []
    index = index_path(root)
    state = _load_state(root)
    current = {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in records}
    changed = [rel for rel, mtime in current.items() if state.get(rel, {}).get("mtime_ns") != mtime]
    removed = [rel for rel in state if rel not in current]
    if not records and not state:
        logger.info("Data Docs: nothing recorded under %s yet", records_dir)
        return None
    if not changed and not removed and index.is_file():
        return index

    gx = _import_gx()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = gx.get_context(mode="file", project_root_dir=str(root))
    if context.variables.data_docs_sites != {SITE_NAME: _site_config()}:
        context.variables.data_docs_sites = {SITE_NAME: _site_config()}
        context.variables.save()

    def stored_key(entry: Mapping[str, Any]) -> Any:
        suite, run_name, run_time, batch = entry["key"]
        return ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite),
            run_id=RunIdentifier(run_name=run_name, run_time=run_time),
            batch_identifier=batch,
        )

    new_state = {rel: entry for rel, entry in state.items() if rel in current}
    touched: list[Any] = []
    for rel in changed:
        try:
            result_key, suite_key = _sync_record(context, root / rel)
        except Exception as exc:  # one bad record must not hide the others
            logger.warning("Data Docs: skipping record %s: %s: %s", rel, type(exc).__name__, exc)
            new_state.pop(rel, None)
            continue
        old = state.get(rel)
        key = [
            result_key.expectation_suite_identifier.name,
            result_key.run_id.run_name,
            result_key.run_id.to_tuple()[1],
            result_key.batch_identifier,
        ]
        if old and old.get("key") and list(old["key"]) != key:
            with contextlib.suppress(Exception):
                context.validation_results_store.remove_key(stored_key(old))
        new_state[rel] = {"mtime_ns": current[rel], "key": key}
        touched.extend([result_key, suite_key])
    for rel in removed:
        with contextlib.suppress(Exception):
            context.validation_results_store.remove_key(stored_key(state[rel]))

    # An incremental build renders only the touched pages; the index always lists every page.
    # Without a previous index, or when records were removed, everything is rebuilt.
    incremental = index.is_file() and not removed and bool(touched)
    context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=touched if incremental else None)
    _write_atomically(root / _STATE, {"records": new_state})
    return index if index.is_file() else None


def build_data_docs(root: Path) -> Path | None:
    """Build GX's Data Docs site from everything recorded under ``root``; never raises.

    Serialised across processes with an ``fcntl`` lock on ``<root>/.data_docs.lock``: several
    DAG runs may call it at once, each waits for the previous build and then renders only what
    changed since.

    Args:
        root: the Data Docs folder (see :func:`docs_root`); created when missing.

    Returns:
        The site's ``index.html`` (``<root>/site/index.html``), or ``None`` when nothing was
        recorded yet or the build failed (the error is logged).
    """
    try:
        root = Path(root).resolve()
        with _locked(root):
            return _build(root)
    except Exception:
        logger.exception("Data Docs: building the site under %s failed (the load is not affected)", root)
        return None
