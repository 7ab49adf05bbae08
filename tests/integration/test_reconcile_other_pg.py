"""popdata.reconcile.other on tiny hand-made rows, with hand-computed answers.

County 120115 (towns 001 and 002) holds the registry, deaths, approvals, checks and fees; the births
of the audits are in county 120116 so that they stay out of registry completeness. Reference date
2014-06-30 unless a test says otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from popdata.reconcile.other import TABLES, refresh_other
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration

REF = date(2014, 6, 30)
CST = timezone(timedelta(hours=8))
V1 = "120115001001"  # village 1 of town 001
V1B = "120115001002"  # village 2 of town 001
V2 = "120115002001"  # village 1 of town 002
W = "120116001001"  # the other county (births of the audits)
AGENCY = {
    "death_records": "health",
    "birth_certificates": "health",
    "prenatal_checks": "health",
    "hukou_cancellations": "police",
    "household_registry": "police",
    "birth_registrations": "police",
    "migrant_registrations": "police",
    "assistance_rolls": "fp",
    "birth_approvals": "fp",
    "social_fee_cases": "fp",
    "annual_targets": "fp",
}
PROGRAM = "农村部分计划生育家庭奖励扶助"


class Fixture:
    """Inserts ledger rows, core rows and links."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.lines = itertools.count(2)
        self.persons: set[int] = set()

    def file(
        self,
        feed: str,
        extract: date,
        received: datetime | None = None,
        *,
        status: str = "loaded",
        counts: tuple[int, int] | None = None,
    ) -> int:
        """A ledger row; ``counts`` = (rows_read, rows_rejected)."""
        received = received or datetime(extract.year, extract.month, extract.day, 12, tzinfo=CST)
        read, rejected = counts if counts else (None, None)
        file_id = int(
            self.conn.execute(
                sa.text(
                    "INSERT INTO audit.file_ledger (agency, feed, file_name, rel_path, sha256, size_bytes,"
                    " received_at, extract_date, status, stage, rows_read, rows_loaded, rows_rejected)"
                    " VALUES (:agency, :feed, :name, :name, :sha, 1, :received, :extract, :status, :stage,"
                    " :read, :loaded, :rejected) RETURNING file_id"
                ),
                {
                    "agency": AGENCY[feed],
                    "feed": feed,
                    "name": f"{feed}_{extract:%Y%m%d}_{next(self.lines)}.csv",
                    "sha": f"{next(self.lines):064x}",
                    "received": received,
                    "extract": extract,
                    "status": status,
                    "stage": "quarantined" if status == "quarantined" else "published",
                    "read": read,
                    "loaded": None if read is None else read - (rejected or 0),
                    "rejected": rejected,
                },
            ).scalar_one()
        )
        if feed == "household_registry":
            self.conn.execute(
                sa.text(
                    f"CREATE TABLE core.household_registry_rows_{file_id} PARTITION OF"
                    f" core.household_registry_rows FOR VALUES IN ({file_id})"
                )
            )
        return file_id

    def rows(self, feed: str, file_id: int, rows: list[dict[str, Any]]) -> None:
        """Rows of ``core.<feed>_rows`` sent by ``file_id``."""
        extract = self.conn.execute(
            sa.text("SELECT extract_date FROM audit.file_ledger WHERE file_id = :f"), {"f": file_id}
        ).scalar_one()
        for row in rows:
            values = {"file_id": file_id, "line_no": next(self.lines), "extract_date": extract, **row}
            columns = ", ".join(values)
            self.conn.execute(
                sa.text(
                    f"INSERT INTO core.{feed}_rows ({columns}) VALUES ({', '.join(':' + c for c in values)})"
                ),
                values,
            )

    def link(self, feed: str, source_key: str, role: str, person_key: int, method: str = "id_exact") -> None:
        """One row of core.record_link (the person is created when new)."""
        if person_key not in self.persons:
            self.conn.execute(sa.text("INSERT INTO core.person (person_key) VALUES (:k)"), {"k": person_key})
            self.persons.add(person_key)
        self.conn.execute(
            sa.text(
                "INSERT INTO core.record_link (feed, source_key, role, person_key, method, match_probability)"
                " VALUES (:feed, :key, :role, :pk, :method, :p)"
            ),
            {
                "feed": feed,
                "key": source_key,
                "role": role,
                "pk": person_key,
                "method": method,
                "p": 1.0 if method == "id_exact" else 0.995 if method == "probabilistic" else None,
            },
        )


