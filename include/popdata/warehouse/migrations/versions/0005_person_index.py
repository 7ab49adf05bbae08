"""The master person index: persons, exact id links, key merges, record links, review and correction lists.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0005_person_index.sql"


def upgrade() -> None:
    """Apply ``sql/0005_person_index.sql``."""
    op.execute(_SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    """Drop the person index (every person key, link and merge is lost)."""
    op.execute("DROP TABLE IF EXISTS ops.id_corrections")
    op.execute("DROP TABLE IF EXISTS ops.clerical_review")
    op.execute("DROP TABLE IF EXISTS core.record_link")
    op.execute("DROP VIEW IF EXISTS core.person_current_key")
    op.execute("DROP FUNCTION IF EXISTS core.current_person_key(bigint)")
    op.execute("DROP TABLE IF EXISTS core.person_key_merges")
    op.execute("DROP TABLE IF EXISTS core.person_id_numbers")
    op.execute("DROP TABLE IF EXISTS core.person")
