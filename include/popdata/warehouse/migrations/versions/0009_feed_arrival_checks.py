"""audit.feed_arrival_checks: is a feed's next file overdue by its cadence (issue 7).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

from popdata.warehouse.scripts import statements

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0009_feed_arrival_checks.sql"


def upgrade() -> None:
    """Apply ``sql/0009_feed_arrival_checks.sql``."""
    for statement in statements(_SQL.read_text(encoding="utf-8")):
        op.execute(statement)


def downgrade() -> None:
    """Drop the table (the checks are recomputed from the ledger by the next run)."""
    op.execute("DROP TABLE audit.feed_arrival_checks")