def build(conn: sa.Connection) -> None:
    """The hand-made county (see the module docstring and each test for the expected answers)."""
    fx = Fixture(conn)
    # --- deaths: files of death_records also carry the feed-quality case -----------------------------
    f10 = fx.file("death_records", date(2014, 4, 30), datetime(2014, 5, 3, 10, tzinfo=CST), counts=(10, 2))
    f11 = fx.file("death_records", date(2014, 5, 31), datetime(2014, 6, 5, 9, tzinfo=CST), counts=(5, 0))
    f12 = fx.file("death_records", date(2014, 5, 31), datetime(2014, 6, 6, 0, 30, tzinfo=CST), counts=(4, 1))
    fx.file("death_records", date(2014, 5, 31), datetime(2014, 6, 5, 8, tzinfo=CST), status="quarantined")
    for line, reason in ((2, "missing_required"), (3, "bad_date")):
        conn.execute(
            sa.text("INSERT INTO audit.rejected_rows (file_id, line_no, reason_code) VALUES (:f, :l, :r)"),
            {"f": f10, "l": line, "r": reason},
        )
    conn.execute(
        sa.text("INSERT INTO audit.rejected_rows (file_id, line_no, reason_code) VALUES (:f, 2, 'x_reason')"),
        {"f": f12},
    )

    def death(cert: str, id_no: str | None, died: date, region: str, pk: int) -> dict[str, Any]:
        fx.link("death_records", cert, "subject", pk)
        return {
            "death_cert_no": cert,
            "name": "某" + cert,
            "id_no": id_no,
            "id_no_valid": id_no is not None,
            "death_date": died,
            "region_code": region,
        }

    fx.rows(
        "death_records",
        f11,
        [
            death("D1", None, date(2014, 5, 30), V1, 1001),  # 31 days: listed (matched by person key)
            death("D2", "ID2", date(2014, 5, 31), V1, 1002),  # 30 days: not yet
            death("D3", "ID3", date(2014, 1, 10), V2, 1003),  # cancelled for death (matched by ID)
            death("D4", "ID4", date(2014, 3, 1), V2, 1004),  # registry shows 死亡
            death("D5", "ID5", date(2013, 11, 15), V1, 1099),  # other key, same valid ID: listed
            death("D7", "ID7", date(2014, 1, 1), V2, 1007),
        ],
    )
    fc = fx.file("hukou_cancellations", date(2014, 6, 30))

    def cancel(
        no: str, id_no: str | None, reason: str, cancelled: date, died: date | None, region: str
    ) -> dict:
        return {
            "cancel_no": no,
            "id_no": id_no,
            "id_no_valid": id_no is not None,
            "name": "某" + no,
            "reason": reason,
            "cancel_date": cancelled,
            "death_date": died,
            "region_code": region,
        }

    fx.rows(
        "hukou_cancellations",
        fc,
        [
            cancel("C3", "ID3", "死亡", date(2014, 2, 1), date(2014, 1, 10), V2),
            cancel("C5", "ID5", "迁出", date(2014, 3, 1), None, V1),
            cancel("C6", "ID6", "死亡", date(2014, 4, 2), None, V1),
            cancel("C7", None, "死亡", date(2014, 1, 20), date(2014, 1, 1), V2),
            cancel("C8", "ID8", "死亡", date(2014, 1, 5), date(2013, 12, 31), V2),
            cancel("C10", None, "迁出", date(2014, 2, 1), None, V1),
        ],
    )
    fx.link("hukou_cancellations", "C7", "subject", 1007)
    fx.link("hukou_cancellations", "C8", "subject", 1008)
    fx.link("hukou_cancellations", "C10", "subject", 3002)

    # --- registry: an older snapshot (ignored) and the latest --------------------------------------
    old = fx.file("household_registry", date(2014, 5, 31))
    fx.rows(
        "household_registry",
        old,
        [
            {
                "id_no": "ID1",
                "id_no_valid": True,
                "name": "甲",
                "region_code": "120115009001",
                "status": "正常",
            }
        ],
    )
    snap = fx.file("household_registry", date(2014, 6, 30))
    full = {
        "ethnicity": "01",
        "relation": "02",
        "address": "某村1号",
        "marital": "20",
        "birth_date": date(1950, 1, 1),
    }

    def person(id_no: str, name: str, sex: str, region: str, hh: str, status: str, **extra: Any) -> dict:
        return {
            "id_no": id_no,
            "id_no_valid": not id_no.startswith("BAD"),
            "name": name,
            "sex": sex,
            "household_no": hh,
            "region_code": region,
            "status": status,
            **extra,
        }

    fx.rows(
        "household_registry",
        snap,
        [
            person("ID1", "甲", "1", V1, "H1", "正常", **full),  # complete, 10 fields
            person("ID2", "乙", "2", V1, "H1", "正常", **full),  # complete, 10 fields
            person("ID3", "丙", "1", V1, "H2", "正常", birth_date=date(1940, 1, 1)),  # complete, 6 fields
            person("ID5", "戊", "9", V1, "H2", "正常", **full),  # sex not stated: 9 fields
            person("ID4", "丁", "1", V2, "H3", "死亡", **full),  # not counted
            person("BADID9", "壬", "2", V2, "H3", "正常", **full),  # invalid ID: 9 fields
            person("ID2", "乙二", "2", V2, "H4", "迁出", **full),  # same ID, another name
        ],
    )
    for id_no, pk in (
        ("ID1", 1001),
        ("ID2", 1002),
        ("ID3", 1003),
        ("ID5", 1005),
        ("ID4", 1004),
        ("BADID9", 1009),
    ):
        fx.link("household_registry", id_no, "subject", pk)

    # --- assistance rolls -------------------------------------------------------------------------
    fr = fx.file("assistance_rolls", date(2014, 3, 31))
    rolls = [
        ("ID5", 2014, V1, 1005),  # died 2013-11-15 → paid after death
        ("ID5", 2013, V1, 1005),  # year started before the death
        ("ID3", 2014, V2, 1003),  # died 2014-01-10, after the year started
        ("ID7", 2014, V2, 1007),  # died 2014-01-01: the year starts on, not after, the death
        ("ID8", 2014, V2, 1008),  # police death 2013-12-31 → paid after death
        ("BADID9", 2014, V2, 1009),  # alive
        ("ID5001", 2013, W, 5001),  # mother of births in 2014 → new birth
        ("ID5003", 2013, W, 5003),  # first child born 2013: not a new birth
    ]
    fx.rows(
        "assistance_rolls",
        fr,
        [
            {
                "id_no": i,
                "id_no_valid": not i.startswith("BAD"),
                "name": "某" + i,
                "program": PROGRAM,
                "year": y,
                "amount": 960,
                "region_code": r,
            }
            for i, y, r, _ in rolls
        ],
    )
    for i, y, _, pk in rolls:
        fx.link("assistance_rolls", f"{i}|{PROGRAM}|{y}", "subject", pk)

    # --- birth approvals (town 001) ----------------------------------------------------------------
    fa = fx.file("birth_approvals", date(2014, 6, 30))
    fa_late = fx.file("birth_approvals", date(2014, 7, 31))

    def app(no: str, applied: date, decision: str, decided: date | None, category: str = "一孩") -> dict:
        return {
            "app_no": no,
            "wife_name": "妻" + no,
            "category": category,
            "apply_date": applied,
            "decision": decision,
            "decision_date": decided,
            "region_code": V1,
        }

    fx.rows(
        "birth_approvals",
        fa,
        [
            app("A1", date(2014, 3, 3), "批准", date(2014, 3, 13)),  # 10 days
            app("A2", date(2014, 3, 10), "批准", date(2014, 3, 30)),  # 20 days
            app("A3", date(2014, 3, 20), "不予批准", date(2014, 4, 19)),  # 30 days
            app("A4", date(2014, 3, 25), "待审", None),
            app("A5", date(2014, 3, 28), "批准", date(2014, 7, 5)),  # decided after the reference date
            app("A7", date(2014, 3, 5), "批准", date(2014, 3, 6), "再生育"),  # 1 day
        ],
    )
    fx.rows("birth_approvals", fa_late, [app("A6", date(2014, 7, 2), "待审", None)])
    fx.link("birth_approvals", "A1", "wife", 3001)
    fx.link("birth_approvals", "A2", "wife", 1001)
    fx.link("birth_approvals", "A3", "wife", 3004, "probabilistic")
    fx.link("birth_approvals", "A3", "husband", 3005)  # a migrant: not expected in the registry
    fm = fx.file("migrant_registrations", date(2014, 6, 30))
    fx.rows("migrant_registrations", fm, [{"reg_no": "M1", "name": "夫A3", "residence_region_code": V1}])
    fx.link("migrant_registrations", "M1", "subject", 3005)
    fx.link("birth_approvals", "A7", "wife", 3002, "new")
    fx.link("birth_approvals", "A6", "wife", 3007, "new")
    for candidate in (1001, 1002):
        conn.execute(
            sa.text(
                "INSERT INTO ops.clerical_review (mention_id, feed, source_key, role, person_key,"
                " candidate_person_key, candidate_mention_ids, match_probability, evidence_for, evidence_against)"
                " VALUES ('birth_approvals|A3|wife', 'birth_approvals', 'A3', 'wife', 3004, :c, '{}', 0.7,"
                " '{}', '{}')"
            ),
            {"c": candidate},
        )

    # --- targets, prenatal checks, social fees ----------------------------------------------------
    ft = fx.file("annual_targets", date(2014, 1, 15))
    targets = [
        ("120115000000", 2014, "孕前优生健康检查(对)", 4),
        ("120115001000", 2014, "孕前优生健康检查(对)", 2),
        ("120115002000", 2014, "孕前优生健康检查(对)", 2),
        ("120115001000", 2015, "孕前优生健康检查(对)", 3),  # after the reference year
        ("120115000000", 2014, "社会抚养费征收到位率(%)", 70),  # county: not on town rows
        ("120115001000", 2014, "社会抚养费征收到位率(%)", 70),
        ("120115002000", 2014, "社会抚养费征收到位率（%）", 65),  # full-width brackets
    ]
    fx.rows(
        "annual_targets",
        ft,
        [{"region_code": r, "year": y, "indicator": i, "target": t} for r, y, i, t in targets],
    )
    fp = fx.file("prenatal_checks", date(2014, 6, 30))

    def check(no: str, region: str, day: date, result: str | None, wife_id: str | None = None) -> dict:
        return {
            "check_no": no,
            "wife_name": "妻" + no,
            "wife_id": wife_id,
            "wife_id_valid": wife_id is not None and not wife_id.startswith("BAD"),
            "check_date": day,
            "region_code": region,
            "result": result,
        }

    fx.rows(
        "prenatal_checks",
        fp,
        [
            check("K1", V1, date(2014, 2, 1), "正常"),
            check("K2", V1, date(2014, 3, 1), "风险人群"),  # the same couple as K1
            check("K3", V1, date(2014, 4, 1), "正常", "IDW3"),
            check("K4", V2, date(2014, 5, 1), None, "BADW4"),
            check("K5", V1, date(2014, 7, 15), "正常"),  # after the reference date
            check("K6", V2, date(2013, 6, 1), "正常"),
        ],
    )
    fx.link("prenatal_checks", "K1", "wife", 2001)
    fx.link("prenatal_checks", "K2", "wife", 2001)
    fs = fx.file("social_fee_cases", date(2014, 6, 30))

    def case(no: str, region: str, decided: date, assessed: int, collected: int | None) -> dict:
        return {
            "case_no": no,
            "name": "某" + no,
            "decision_date": decided,
            "assessed": assessed,
            "collected": collected,
            "region_code": region,
        }

    fx.rows(
        "social_fee_cases",
        fs,
        [
            case("S1", V1, date(2014, 2, 1), 10000, 6000),
            case("S2", V1, date(2014, 5, 1), 5000, None),
            case("S3", V1, date(2014, 8, 1), 7000, 7000),  # after the reference date
            case("S4", V1B, date(2013, 3, 1), 1000, 1000),
        ],
    )
    fx.link("social_fee_cases", "S4", "subject", 3006)

    # --- births of the audits (county 120116) -------------------------------------------------------
    fb = fx.file("birth_certificates", date(2014, 6, 30))

    def cert(no: str, sex: str, born: date, mother: int | None, child: int | None) -> dict:
        if mother is not None:
            fx.link("birth_certificates", no, "mother", mother)
        if child is not None:
            fx.link("birth_certificates", no, "child", child, "probabilistic")
        return {
            "cert_no": no,
            "child_sex": sex,
            "birth_date": born,
            "mother_name": "母" + no,
            "region_code": W,
        }

    fx.rows(
        "birth_certificates",
        fb,
        [
            cert("B1", "1", date(2014, 1, 10), 5001, 4001),  # police says girl: conflict
            cert("B2", "2", date(2013, 1, 5), 5002, None),  # registration G2 names it: agrees
            cert("B3", "1", date(2013, 6, 1), 5003, None),  # no police record: not checked
            cert("B4", "2", date(2014, 6, 1), 5001, 4004),  # 142 days after B1: hit
            cert("B5", "1", date(2014, 6, 1), 5001, 4005),  # twin of B4: not a pair
            cert("B6", "2", date(2014, 2, 1), 5002, 4006),  # 392 days after B2
        ],
    )
    fg = fx.file("birth_registrations", date(2014, 6, 30))
    fx.rows(
        "birth_registrations",
        fg,
        [
            {
                "reg_no": "G1",
                "sex": "2",
                "birth_date": date(2014, 1, 11),
                "birth_cert_no": "B1",
                "region_code": W,
            },
            {
                "reg_no": "G2",
                "sex": "2",
                "birth_date": date(2013, 1, 5),
                "birth_cert_no": "B2",
                "region_code": W,
            },
        ],
    )
    fx.link("birth_registrations", "G1", "child", 4001)
    fx.link("birth_registrations", "G1", "mother", 5001)


