"""Break-in tests: each role of migration 0010 tries what it must not do, on a loaded county.

Every check runs in its own transaction on the session's reconciled county, with ``SET LOCAL ROLE``
(a superuser that sets a role loses its superuser rights for the transaction: PostgreSQL then checks
exactly that role's grants and row-level policies), and is rolled back. What a role must not do
fails with ``permission denied``; rows it must not see are simply not there (row-level security).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import ProgrammingError

from popdata.warehouse import migrate

pytestmark = pytest.mark.integration

READERS = (
    "popdata_analyst",
    "popdata_county_analyst",
    "popdata_engineer",
    "popdata_ops_health",
    "popdata_ops_police",
    "popdata_ops_fp",
)
WORK_LISTS = {
    "unregistered_births": "popdata_ops_police",
    "deaths_not_cancelled": "popdata_ops_police",
    "registrations_without_certificate": "popdata_ops_health",
    "paid_after_death": "popdata_ops_fp",
}
AGENCY_FEEDS = {
    "popdata_ops_health": {"birth_certificates", "death_records", "prenatal_checks"},
    "popdata_ops_police": {
        "household_registry",
        "birth_registrations",
        "hukou_cancellations",
        "migrant_registrations",
    },
    "popdata_ops_fp": {"birth_approvals", "assistance_rolls", "social_fee_cases", "annual_targets"},
}
COUNTY_ANALYST = "popdata_test_county_analyst"
ID_NUMBER = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9])")


@contextmanager
def as_role(engine: sa.Engine, role: str) -> Iterator[sa.Connection]:
    """A connection acting as ``role`` inside a transaction that is always rolled back."""
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            conn.execute(sa.text(f'SET LOCAL ROLE "{role}"'))
            yield conn
        finally:
            tx.rollback()


def denied(engine: sa.Engine, role: str, sql: str) -> bool:
    """Whether ``sql`` run as ``role`` fails for lack of a privilege (permission denied, not the owner)."""
    try:
        with as_role(engine, role) as conn:
            conn.execute(sa.text(sql))
    except ProgrammingError as exc:
        if "permission denied" in str(exc) or "must be owner" in str(exc):
            return True
        raise
    return False


def tables(engine: sa.Engine, schema: str, kind: str = "BASE TABLE") -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"
                    " AND table_type = :k AND table_name !~ '_rows_[0-9]+$' ORDER BY table_name"
                ),
                {"s": schema, "k": kind},
            ).scalars()
        )


@pytest.fixture(scope="module")
def engine(reconciled_engine: sa.Engine) -> sa.Engine:
    """The session's reconciled county (tests/conftest.py): marts and work lists are filled."""
    return reconciled_engine


@pytest.fixture(scope="module")
def county_analyst(engine: sa.Engine) -> Iterator[str]:
    """A county analyst's own role (cluster-wide, dropped afterwards); its counties are set per test."""
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP ROLE IF EXISTS "{COUNTY_ANALYST}"'))
        conn.execute(sa.text(f'CREATE ROLE "{COUNTY_ANALYST}" NOLOGIN IN ROLE popdata_county_analyst'))
    try:
        yield COUNTY_ANALYST
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{COUNTY_ANALYST}"'))
            conn.execute(sa.text(f'DROP ROLE "{COUNTY_ANALYST}"'))


def test_row_level_security_is_on_and_forced_for_every_mart_and_ops_table(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT n.nspname || '.' || c.relname, c.relrowsecurity, c.relforcerowsecurity"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname IN ('mart', 'ops') AND c.relkind IN ('r', 'p')"
            )
        ).all()
    assert len(rows) >= 20
    assert [name for name, enabled, forced in rows if not (enabled and forced)] == []


def test_nobody_but_the_platform_reads_core(engine: sa.Engine) -> None:
    relations = tables(engine, "core") + tables(engine, "core", "VIEW")
    assert "person" in relations and "birth_certificates" in relations
    for role in READERS:
        for name in relations:
            assert denied(engine, role, f'SELECT 1 FROM core."{name}" LIMIT 1'), (role, name)
        assert denied(engine, role, "SELECT core.current_person_key(1)"), role
        assert denied(engine, role, "SELECT core.attach_file_partition('regions_rows', 1)"), role


