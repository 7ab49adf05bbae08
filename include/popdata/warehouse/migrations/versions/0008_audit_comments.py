"""Bilingual COMMENTs on the audit columns that lacked them.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0008_audit_comments.sql"


def upgrade() -> None:
    """Apply ``sql/0008_audit_comments.sql``."""
    op.execute(_SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    """Comments only: nothing to undo that a reader would miss; they are removed."""
    op.execute("COMMENT ON COLUMN audit.dq_results.dq_result_id IS NULL")
    for column in ("file_id", "line_no", "column_name", "reason_code", "masked_value"):
        op.execute(f"COMMENT ON COLUMN audit.row_warnings.{column} IS NULL")