@pytest.fixture
def engine(databases) -> Iterator[sa.Engine]:  # type: ignore[no-untyped-def]
    """A migrated warehouse holding the hand-made county, refreshed as of 2014-06-30."""
    eng = sa.create_engine(databases.create("popdata_test_reconcile_other"))
    migrate.upgrade(eng)
    with eng.begin() as conn:
        build(conn)
        refresh_other(conn, REF)
    try:
        yield eng
    finally:
        eng.dispose()


def fetch(engine: sa.Engine, query: str, **params: Any) -> list[Any]:
    """All rows of ``query``."""
    with engine.connect() as conn:
        return list(conn.execute(sa.text(query), params).all())


def test_deaths_not_cancelled_and_the_30_day_boundary(engine: sa.Engine) -> None:
    listed = fetch(
        engine, "SELECT death_cert_no, days_since_death, region_code, agency FROM ops.deaths_not_cancelled"
    )
    assert sorted(listed) == [("D1", 31, V1, "police"), ("D5", 227, V1, "police")]
    with engine.begin() as conn:  # one day later D2 (died 2014-05-31) has passed 30 days
        refresh_other(conn, date(2014, 7, 1))
    later = fetch(engine, "SELECT death_cert_no, days_since_death FROM ops.deaths_not_cancelled")
    assert sorted(later) == [("D1", 32), ("D2", 31), ("D5", 228)]