def test_the_village_app_reads_tokens_and_region_names_and_adds_reports_only(engine: sa.Engine) -> None:
    """popdata_village (the intake app, migration 0014): its own tables and the region names; no
    core, no mart table, no ops; it cannot change or delete a report, a token or the audit."""
    assert not denied(engine, "popdata_village", "SELECT count(*) FROM intake.village_tokens")
    assert not denied(engine, "popdata_village", "SELECT count(*) FROM mart.region_names")
    assert not denied(engine, "popdata_village", "SELECT status, receipt_path FROM audit.file_ledger LIMIT 1")
    assert not denied(engine, "popdata_village", "SELECT nextval('intake.village_report_numbers')")
    for sql in (
        'SELECT 1 FROM core."village_reports" LIMIT 1',
        "SELECT 1 FROM core.person LIMIT 1",
        "SELECT 1 FROM mart.births LIMIT 1",
        "SELECT 1 FROM ops.unregistered_births LIMIT 1",
        "SELECT sha256 FROM audit.file_ledger LIMIT 1",
        "SELECT 1 FROM audit.rejected_rows LIMIT 1",
        "UPDATE intake.village_reports SET fields = '{}'",
        "DELETE FROM intake.village_reports",
        "DELETE FROM intake.submissions",
        "UPDATE intake.village_tokens SET revoked_at = NULL",
        "INSERT INTO intake.village_tokens (token_sha256, village_code, label) VALUES (repeat('a', 64), '120115106001', 'x')",
        "INSERT INTO intake.batches (file_name, extract_date, reports) VALUES ('x', '2014-01-01', 1)",
    ):
        assert denied(engine, "popdata_village", sql), sql
    for role in READERS:
        assert denied(engine, role, "SELECT 1 FROM intake.village_reports LIMIT 1"), role
        assert denied(engine, role, "SELECT 1 FROM intake.village_tokens LIMIT 1"), role
    assert denied(engine, "popdata_dashboard", "SELECT 1 FROM intake.village_reports LIMIT 1")
    assert not denied(engine, "popdata_dashboard", "SELECT count(*) FROM audit.village_intake")
    assert not denied(engine, "popdata_dashboard", "SELECT count(*) FROM audit.village_report_weeks")


def test_analysts_read_mart_and_nothing_else(engine: sa.Engine) -> None:
    for name in tables(engine, "mart"):
        with as_role(engine, "popdata_analyst") as conn:
            conn.execute(sa.text(f'SELECT count(*) FROM mart."{name}"'))
    with engine.connect() as conn:
        births = conn.execute(sa.text("SELECT count(*) FROM mart.births")).scalar_one()
    with as_role(engine, "popdata_analyst") as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM mart.births")).scalar_one() == births > 0
    for name in tables(engine, "ops") + tables(engine, "audit"):
        schema = "ops" if name in tables(engine, "ops") else "audit"
        assert denied(engine, "popdata_analyst", f'SELECT 1 FROM {schema}."{name}"'), name


@pytest.mark.parametrize("role", READERS)
def test_readers_write_nowhere(engine: sa.Engine, role: str) -> None:
    assert denied(engine, role, "DELETE FROM mart.births")
    assert denied(engine, role, "UPDATE mart.sex_ratio_at_birth SET boys = 0")
    assert denied(engine, role, "INSERT INTO audit.dq_results (suite) VALUES ('x')")
    assert denied(engine, role, "DELETE FROM ops.unregistered_births")
    assert denied(engine, role, "CREATE TABLE staging.intruder (x int)")
    assert denied(engine, role, "CREATE TABLE mart.intruder (x int)")
    assert denied(engine, role, "TRUNCATE mart.population")


