"""Roles, grants and forced row-level security on mart and ops (issue 8, docs/security.md).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

from popdata.warehouse.scripts import statements

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0010_roles_and_row_security.sql"

ROLES = (
    "popdata_loader",
    "popdata_analyst",
    "popdata_county_analyst",
    "popdata_engineer",
    "popdata_ops_health",
    "popdata_ops_police",
    "popdata_ops_fp",
)
"""The group roles the upgrade creates when missing (cluster-wide: a downgrade keeps them)."""


def upgrade() -> None:
    """Apply ``sql/0010_roles_and_row_security.sql``."""
    for statement in statements(_SQL.read_text(encoding="utf-8")):
        op.execute(statement)


def downgrade() -> None:
    """Drop the policies, switch row-level security off, revoke this database's grants, drop ``access``.

    The roles stay: they belong to the cluster, and other databases of it may use them.
    """
    op.execute(
        """
        DO $$
        DECLARE
            p record;
            t record;
        BEGIN
            FOR p IN SELECT schemaname, tablename, policyname FROM pg_catalog.pg_policies
                     WHERE schemaname IN ('mart', 'ops') LOOP
                EXECUTE format('DROP POLICY %I ON %I.%I', p.policyname, p.schemaname, p.tablename);
            END LOOP;
            FOR t IN SELECT n.nspname, c.relname FROM pg_catalog.pg_class c
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname IN ('mart', 'ops') AND c.relkind IN ('r', 'p') LOOP
                EXECUTE format('ALTER TABLE %I.%I NO FORCE ROW LEVEL SECURITY', t.nspname, t.relname);
                EXECUTE format('ALTER TABLE %I.%I DISABLE ROW LEVEL SECURITY', t.nspname, t.relname);
            END LOOP;
        END
        $$
        """
    )
    roles = ", ".join(ROLES)
    schemas = "staging, core, audit, mart, ops"
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schemas} REVOKE ALL ON TABLES FROM {roles}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schemas} REVOKE ALL ON SEQUENCES FROM {roles}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schemas} FROM {roles}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schemas} FROM {roles}")
    op.execute(f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA core FROM {roles}")
    op.execute(f"REVOKE ALL ON SCHEMA {schemas} FROM {roles}")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA core GRANT EXECUTE ON FUNCTIONS TO PUBLIC")
    op.execute("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA core TO PUBLIC")
    op.execute("DROP SCHEMA access CASCADE")
