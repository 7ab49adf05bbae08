"""core.attach_file_partition: whole-file publish without owning core (issue 8, docs/security.md).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

from popdata.warehouse.scripts import statements

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0011_attach_partition_function.sql"


def upgrade() -> None:
    """Apply ``sql/0011_attach_partition_function.sql``."""
    for statement in statements(_SQL.read_text(encoding="utf-8")):
        op.execute(statement)


def downgrade() -> None:
    """Drop the function (the platform's membership in ``popdata_loader`` is a cluster grant: kept)."""
    op.execute("DROP FUNCTION core.attach_file_partition(text, bigint)")
