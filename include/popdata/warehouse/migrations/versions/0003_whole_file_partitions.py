"""Whole-file feeds (household registry, regions) store one partition per published file.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0003_whole_file_partitions.sql"
_FEEDS = ("household_registry", "regions")


def upgrade() -> None:
    """Apply ``sql/0003_whole_file_partitions.sql``."""
    op.execute(_SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    """Turn each partitioned table back into one plain table holding the same rows."""
    for feed in _FEEDS:
        view = op.get_bind().exec_driver_sql(f"SELECT pg_get_viewdef('core.{feed}'::regclass)").scalar()
        op.execute(f"DROP VIEW core.{feed}")
        op.execute(f"CREATE TABLE core.{feed}_rows_plain (LIKE core.{feed}_rows INCLUDING ALL)")
        op.execute(f"INSERT INTO core.{feed}_rows_plain SELECT * FROM core.{feed}_rows")
        op.execute(f"DROP TABLE core.{feed}_rows CASCADE")
        op.execute(f"ALTER TABLE core.{feed}_rows_plain RENAME TO {feed}_rows")
        op.execute(
            f"ALTER TABLE core.{feed}_rows ADD FOREIGN KEY (file_id) REFERENCES audit.file_ledger (file_id)"
        )
        op.execute(f"CREATE VIEW core.{feed} AS {view}")
