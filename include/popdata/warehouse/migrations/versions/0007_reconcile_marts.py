"""Reconciliation marts other than births: deaths, approvals, checks, fees, completeness, quality, audits.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0007_reconcile_marts.sql"

_TABLES = (
    "ops.paid_after_death",
    "ops.deaths_not_cancelled",
    "mart.cross_department_audits",
    "mart.linkage_quality",
    "mart.feed_quality",
    "mart.registry_completeness",
    "mart.social_fee",
    "mart.prenatal_check_progress",
    "mart.fp_approvals",
    "mart.death_reconciliation",
)


def upgrade() -> None:
    """Apply ``sql/0007_reconcile_marts.sql``."""
    op.execute(_SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    """Drop the tables (they are derived: the next reconciliation run after an upgrade refills them)."""
    for table in _TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
