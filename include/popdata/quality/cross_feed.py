"""Cross-feed suites: what must hold *between* agencies, checked on the published warehouse.

Each check is two reviewed files in ``expectations/cross_feed/``: ``<check>.sql``, one SELECT
over ``core`` whose rows are the batch (e.g. one row per police birth registration that
quotes a certificate number, with a boolean ``certificate_found``), and ``<check>.json``, the
GX suite (``cross_feed__<check>``) validated on those rows in PostgreSQL
(:func:`popdata.quality.gx.validate_query`). Thresholds are ``mostly``.

A cross-feed failure is recorded in ``audit.dq_results`` (``file_id`` null, ``batch``
``cross_feed:<as-of date>``; a re-run of the same batch replaces its rows), recorded for
Data Docs and alerted; it never blocks a file or its receipt, so the only gate a cross-feed
suite may use is ``warn``. The DAG ``quality__cross_feed`` runs them after the feeds publish
(docs/quality.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from popdata.config.settings import Settings
from popdata.quality.gx import SuiteResult

logger = logging.getLogger(__name__)

#: Folder of the cross-feed checks, under the expectations directory.
CROSS_FEED_DIR = "cross_feed"


@dataclass(frozen=True, slots=True)
class CrossFeedCheck:
    """One reviewed cross-feed check: its name, suite file and batch query."""

    name: str
    suite_path: Path
    query: str


@dataclass(frozen=True, slots=True)
class CrossFeedOutcome:
    """The result of one check in one batch."""

    check: CrossFeedCheck
    result: SuiteResult


def batch_key(as_of: date) -> str:
    """The ``audit.dq_results.batch`` of the cross-feed run for one as-of date (the run's interval)."""
    return f"cross_feed:{as_of.isoformat()}"


def load_checks(expectations_dir: Path) -> tuple[CrossFeedCheck, ...]:
    """Every check of ``<expectations_dir>/cross_feed/``, by name.

    Raises:
        ValueError: a suite without its ``.sql`` (or the reverse), a gate other than ``warn``, or
            a query that is not one SELECT statement.
    """
    folder = Path(expectations_dir) / CROSS_FEED_DIR
    if not folder.is_dir():
        return ()
    suites = {p.stem: p for p in folder.glob("*.json")}
    queries = {p.stem: p for p in folder.glob("*.sql")}
    unpaired = sorted(set(suites) ^ set(queries))
    if unpaired:
        raise ValueError(f"{folder}: every check needs <name>.json and <name>.sql; unpaired: {unpaired}")
    checks = []
    for name in sorted(suites):
        gates = {
            e.get("meta", {}).get("severity")
            for e in json.loads(suites[name].read_text("utf-8"))["expectations"]
        }
        if gates != {"warn"}:
            raise ValueError(
                f"{suites[name]}: a cross-feed suite only warns (never blocks a file); found {sorted(map(str, gates))}"
            )
        query = _single_select(queries[name])
        checks.append(CrossFeedCheck(name=name, suite_path=suites[name], query=query))
    return tuple(checks)


def _single_select(path: Path) -> str:
    """The query of a ``.sql`` file without comments or a final semicolon, checked to be one SELECT."""
    lines = [
        line for line in path.read_text(encoding="utf-8").splitlines() if not line.strip().startswith("--")
    ]
    query = "\n".join(lines).strip().rstrip(";").strip()
    if not query.lower().startswith(("select", "with")) or ";" in query:
        raise ValueError(f"{path}: must hold exactly one SELECT statement")
    return query


def run_checks(
    engine: sa.Engine,
    settings: Settings,
    *,
    as_of: date,
    checks: Sequence[CrossFeedCheck] | None = None,
) -> list[CrossFeedOutcome]:
    """Validate every cross-feed check and record the batch in ``audit.dq_results``.

    Args:
        engine: the warehouse.
        settings: for the expectations folder and the Data Docs folder.
        as_of: the run's as-of date: the batch key (a re-run replaces the same batch).
        checks: which checks (default: all of :func:`load_checks`).

    Returns:
        One outcome per check, in name order.
    """
    from popdata.quality import docs
    from popdata.quality.gx import validate_query

    chosen = load_checks(settings.expectations_dir) if checks is None else tuple(checks)
    batch = batch_key(as_of)
    url = engine.url.render_as_string(hide_password=False)
    outcomes = [
        CrossFeedOutcome(
            check,
            validate_query(
                url,
                check.name,
                check.query,
                check.suite_path,
                run_name=batch.replace(":", "_"),
                record_to=docs.docs_root(settings),
            ),
        )
        for check in chosen
    ]
    with engine.begin() as conn:
        for outcome in outcomes:
            conn.execute(
                sa.text("DELETE FROM audit.dq_results WHERE batch = :batch AND suite = :suite"),
                {"batch": batch, "suite": outcome.result.suite},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO audit.dq_results (file_id, batch, suite, expectation, column_name, success,"
                    " unexpected_count, element_count, severity)"
                    " VALUES (NULL, :batch, :suite, :expectation, :column_name, :success, :unexpected_count,"
                    " :element_count, :severity)"
                ),
                [
                    {
                        "batch": batch,
                        "suite": outcome.result.suite,
                        "expectation": o.expectation,
                        "column_name": o.column_name,
                        "success": o.success,
                        "unexpected_count": o.unexpected_count,
                        "element_count": o.element_count,
                        "severity": o.severity,
                    }
                    for o in outcome.result.outcomes
                ],
            )
    for outcome in outcomes:
        if not outcome.result.success:
            failed = outcome.result.failed[0]
            logger.warning(
                "cross-feed check %s failed: %s of %s rows unexpected",
                outcome.check.name,
                failed.unexpected_count,
                failed.element_count,
            )
    return outcomes
