"""Core tables and current-version views of every incremental feed.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0002_incremental_feeds.sql"
_FEEDS = (
    "annual_targets",
    "assistance_rolls",
    "birth_approvals",
    "social_fee_cases",
    "birth_certificates",
    "death_records",
    "prenatal_checks",
    "birth_registrations",
    "hukou_cancellations",
    "migrant_registrations",
)


def upgrade() -> None:
    """Apply ``sql/0002_incremental_feeds.sql``."""
    op.execute(_SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    """Drop the views and tables of revision 0002 (their data is lost)."""
    for feed in _FEEDS:
        op.execute(f"DROP VIEW IF EXISTS core.{feed}")
        op.execute(f"DROP TABLE IF EXISTS core.{feed}_rows")
