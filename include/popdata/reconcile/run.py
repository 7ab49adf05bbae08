"""One reconciliation run: every mart and work list of the contract, as of a reference date.

:func:`reconcile` rebuilds the birth tables (:mod:`popdata.reconcile.births`) and the other
marts and work lists (:mod:`popdata.reconcile.other`) in **one transaction** (an analyst never
sees half a run; a crash leaves the previous run's tables), then writes the work lists to the
agencies' outboxes (:mod:`popdata.outbox.worklists`). The reference date is the run's logical
date, never the wall clock, so re-running old drops gives the same answers and re-running the
same date gives identical tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlalchemy as sa


@dataclass(slots=True)
class ReconcileResult:
    """Rows written per table and the work-list files of one run."""

    reference_date: date
    rows: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        """One readable line per table, then the number of work-list files."""
        lines = [f"reconciliation as of {self.reference_date}:"]
        lines += [f"  {table:<44}{count:>9}" for table, count in sorted(self.rows.items())]
        lines.append(f"  {len(self.files)} work-list files written")
        return "\n".join(lines)


def reconcile(engine: sa.Engine, outbox: Path, reference_date: date) -> ReconcileResult:
    """Rebuild every reconciliation table as of ``reference_date`` and write the work lists."""
    from popdata.outbox.worklists import write_work_lists
    from popdata.reconcile import births, other

    result = ReconcileResult(reference_date)
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(715006)"))  # one reconciliation at a time
        result.rows.update(births.refresh_births(conn, reference_date))
        result.rows.update(other.refresh_other(conn, reference_date))
    result.files = write_work_lists(engine, outbox, reference_date)
    return result
