"""Birth reconciliation: consolidated births, sex ratio at birth, warning villages, registration gaps, DSE, work lists.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0006_birth_marts.sql"

_TABLES = (
    "ops.registrations_without_certificate",
    "ops.unregistered_births",
    "mart.birth_dse",
    "mart.birth_registration_gaps",
    "mart.warning_villages",
    "mart.sex_ratio_at_birth",
    "mart.births",
)


def upgrade() -> None:
    """Apply ``sql/0006_birth_marts.sql``."""
    op.execute(_SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    """Drop the birth marts and work lists (they are rebuilt by the next reconciliation run)."""
    for table in _TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