def test_paid_after_death_uses_the_start_of_the_roll_year(engine: sa.Engine) -> None:
    paid = fetch(
        engine,
        "SELECT id_no, year, death_date, death_source, amount FROM ops.paid_after_death ORDER BY id_no",
    )
    assert [tuple(r) for r in paid] == [
        ("ID5", 2014, date(2013, 11, 15), "health", 960),
        ("ID8", 2014, date(2013, 12, 31), "police", 960),
    ]


def test_death_reconciliation(engine: sa.Engine) -> None:
    rows = fetch(
        engine,
        "SELECT town_code, region_code, year, month, deaths_health, deaths_police, not_cancelled_over_30d,"
        " paid_after_death, reference_date FROM mart.death_reconciliation",
    )
    got = {(r.town_code, r.year, r.month): tuple(r[4:8]) for r in rows}
    assert got == {
        ("120115001", 2013, 11): (1, 0, 1, 1),
        ("120115001", 2014, 4): (0, 1, 0, 0),
        ("120115001", 2014, 5): (2, 0, 1, 0),
        ("120115002", 2013, 12): (0, 1, 0, 1),
        ("120115002", 2014, 1): (2, 2, 0, 0),
        ("120115002", 2014, 3): (1, 0, 0, 0),
    }
    assert {(r.town_code, r.region_code, r.reference_date) for r in rows} == {
        ("120115001", "120115001000", REF),
        ("120115002", "120115002000", REF),
    }


