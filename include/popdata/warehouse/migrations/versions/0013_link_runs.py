"""``audit.link_runs``: what each linkage run read, so that a run with nothing new can skip (issue 9).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

from popdata.warehouse.scripts import statements

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0013_link_runs.sql"


def upgrade() -> None:
    """Apply ``sql/0013_link_runs.sql``."""
    for statement in statements(_SQL.read_text(encoding="utf-8")):
        op.execute(statement)


def downgrade() -> None:
    """Drop ``audit.link_runs``."""
    op.execute("DROP TABLE audit.link_runs")