def test_each_agency_reads_only_the_work_lists_addressed_to_it(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        sizes = {t: conn.execute(sa.text(f"SELECT count(*) FROM ops.{t}")).scalar_one() for t in WORK_LISTS}
        corrections = dict(
            conn.execute(sa.text("SELECT feed, count(*) FROM ops.id_corrections GROUP BY feed")).all()
        )
    assert sizes["unregistered_births"] > 0 and sizes["deaths_not_cancelled"] > 0
    assert sum(corrections.values()) > 0
    for reader in AGENCY_FEEDS:
        for table, addressee in WORK_LISTS.items():
            if reader == addressee:
                with as_role(engine, reader) as conn:
                    assert (
                        conn.execute(sa.text(f"SELECT count(*) FROM ops.{table}")).scalar_one()
                        == sizes[table]
                    )
            else:
                assert denied(engine, reader, f"SELECT 1 FROM ops.{table}"), (reader, table)
        assert denied(engine, reader, "SELECT 1 FROM ops.clerical_review"), reader
        with as_role(engine, reader) as conn:
            seen = dict(
                conn.execute(sa.text("SELECT feed, count(*) FROM ops.id_corrections GROUP BY feed")).all()
            )
        assert seen == {f: n for f, n in corrections.items() if f in AGENCY_FEEDS[reader]}, reader


def test_engineers_read_audit_mart_and_the_review_queue_only(engine: sa.Engine) -> None:
    with as_role(engine, "popdata_engineer") as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM audit.file_ledger")).scalar_one() > 0
        assert conn.execute(sa.text("SELECT count(*) FROM mart.population")).scalar_one() > 0
        conn.execute(sa.text("SELECT count(*) FROM ops.clerical_review"))
    for table in WORK_LISTS:
        assert denied(engine, "popdata_engineer", f"SELECT 1 FROM ops.{table}"), table
    assert denied(engine, "popdata_engineer", "SELECT 1 FROM ops.id_corrections")


def test_a_county_analyst_sees_only_its_counties(engine: sa.Engine, county_analyst: str) -> None:
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            county = conn.execute(
                sa.text("SELECT county_code FROM mart.population WHERE county_code IS NOT NULL LIMIT 1")
            ).scalar_one()
            # another county's row in a mart (inside this transaction only)
            conn.execute(
                sa.text(
                    "CREATE TEMP TABLE other_county ON COMMIT DROP AS"
                    " SELECT * FROM mart.sex_ratio_at_birth WHERE level = 'county' LIMIT 1"
                )
            )
            conn.execute(sa.text("UPDATE other_county SET county_code = '999999', region_code = '999999'"))
            conn.execute(sa.text("INSERT INTO mart.sex_ratio_at_birth SELECT * FROM other_county"))
            by_county = {
                name: conn.execute(
                    sa.text(f'SELECT count(*) FILTER (WHERE county_code = :c), count(*) FROM mart."{name}"'),
                    {"c": county},
                ).one()
                for name in tables(engine, "mart")
                if name not in ("feed_quality", "linkage_quality")
            }
            assert by_county["sex_ratio_at_birth"][1] > by_county["sex_ratio_at_birth"][0]

            conn.execute(sa.text(f'SET LOCAL ROLE "{county_analyst}"'))
            # no county listed for it yet: no row of any county-level mart
            for name in by_county:
                assert conn.execute(sa.text(f'SELECT count(*) FROM mart."{name}"')).scalar_one() == 0, name
            conn.execute(sa.text("RESET ROLE"))
            conn.execute(
                sa.text("INSERT INTO access.county_analysts (role_name, county_code) VALUES (:r, :c)"),
                {"r": county_analyst, "c": county},
            )
            conn.execute(sa.text(f'SET LOCAL ROLE "{county_analyst}"'))
            for name, (own, _all) in by_county.items():
                seen = conn.execute(
                    sa.text(
                        f"SELECT count(*), count(*) FILTER (WHERE county_code IS DISTINCT FROM :c)"
                        f' FROM mart."{name}"'
                    ),
                    {"c": county},
                ).one()
                assert tuple(seen) == (own, 0), name
            # the mapping itself: it sees its own row, and cannot add one
            assert conn.execute(sa.text("SELECT count(*) FROM access.county_analysts")).scalar_one() == 1
        finally:
            tx.rollback()
    assert denied(
        engine,
        county_analyst,
        "INSERT INTO access.county_analysts (role_name, county_code) VALUES (current_user, '999999')",
    )


def test_the_loader_writes_marts_and_work_lists_through_row_security(engine: sa.Engine) -> None:
    with as_role(engine, "popdata_loader") as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM mart.births")).scalar_one()
        assert before > 0
        assert conn.execute(sa.text("DELETE FROM ops.unregistered_births")).rowcount > 0
        conn.execute(sa.text("CREATE TABLE staging.loader_probe (x int)"))
        conn.execute(sa.text("SELECT count(*) FROM core.person"))


def test_the_pipeline_acts_as_the_loader(
    engine: sa.Engine, reconciled_county: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from popdata.warehouse import db

    monkeypatch.setenv("POPDATA_WAREHOUSE_URL", reconciled_county.url)
    with db.pipeline_engine().connect() as conn:
        assert conn.execute(sa.text("SELECT session_user, current_user")).one() == (
            "popdata_pipeline",
            "popdata_loader",
        )
        assert migrate.require_head(conn.engine) == migrate.head_revision()
    assert denied(engine, "popdata_loader", "CREATE TABLE core.intruder (x int)")
    assert denied(engine, "popdata_loader", "ALTER TABLE core.person ADD COLUMN intruder int")
    monkeypatch.setenv("POPDATA_PIPELINE_ROLE", "")
    with db.pipeline_engine().connect() as conn:
        assert conn.execute(sa.text("SELECT current_user")).scalar_one() == "popdata_pipeline"


def test_the_dags_never_log_in_as_the_owner(engine: sa.Engine, reconciled_county: Any) -> None:
    """The logins own nothing, are no superusers, cannot create roles or databases or bypass RLS."""
    from popdata.warehouse import db

    assert (
        sa.engine.make_url(db.login_url(reconciled_county.url, db.PIPELINE_LOGIN)).username
        == "popdata_pipeline"
    )
    with engine.connect() as conn:
        owners = set(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname IN ('core', 'audit', 'mart', 'ops', 'pii', 'access')"
                )
            ).scalars()
        )
        for login in (db.PIPELINE_LOGIN, db.VIEW_LOGIN):
            flags = conn.execute(
                sa.text(
                    "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles"
                    " WHERE rolname = :r"
                ),
                {"r": login},
            ).one()
            assert tuple(flags) == (True, False, False, False, False), login
            assert login not in owners
        member_of = set(
            conn.execute(
                sa.text(
                    "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
                    " JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = :r"
                ),
                {"r": db.PIPELINE_LOGIN},
            ).scalars()
        )
    assert member_of == {"popdata_loader"}