def test_fp_approvals(engine: sa.Engine) -> None:
    rows = fetch(
        engine,
        "SELECT category, year, month, applications, approved, rejected, pending, median_days_to_decision,"
        " p90_days_to_decision FROM mart.fp_approvals WHERE town_code = '120115001' ORDER BY category",
    )
    assert [tuple(r) for r in rows] == [
        ("一孩", 2014, 3, 5, 2, 1, 2, 20.0, pytest.approx(28.0)),  # days 10, 20, 30: p90 = 20 + 0.8·10
        ("再生育", 2014, 3, 1, 1, 0, 0, 1.0, 1.0),
    ]
    assert fetch(engine, "SELECT count(*) FROM mart.fp_approvals")[0][0] == 2  # A6 applied after the date


def test_prenatal_check_progress(engine: sa.Engine) -> None:
    rows = fetch(
        engine,
        "SELECT level, region_code, town_code, year, couples_checked, target, pct_of_target, at_risk_share"
        " FROM mart.prenatal_check_progress ORDER BY level, region_code, year",
    )
    assert [tuple(r) for r in rows] == [
        ("county", "120115000000", None, 2013, 1, None, None, 0.0),
        ("county", "120115000000", None, 2014, 3, 4, 0.75, 0.5),
        ("town", "120115001000", "120115001", 2014, 2, 2, 1.0, 0.5),
        ("town", "120115002000", "120115002", 2013, 1, None, None, 0.0),
        ("town", "120115002000", "120115002", 2014, 1, 2, 0.5, None),
    ]


