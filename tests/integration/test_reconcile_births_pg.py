"""Birth reconciliation against real PostgreSQL on tiny hand-made core rows with hand-computed
answers: consolidation (by person key and by certificate number), the as-of rule, the 30-day
boundary, both work lists, SRB, warning villages, gaps, DSE, and identical re-runs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from popdata.reconcile import births
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration

REF = date(2014, 6, 30)
AFTER = date(2014, 7, 31)  # an extract after the reference date: not known yet
V1 = "430102001001"
V2 = "430102001002"
V3 = "430102002001"
COUNTY = "430102"
TOWN1 = "430102001"
TOWN2 = "430102002"


@pytest.fixture
def engine(databases) -> Iterator[sa.Engine]:  # type: ignore[no-untyped-def]
    eng = sa.create_engine(databases.create("popdata_test_births"))
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


def publish(conn: sa.Connection, agency: str, feed: str, extract: date, rows: list[dict[str, Any]]) -> None:
    """Rows into ``core.<feed>_rows`` as one published file (ledger row first)."""
    name = f"{feed}_{extract:%Y%m%d}.csv"
    file_id = conn.execute(
        sa.text(
            "INSERT INTO audit.file_ledger (agency, feed, file_name, rel_path, sha256, size_bytes,"
            " extract_date, stage, status, rows_read, rows_loaded, rows_rejected)"
            " VALUES (:a, :f, :n, :n, :sha, 1, :d, 'published', 'loaded', :c, :c, 0) RETURNING file_id"
        ),
        {
            "a": agency,
            "f": feed,
            "n": name,
            "sha": hashlib.sha256(name.encode()).hexdigest(),
            "d": extract,
            "c": len(rows),
        },
    ).scalar_one()
    for line, row in enumerate(rows, start=2):
        columns = ["file_id", "line_no", "extract_date", *row]
        conn.execute(
            sa.text(
                f"INSERT INTO core.{feed}_rows ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
            ),
            {"file_id": file_id, "line_no": line, "extract_date": extract, **row},
        )


def link(conn: sa.Connection, feed: str, source_key: str, role: str, person_key: int) -> None:
    """A ``core.record_link`` row (and its person)."""
    conn.execute(
        sa.text("INSERT INTO core.person (person_key) VALUES (:k) ON CONFLICT DO NOTHING"), {"k": person_key}
    )
    conn.execute(
        sa.text(
            "INSERT INTO core.record_link (feed, source_key, role, person_key, method, match_probability)"
            " VALUES (:f, :s, :r, :k, 'id_exact', 1.0)"
        ),
        {"f": feed, "s": source_key, "r": role, "k": person_key},
    )


def cert(no: str, born: date, sex: str, order: int | None, region: str) -> dict[str, Any]:
    return {
        "cert_no": no,
        "child_sex": sex,
        "birth_date": born,
        "birth_order": order,
        "mother_name": f"母{no}",
        "mother_id": f"ID-M-{no}",
        "region_code": region,
    }


def reg(no: str, born: date, sex: str, cert_no: str | None, region: str) -> dict[str, Any]:
    return {
        "reg_no": no,
        "child_id": f"ID-C-{no}",
        "sex": sex,
        "birth_date": born,
        "birth_cert_no": cert_no,
        "mother_id": f"ID-M-{no}",
        "region_code": region,
        "reg_date": born + timedelta(days=20),
    }


def approval(no: str, applied: date, decision: str) -> dict[str, Any]:
    return {
        "app_no": no,
        "wife_name": "某",
        "wife_id": f"ID-W-{no}",
        "category": "一孩",
        "apply_date": applied,
        "decision": decision,
        "region_code": V1,
    }


@pytest.fixture
def county(engine: sa.Engine) -> sa.Engine:
    """The hand-made county (births listed in the module docstring's order)."""
    bulk = [(f"C3{i:02d}", f"R3{i:02d}", date(2013, 3, 1) + timedelta(days=i)) for i in range(30)]
    with engine.begin() as conn:
        publish(
            conn,
            "health",
            "birth_certificates",
            date(2014, 5, 15),
            [cert("C1", date(2014, 5, 1), "2", 1, V1)],  # superseded by the next extract
        )
        publish(
            conn,
            "health",
            "birth_certificates",
            date(2014, 6, 10),
            [
                cert("C1", date(2014, 5, 1), "1", 1, V1),  # both lists: same child person key
                cert("C2", date(2014, 5, 31), "2", 2, V1),  # both lists: by certificate number
                cert("C3", date(2014, 5, 31), "1", None, V1),  # health only, exactly 30 days
                cert("C4", date(2014, 5, 30), "2", 1, V1),  # health only, 31 days: unregistered
                cert("C5", date(2014, 1, 10), "2", 1, V1),  # no person keys at all: by number
                cert("C9", date(2014, 4, 1), "1", 1, V1),  # registered only after the reference date
                cert("C20", date(2012, 6, 1), "1", 2, V2),  # second-order boys in V2, 2012-2014
                cert("C21", date(2013, 6, 1), "1", 2, V2),
                cert("C22", date(2014, 2, 1), "1", 2, V2),
                cert("C23", date(2014, 3, 1), "1", 2, V2),
                *(cert(c, born, "1" if i < 25 else "2", 1, V3) for i, (c, _, born) in enumerate(bulk)),
            ],
        )
        publish(
            conn,
            "health",
            "birth_certificates",
            AFTER,
            [cert("C8", date(2014, 7, 2), "1", 1, V1), cert("C3", date(2014, 5, 31), "2", 1, V1)],
        )
        publish(
            conn,
            "police",
            "birth_registrations",
            date(2014, 6, 20),
            [
                reg("R1", date(2014, 5, 1), "1", None, V1),
                reg("R2", date(2014, 5, 31), "1", "C2", V1),  # police says boy: the certificate wins
                reg("R5", date(2014, 1, 10), "2", "C5", V1),
                reg("R6", date(2014, 3, 3), "1", None, V1),  # no certificate number
                reg("R7", date(2014, 4, 4), "2", "CX", V3),  # a number no certificate has
                reg("R20", date(2012, 6, 1), "1", None, V2),
                reg("R21", date(2013, 6, 1), "1", None, V2),
                reg("R22", date(2014, 2, 1), "1", None, V2),
                reg("R23", date(2014, 3, 1), "1", None, V2),
                *(reg(r, born, "1" if i < 25 else "2", c, V3) for i, (c, r, born) in enumerate(bulk)),
            ],
        )
        publish(conn, "police", "birth_registrations", AFTER, [reg("R9", date(2014, 4, 1), "1", "C9", V1)])
        publish(
            conn,
            "fp",
            "birth_approvals",
            date(2014, 3, 31),
            [
                approval("A1", date(2013, 9, 1), "批准"),  # mother of C1, 242 days before the birth
                approval("A2", date(2012, 1, 1), "批准"),  # mother of C2, too early
                approval("A4", date(2014, 1, 5), "待审"),  # mother of C4, pending
                approval("A6", date(2013, 10, 1), "批准"),  # mother of R6 (police mother key)
            ],
        )
        for no, key in (("C1", 101), ("C2", 102), ("C3", 103), ("C4", 104), ("C9", 109)):
            link(conn, "birth_certificates", no, "child", key)
            link(conn, "birth_certificates", no, "mother", key + 100)
        for no, key in (("R1", 101), ("R2", 999), ("R6", 106), ("R7", 107), ("R9", 109)):
            link(conn, "birth_registrations", no, "child", key)
            link(conn, "birth_registrations", no, "mother", key + 100)
        for n in (20, 21, 22, 23):
            link(conn, "birth_certificates", f"C{n}", "child", 100 + n)
            link(conn, "birth_registrations", f"R{n}", "child", 100 + n)
        for app, key in (("A1", 201), ("A2", 202), ("A4", 204), ("A6", 206)):
            link(conn, "birth_approvals", app, "wife", key)
    return engine


def refresh(engine: sa.Engine, when: date = REF) -> dict[str, int]:
    with engine.begin() as conn:
        return births.refresh_births(conn, when)


def rows(engine: sa.Engine, sql: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(sql)).mappings()]