def test_the_view_reads_mart_audit_and_the_published_views_only(
    engine: sa.Engine, reconciled_county: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from popdata.warehouse import db

    monkeypatch.setenv("POPDATA_WAREHOUSE_URL", reconciled_county.url)
    view = db.view_engine()
    with engine.connect() as conn:
        expected_sizes = {
            t: conn.execute(sa.text(f"SELECT count(*) FROM ops.{t}")).scalar_one()
            for t in (*WORK_LISTS, "id_corrections", "clerical_review")
        }
        births = conn.execute(sa.text("SELECT count(*) FROM mart.births")).scalar_one()
        regions = conn.execute(
            sa.text("SELECT count(*) FROM core.regions WHERE code IS NOT NULL")
        ).scalar_one()
    with view.connect() as conn:
        assert conn.execute(sa.text("SELECT session_user")).scalar_one() == "popdata_view"
        assert conn.execute(sa.text("SELECT count(*) FROM mart.births")).scalar_one() == births > 0
        assert conn.execute(sa.text("SELECT count(*) FROM audit.file_ledger")).scalar_one() > 0
        sizes = dict(conn.execute(sa.text("SELECT work_list, list_rows FROM audit.work_list_sizes")).all())
        assert sizes == expected_sizes
        assert conn.execute(sa.text("SELECT count(*) FROM mart.region_names")).scalar_one() == regions > 0
    for sql in (
        "SELECT 1 FROM core.person LIMIT 1",
        "SELECT 1 FROM core.regions LIMIT 1",
        "SELECT 1 FROM ops.clerical_review LIMIT 1",
        "SELECT 1 FROM ops.unregistered_births LIMIT 1",
        "SELECT 1 FROM ops.id_corrections LIMIT 1",
        "DELETE FROM audit.file_ledger",
        "CREATE TABLE staging.intruder (x int)",
    ):
        with pytest.raises(ProgrammingError, match="permission denied"), view.begin() as conn:
            conn.execute(sa.text(sql))
    assert denied(engine, "popdata_dashboard", "SELECT 1 FROM ops.paid_after_death")


def test_nobody_but_the_platform_uses_pii(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regnamespace('pii') IS NOT NULL")).scalar_one()
        for role in (*READERS, "popdata_dashboard", "popdata_loader", "popdata_pipeline", "popdata_view"):
            usage, create = conn.execute(
                sa.text(
                    "SELECT has_schema_privilege(:r, 'pii', 'USAGE'), has_schema_privilege(:r, 'pii', 'CREATE')"
                ),
                {"r": role},
            ).one()
            assert (usage, create) == (False, False), role
    for role in (*READERS, "popdata_loader"):
        assert denied(engine, role, "CREATE TABLE pii.intruder (x int)"), role


def test_login_passwords_come_from_the_environment(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from popdata.warehouse import db

    monkeypatch.setenv("POPDATA_VIEW_PASSWORD", "it's 100% \\ secret")
    monkeypatch.delenv("POPDATA_PIPELINE_PASSWORD", raising=False)
    monkeypatch.delenv("POPDATA_VILLAGE_PASSWORD", raising=False)
    try:
        assert db.set_login_passwords(engine) == {
            db.PIPELINE_LOGIN: False,
            db.VIEW_LOGIN: True,
            db.VILLAGE_LOGIN: False,
        }
        with engine.connect() as conn:
            stored = conn.execute(
                sa.text("SELECT rolpassword FROM pg_authid WHERE rolname = 'popdata_view'")
            ).scalar_one()
        assert stored and stored.startswith(("SCRAM-SHA-256$", "md5")) and "secret" not in stored
        platform_url = sa.engine.URL.create(
            "postgresql", username="postgres", password="platform", host="h", database="w"
        ).render_as_string(hide_password=False)
        url = sa.engine.make_url(db.login_url(platform_url, db.VIEW_LOGIN))
        assert (url.username, url.password) == ("popdata_view", "it's 100% \\ secret")
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER ROLE popdata_view PASSWORD NULL"))


def test_the_attach_function_attaches_only_a_files_staging_table(engine: sa.Engine) -> None:
    for call, message in (
        ("SELECT core.attach_file_partition('person', 1)", "is not a partitioned table"),
        (
            "SELECT core.attach_file_partition('regions_rows; DROP TABLE core.person', 1)",
            "is not a partitioned",
        ),
        ("SELECT core.attach_file_partition('regions_rows', 987654321)", "does not exist"),
    ):
        with pytest.raises(sa.exc.DBAPIError, match=message), as_role(engine, "popdata_loader") as conn:
            conn.execute(sa.text(call))


def scan_targets(conn: sa.Connection) -> tuple[set[str], set[str]]:
    """Names and addresses held in core (the strings no mart may contain)."""
    columns = conn.execute(
        sa.text(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c"
            " JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE c.table_schema = 'core' AND t.table_type = 'VIEW' AND c.data_type = 'text'"
            " AND c.table_name <> 'regions'"
            " AND (c.column_name LIKE '%name%' OR c.column_name LIKE '%address%')"
        )
    ).all()
    names: set[str] = set()
    addresses: set[str] = set()
    for table, column in columns:
        values = conn.execute(
            sa.text(f'SELECT DISTINCT "{column}" FROM core."{table}" WHERE "{column}" IS NOT NULL')
        ).scalars()
        target = addresses if "address" in column else names
        target.update(v.strip() for v in values if v and len(v.strip()) >= 2)
    return names, addresses


def test_no_mart_column_holds_an_identity_number_a_name_or_an_address(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        names, addresses = scan_targets(conn)
        region_names = set(conn.execute(sa.text("SELECT DISTINCT name FROM core.regions")).scalars())
        assert len(names) > 1000 and addresses
        columns = conn.execute(
            sa.text(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = 'mart' AND data_type IN ('text', 'character varying', 'character')"
            )
        ).all()
        found: list[tuple[str, str, str]] = []
        scanned = 0
        for table, column in columns:
            values = conn.execute(
                sa.text(f'SELECT DISTINCT "{column}" FROM mart."{table}" WHERE "{column}" IS NOT NULL')
            ).scalars()
            for value in values:
                scanned += 1
                text = str(value)
                if ID_NUMBER.search(text):
                    found.append((table, column, "identity number"))
                elif text in addresses:
                    found.append((table, column, "address"))
                elif text in names and text not in region_names:
                    found.append((table, column, "name"))
    assert scanned > 0
    assert found == []


def test_downgrade_removes_the_policies_and_upgrade_restores_them(databases: Any) -> None:
    engine = sa.create_engine(databases.create("popdata_test_access_migration"))
    try:
        migrate.upgrade(engine)

        def policies() -> int:
            with engine.connect() as conn:
                return int(conn.execute(sa.text("SELECT count(*) FROM pg_policies")).scalar_one())

        def published_views() -> int:
            with engine.connect() as conn:
                return int(
                    conn.execute(
                        sa.text(
                            "SELECT (to_regclass('mart.region_names') IS NOT NULL)::int"
                            " + (to_regclass('audit.work_list_sizes') IS NOT NULL)::int"
                        )
                    ).scalar_one()
                )

        assert policies() > 40 and published_views() == 2
        migrate.downgrade(engine, "0011")
        assert published_views() == 0 and policies() > 40
        migrate.downgrade(engine, "0009")
        assert policies() == 0
        with pytest.raises(RuntimeError, match="popdata db upgrade"):
            migrate.require_head(engine)
        assert denied(engine, "popdata_analyst", "SELECT 1 FROM mart.births")
        migrate.upgrade(engine)
        assert policies() > 40 and published_views() == 2
    finally:
        engine.dispose()
