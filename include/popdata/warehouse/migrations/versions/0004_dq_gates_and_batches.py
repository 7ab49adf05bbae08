"""audit.dq_results: the gate vocabulary (reject_rows / quarantine_file / warn) and cross-feed batches.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0004_dq_gates_and_batches.sql"


def upgrade() -> None:
    """Apply ``sql/0004_dq_gates_and_batches.sql``."""
    op.execute(_SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    """Drop the cross-feed results and the batch column; map the gates back to critical/warning."""
    op.execute("DELETE FROM audit.dq_results WHERE batch IS NOT NULL")
    op.execute("ALTER TABLE audit.dq_results DROP CONSTRAINT dq_results_file_or_batch")
    op.execute("ALTER TABLE audit.dq_results DROP CONSTRAINT dq_results_severity")
    op.execute("DROP INDEX audit.dq_results_batch")
    op.execute("ALTER TABLE audit.dq_results DROP COLUMN batch")
    op.execute(
        "UPDATE audit.dq_results SET severity = CASE severity WHEN 'quarantine_file' THEN 'critical'"
        " ELSE 'warning' END"
    )
