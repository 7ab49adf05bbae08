"""Login roles for the pipeline and the view; ``mart.region_names``, ``audit.work_list_sizes`` (issue 8).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

from popdata.warehouse.scripts import statements

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0012_logins_and_published_views.sql"


def upgrade() -> None:
    """Apply ``sql/0012_logins_and_published_views.sql``."""
    for statement in statements(_SQL.read_text(encoding="utf-8")):
        op.execute(statement)


def downgrade() -> None:
    """Drop the two views and this database's grants to ``popdata_dashboard``.

    The roles and their memberships stay: they belong to the cluster, and other databases may use them.
    """
    op.execute("DROP VIEW audit.work_list_sizes")
    op.execute("DROP VIEW mart.region_names")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA audit REVOKE ALL ON TABLES FROM popdata_dashboard")
    op.execute("REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM popdata_dashboard")
    op.execute("REVOKE ALL ON SCHEMA audit FROM popdata_dashboard")