def checksums(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {
            table: conn.execute(
                sa.text(f"SELECT md5(coalesce(string_agg(t::text, '' ORDER BY t::text), '')) FROM {table} t")
            ).scalar_one()
            for table in births.TABLES
        }


def test_consolidated_births_and_work_lists(county: sa.Engine) -> None:
    counts = refresh(county)
    assert counts["mart.births"] == 42  # 8 + 4 in V1/V2 (C8 and R9 not known yet) + 30 in V3
    assert counts["ops.unregistered_births"] == 2
    assert counts["ops.registrations_without_certificate"] == 2
    by_child = {
        r["child_person_key"]: r
        for r in rows(county, "SELECT * FROM mart.births WHERE child_person_key IS NOT NULL")
    }
    c1 = by_child[101]
    assert (c1["in_health"], c1["in_police"], c1["in_fp_approval"], c1["sex"]) == (True, True, True, "M")
    assert (c1["mother_person_key"], c1["birth_order"], c1["year"], c1["month"]) == (201, 1, 2014, 5)
    assert (c1["county_code"], c1["town_code"], c1["village_code"]) == (COUNTY, TOWN1, V1)
    c2 = by_child[102]  # the registration's child got another key: matched by the certificate number
    assert (c2["in_health"], c2["in_police"], c2["sex"], c2["in_fp_approval"]) == (True, True, "F", False)
    assert 999 not in by_child
    assert (by_child[103]["in_police"], by_child[104]["in_police"], by_child[104]["in_fp_approval"]) == (
        False,
        False,
        False,
    )
    assert by_child[103]["sex"] == "M" and by_child[103]["birth_order"] is None  # the version as of REF
    assert by_child[109]["in_police"] is False  # R9 came after the reference date
    r6 = by_child[106]
    assert (r6["in_health"], r6["in_police"], r6["birth_order"], r6["in_fp_approval"]) == (
        False,
        True,
        None,
        True,
    )
    assert (by_child[107]["in_health"], by_child[107]["village_code"]) == (False, V3)
    keyless = rows(county, "SELECT * FROM mart.births WHERE birth_date = '2014-01-10'")
    assert len(keyless) == 1 and keyless[0]["in_health"] and keyless[0]["in_police"]
    assert keyless[0]["child_person_key"] is None and keyless[0]["sex"] == "F"
    v3 = rows(
        county,
        f"SELECT count(*) AS n, bool_and(in_health AND in_police) AS both FROM mart.births WHERE village_code = '{V3}' AND year = 2013",
    )
    assert v3 == [{"n": 30, "both": True}]
    # unregistered: C4 (31 days) and C9 (90 days); C3 at exactly 30 days is not yet
    unreg = rows(
        county,
        "SELECT cert_no, days_since_birth, child_sex, mother_name, region_code, agency FROM ops.unregistered_births ORDER BY cert_no",
    )
    assert unreg == [
        {
            "cert_no": "C4",
            "days_since_birth": 31,
            "child_sex": "2",
            "mother_name": "母C4",
            "region_code": V1,
            "agency": "police",
        },
        {
            "cert_no": "C9",
            "days_since_birth": 90,
            "child_sex": "1",
            "mother_name": "母C9",
            "region_code": V1,
            "agency": "police",
        },
    ]
    without = rows(
        county,
        "SELECT reg_no, birth_cert_no, reason, town_code, agency FROM ops.registrations_without_certificate ORDER BY reg_no",
    )
    assert without == [
        {
            "reg_no": "R6",
            "birth_cert_no": None,
            "reason": "no_certificate_number",
            "town_code": TOWN1,
            "agency": "health",
        },
        {
            "reg_no": "R7",
            "birth_cert_no": "CX",
            "reason": "certificate_number_not_found",
            "town_code": TOWN2,
            "agency": "health",
        },
    ]
    # the work lists point at their consolidated births
    joined = rows(
        county,
        "SELECT count(*) AS n FROM ops.unregistered_births u JOIN mart.births b USING (birth_key) WHERE NOT b.in_police",
    )
    assert joined == [{"n": 2}]


def test_thirty_day_boundary_moves_with_the_reference_date(county: sa.Engine) -> None:
    refresh(county, date(2014, 6, 29))  # C4 at 30 days: not yet
    assert [r["cert_no"] for r in rows(county, "SELECT cert_no FROM ops.unregistered_births")] == ["C9"]
    refresh(county, REF)
    assert {r["cert_no"] for r in rows(county, "SELECT cert_no FROM ops.unregistered_births")} == {"C4", "C9"}
    refresh(county, AFTER)  # R9 known now; C3 (61 days) and C8 (29 days) are health only
    assert {r["cert_no"] for r in rows(county, "SELECT cert_no FROM ops.unregistered_births")} == {"C3", "C4"}
    assert rows(county, "SELECT DISTINCT reference_date FROM mart.births") == [{"reference_date": AFTER}]


def test_gaps(county: sa.Engine) -> None:
    refresh(county)
    gaps = {
        (r["town_code"], r["year"], r["month"]): (
            r["births_health"],
            r["births_police"],
            r["unregistered_over_30d"],
            r["registered_without_certificate"],
        )
        for r in rows(county, "SELECT * FROM mart.birth_registration_gaps")
    }
    assert gaps[(TOWN1, 2014, 5)] == (4, 2, 1, 0)  # C1, C2 both; C3 (30 days), C4 (31 days)
    assert gaps[(TOWN1, 2014, 3)] == (1, 2, 0, 1)  # C23 both; R6 without certificate
    assert gaps[(TOWN1, 2014, 4)] == (1, 0, 1, 0)  # C9
    assert gaps[(TOWN2, 2014, 4)] == (0, 1, 0, 1)  # R7
    assert gaps[(TOWN2, 2013, 3)] == (30, 30, 0, 0)
    totals = rows(
        county,
        "SELECT sum(unregistered_over_30d) AS u, sum(registered_without_certificate) AS w FROM mart.birth_registration_gaps",
    )
    assert totals == [{"u": 2, "w": 2}]


def test_sex_ratio_at_birth(county: sa.Engine) -> None:
    refresh(county)
    srb = {
        (r["level"], r["region_code"], r["year"], r["birth_order"]): r
        for r in rows(county, "SELECT * FROM mart.sex_ratio_at_birth")
    }
    county_2014 = srb[("county", COUNTY + "000000", 2014, "all")]
    # boys C1 C3 C9 C22 C23 R6, girls C2 C4 C5 R7
    assert (county_2014["boys"], county_2014["girls"], county_2014["status"]) == (6, 4, "insufficient")
    assert county_2014["srb"] == pytest.approx(150.0)
    v3 = srb[("village", V3, 2013, "1")]
    assert (v3["boys"], v3["girls"], v3["srb"], v3["status"]) == (25, 5, pytest.approx(500.0), "high")
    assert srb[("town", TOWN2 + "000", 2013, "all")]["boys"] == 25
    assert srb[("county", COUNTY + "000000", 2013, "all")]["boys"] == 26  # + C21
    assert (
        srb[("village", V2, 2014, "2")]["girls"] == 0 and srb[("village", V2, 2014, "2")]["ci_high"] is None
    )
    assert ("county", COUNTY + "000000", 2014, "3+") not in srb
    # SQL and Python agree on every row
    for r in srb.values():
        low, high = births.srb_interval(r["boys"], r["girls"])
        assert r["ci_low"] == pytest.approx(low, rel=1e-9, abs=1e-9)
        assert (r["ci_high"] is None and high is None) or r["ci_high"] == pytest.approx(high, rel=1e-9)
        assert r["srb"] == (
            None if r["girls"] == 0 else pytest.approx(births.sex_ratio(r["boys"], r["girls"]))
        )
        assert r["status"] == births.srb_status(r["boys"], r["girls"], low, high)


def test_warning_villages(county: sa.Engine) -> None:
    refresh(county)
    got = {(r["village_code"], r["year"]): r for r in rows(county, "SELECT * FROM mart.warning_villages")}
    assert set(got) == {(V2, 2012), (V2, 2013), (V2, 2014), (V1, 2014)}
    v2 = got[(V2, 2014)]
    assert (v2["window_start"], v2["years_with_second_births"], v2["second_births"], v2["second_girls"]) == (
        2012,
        3,
        4,
        0,
    )
    assert v2["flagged"] is True and v2["p_value"] == pytest.approx((106 / 206) ** 4, rel=1e-12)
    assert got[(V2, 2013)]["flagged"] is False and got[(V2, 2013)]["second_births"] == 2
    assert got[(V1, 2014)]["second_girls"] == 1 and got[(V1, 2014)]["p_value"] == pytest.approx(1.0)
    for r in got.values():
        assert r["p_value"] == pytest.approx(
            births.warning_p_value(r["second_births"], r["second_girls"]), rel=1e-12
        )


def test_dual_system_estimate(county: sa.Engine) -> None:
    refresh(county)
    dse = {r["year"]: r for r in rows(county, "SELECT * FROM mart.birth_dse")}
    # 2014, born more than 30 days before 2014-06-30: health C1 C4 C5 C9 C22 C23, police C1 C5 C22 C23 R6 R7
    row = dse[2014]
    assert (row["county_code"], row["n_health"], row["n_police"], row["n_both"]) == (COUNTY, 6, 6, 4)
    assert row["estimate"] == pytest.approx(7 * 7 / 5 - 1)  # 8.8
    assert row["std_error"] ** 2 == pytest.approx(7 * 7 * 2 * 2 / (25 * 6))
    assert row["coverage_health"] == pytest.approx(6 / 8.8)
    assert (dse[2013]["n_health"], dse[2013]["n_police"], dse[2013]["n_both"]) == (31, 31, 31)
    assert dse[2013]["estimate"] == pytest.approx(31.0) and dse[2013]["ci_low"] == pytest.approx(31.0)
    for r in dse.values():
        est = births.chapman(r["n_health"], r["n_police"], r["n_both"])
        assert (r["estimate"], r["ci_low"], r["ci_high"]) == pytest.approx(
            (est.estimate, est.ci_low, est.ci_high)
        )
        assert r["std_error"] == pytest.approx(est.std_error)


def test_rerun_gives_identical_tables(county: sa.Engine) -> None:
    first = refresh(county)
    sums = checksums(county)
    assert refresh(county) == first
    assert checksums(county) == sums
    with county.begin() as conn:  # twice in one transaction works too
        births.refresh_births(conn, REF)
        births.refresh_births(conn, REF)
    assert checksums(county) == sums


def test_tables_have_chinese_and_english_comments(engine: sa.Engine) -> None:
    inspector = sa.inspect(engine)
    for name in births.TABLES:
        schema, table = name.split(".")
        assert " / " in (inspector.get_table_comment(table, schema=schema)["text"] or ""), name
        for column in inspector.get_columns(table, schema=schema):
            assert " / " in (column.get("comment") or ""), f"{name}.{column['name']}"
    dse = inspector.get_table_comment("birth_dse", schema="mart")["text"] or ""
    assert "lower bound" in dse and "not independent" in dse


def village_birth(no: str, born: date, sex: str, order: int | None, region: str) -> dict[str, Any]:
    """A village birth report (村级直报, report_type 出生) as it is published."""
    return {
        "report_no": no,
        "report_type": "出生",
        "region_code": region,
        "report_date": born + timedelta(days=2),
        "sex": sex,
        "birth_date": born,
        "birth_order": order,
        "mother_name": f"母{no}",
    }


def test_village_birth_reports_join_a_birth_or_make_their_own(engine: sa.Engine) -> None:
    """A village birth report joins the birth whose child has its child's key; else the birth of its
    mother within 30 days (the nearest); else it is a birth of its own (in_health, in_police false).
    A village death report is no birth, and a report after the reference date is not known yet."""
    born = date(2014, 3, 10)
    with engine.begin() as conn:
        publish(
            conn,
            "health",
            "birth_certificates",
            date(2014, 4, 30),
            [
                cert("H1", born, "1", 1, V1),  # child key 501: the village's V1 names the same child
                cert("H2", born, "2", 2, V1),  # mother key 602: V2 names her, 20 days later
                cert("H3", born, "1", 1, V2),  # mother key 603: V3 is 31 days later, another birth
            ],
        )
        publish(
            conn,
            "fp",
            "village_reports",
            date(2014, 4, 30),
            [
                village_birth("V1", born, "1", None, V1),
                village_birth("V2", born + timedelta(days=20), "2", None, V1),
                village_birth("V3", born + timedelta(days=31), "2", 1, V2),
                village_birth("V4", date(2014, 4, 1), "2", 2, V3),  # nobody else knows this one
                {**village_birth("V5", born, "1", 1, V3), "report_type": "死亡"},
            ],
        )
        publish(conn, "fp", "village_reports", AFTER, [village_birth("V6", date(2014, 6, 1), "1", 1, V3)])
        link(conn, "birth_certificates", "H1", "child", 501)
        link(conn, "birth_certificates", "H2", "mother", 602)
        link(conn, "birth_certificates", "H3", "mother", 603)
        link(conn, "village_reports", "V1", "child", 501)
        link(conn, "village_reports", "V2", "child", 502)
        link(conn, "village_reports", "V2", "mother", 602)
        link(conn, "village_reports", "V3", "mother", 603)
        link(conn, "village_reports", "V4", "child", 504)
        births.refresh_births(conn, REF)
        rows = conn.execute(
            sa.text(
                "SELECT birth_date, sex, birth_order, in_health, in_police, in_village_report, village_code"
                " FROM mart.births ORDER BY birth_date, sex, village_code"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (born, "F", 2, True, False, True, V1),  # H2 + V2 (same mother, 20 days)
        (born, "M", 1, True, False, True, V1),  # H1 + V1 (same child)
        (born, "M", 1, True, False, False, V2),  # H3: V3 is 31 days away
        (date(2014, 4, 1), "F", 2, False, False, True, V3),  # V4 alone
        (born + timedelta(days=31), "F", 1, False, False, True, V2),  # V3 alone
    ]