def test_social_fee(engine: sa.Engine) -> None:
    rows = fetch(
        engine,
        "SELECT town_code, year, cases, assessed_yuan, collected_yuan, collection_rate, target_rate"
        " FROM mart.social_fee ORDER BY town_code, year",
    )
    assert [tuple(r) for r in rows] == [
        ("120115001", 2013, 1, 1000, 1000, 1.0, None),
        ("120115001", 2014, 2, 15000, 6000, 0.4, 0.7),
        ("120115002", 2014, 0, 0, 0, None, 0.65),
    ]


def test_registry_completeness(engine: sa.Engine) -> None:
    rows = fetch(
        engine,
        "SELECT region_code, village_code, town_code, persons, households, complete_persons, field_completeness,"
        " persons_known_elsewhere_not_registered, snapshot_date FROM mart.registry_completeness"
        " ORDER BY region_code",
    )
    assert [tuple(r[:8]) for r in rows] == [
        (V1, V1, "120115001", 4, 2, 3, 0.875, 2),  # 35 of 40 fields; 3001, 3004 known elsewhere
        (V1B, V1B, "120115001", 0, 0, 0, None, 1),  # 3006 of a fee case
        (V2, V2, "120115002", 1, 1, 0, 0.9, 0),
    ]
    assert {r.snapshot_date for r in rows} == {date(2014, 6, 30)}


