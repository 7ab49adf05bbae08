"""Village direct reporting (村直报): the feed's core table, the ``intake`` schema, its roles,
``mart.births.in_village_report`` and the monitoring views (issue 11).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

from popdata.warehouse.scripts import statements

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_SQL = Path(__file__).resolve().parents[2] / "sql" / "0014_village_reports.sql"


def upgrade() -> None:
    """Apply ``sql/0014_village_reports.sql``."""
    for statement in statements(_SQL.read_text(encoding="utf-8")):
        op.execute(statement)


def downgrade() -> None:
    """Drop what 0014 created (the roles stay: they are cluster-wide)."""
    op.execute("DROP VIEW audit.village_intake")
    op.execute("DROP VIEW audit.village_report_weeks")
    op.execute("DELETE FROM mart.births WHERE NOT (in_health OR in_police)")
    op.execute("ALTER TABLE mart.births DROP COLUMN in_village_report")
    op.execute("ALTER TABLE mart.births ADD CONSTRAINT births_check CHECK (in_health OR in_police)")
    op.execute(
        "COMMENT ON TABLE mart.births IS '整合出生：同一出生的出生医学证明与公安出生登记合为一行"
        "（按子女人员键或出生医学证明编号匹配） / one consolidated birth: the health birth certificate and"
        " the police birth registration of the same birth are one row (matched by the child''s person key"
        " or the certificate number)'"
    )
    op.execute("DROP SCHEMA intake CASCADE")
    op.execute("REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM popdata_intake")
    op.execute("REVOKE USAGE ON SCHEMA audit, mart FROM popdata_intake")
    op.execute("REVOKE SELECT ON mart.region_names FROM popdata_intake")
    op.execute('DROP VIEW core."village_reports"')
    op.execute('DROP TABLE core."village_reports_rows"')
