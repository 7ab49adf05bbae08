"""Foundation: schemas, audit trail, household registry, regions, mart.population.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0001_foundation.sql"


def upgrade() -> None:
    """Apply ``sql/0001_foundation.sql``."""
    op.execute(_SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    """Drop everything the foundation created (all warehouse data is lost)."""
    for schema in ("mart", "ops", "core", "pii", "staging", "audit"):
        op.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