def test_feed_quality(engine: sa.Engine) -> None:
    rows = fetch(
        engine,
        "SELECT received_date, cadence, files, files_quarantined, rows_read, rows_rejected, reject_rate,"
        " top_reason_code, days_late FROM mart.feed_quality WHERE feed = 'death_records' ORDER BY received_date",
    )
    assert [tuple(r) for r in rows] == [
        (date(2014, 5, 3), "monthly", 1, 0, 10, 2, 0.2, "bad_date", None),  # first file; tie → smallest code
        (date(2014, 6, 5), "monthly", 2, 1, 5, 0, 0.0, None, 5),  # due 2014-05-31
        (date(2014, 6, 6), "monthly", 1, 0, 4, 1, 0.25, "x_reason", 6),  # 00:30 Beijing time
    ]
    feeds = {r[0] for r in fetch(engine, "SELECT feed FROM mart.feed_quality WHERE feed = 'birth_approvals'")}
    assert feeds == {"birth_approvals"}
    assert fetch(engine, "SELECT count(*) FROM mart.feed_quality WHERE feed = 'birth_approvals'")[0][0] == 1


def test_linkage_quality(engine: sa.Engine) -> None:
    rows = fetch(
        engine,
        "SELECT feed, role, records, linked_by_id, linked_probabilistic, new_persons, review_queue"
        " FROM mart.linkage_quality WHERE feed = 'birth_approvals' ORDER BY role",
    )
    assert [tuple(r) for r in rows] == [
        ("birth_approvals", "husband", 1, 1, 0, 0, 0),
        ("birth_approvals", "wife", 5, 2, 1, 2, 1),
    ]


def test_cross_department_audits(engine: sa.Engine) -> None:
    rows = fetch(
        engine,
        "SELECT audit, region_code, county_code, checked, hits, hit_rate, audit_name"
        " FROM mart.cross_department_audits",
    )
    got = {(r.audit, r.county_code): (r.checked, r.hits, r.hit_rate) for r in rows}
    assert got == {
        ("birth_sex_conflict", "120116"): (2, 1, 0.5),
        ("birth_interval_under_9_months", "120116"): (2, 1, 0.5),
        ("id_shared", "120115"): (5, 1, 0.2),
        ("assistance_recipient_died", "120115"): (5, 4, 0.8),
        ("assistance_recipient_died", "120116"): (2, 0, 0.0),
        ("assistance_recipient_new_birth", "120115"): (5, 0, 0.0),
        ("assistance_recipient_new_birth", "120116"): (2, 1, 0.5),
    }
    assert all(r.region_code == r.county_code + "000000" and " / " in r.audit_name for r in rows)


def _checksums(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {
            table: conn.execute(
                sa.text(f"SELECT coalesce(md5(string_agg(t::text, '' ORDER BY t::text)), '') FROM {table} t")
            ).scalar_one()
            for table in TABLES
        }


def test_rerun_gives_identical_tables(engine: sa.Engine) -> None:
    before = _checksums(engine)
    assert all(before.values())  # every table has rows in this fixture
    with engine.begin() as conn:
        counts = refresh_other(conn, REF)
        counts_again = refresh_other(conn, REF)  # twice in one transaction is fine too
    assert counts == counts_again
    assert _checksums(engine) == before


def test_every_column_has_a_chinese_and_english_comment(engine: sa.Engine) -> None:
    inspector = sa.inspect(engine)
    for qualified in TABLES:
        schema, table = qualified.split(".")
        comment = inspector.get_table_comment(table, schema=schema)["text"] or ""
        assert " / " in comment, qualified
        for column in inspector.get_columns(table, schema=schema):
            text = column.get("comment") or ""
            assert " / " in text and any("\u4e00" <= ch <= "\u9fff" for ch in text), (
                f"{qualified}.{column['name']}"
            )


def test_downgrade_to_0006_drops_the_tables_and_upgrade_restores_them(databases) -> None:  # type: ignore[no-untyped-def]
    eng = sa.create_engine(databases.create("popdata_test_reconcile_other_down"))
    migrate.upgrade(eng)
    assert migrate.downgrade(eng, "0006") == "0006"
    inspector = sa.inspect(eng)
    for qualified in TABLES:
        schema, table = qualified.split(".")
        assert not inspector.has_table(table, schema=schema), qualified
    assert migrate.upgrade(eng) == migrate.head_revision()
    with eng.begin() as conn:
        assert set(refresh_other(conn, REF).values()) == {0}
    eng.dispose()
