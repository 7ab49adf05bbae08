"""The village reports section (村级直报) on a small warehouse of its own: weekly counts, silence, roles.

A database migrated to head gets a region reference (one county, three towns, five villages)
and six villages with tokens (:func:`popdata.intake.tokens.issue`), their reports written straight
into ``intake.village_reports`` at times relative to the database's clock:

* 东风村 reports every week or so (one report an hour ago), one of its two tokens revoked, two
  submissions refused this week and one ten days ago;
* 红旗村 last reported 20 days ago: silent;
* 向阳村 got its token 30 days ago and never reported: silent;
* 新田村 got its token two days ago and never reported: not silent yet;
* 石桥村 reported 30 days ago, its only token revoked: not silent (nobody can report);
* a village the region reference does not know (its token issued with ``require_known=False``).

The expected counts are computed here from the rows inserted (Python, Beijing weeks), never
from the views the section reads. The reports' fields carry names, identity numbers and the
tokens' labels a clerk typed: none of them may reach the page. The view reads the section as its
own login (``popdata_view``, through :func:`popdata.dashboard.app.warehouse`), which cannot read
``intake`` itself.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import ProgrammingError

from popdata.dashboard.model import Section, Table
from popdata.dashboard.sections import villages
from popdata.intake import tokens
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration

BEIJING = ZoneInfo("Asia/Shanghai")
ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
FIGURE = re.compile(r'data-figure="([^"]+)" data-value="([^"]*)"')

REGIONS = (
    ("320102000000", "清源区", "县", None),
    ("320102001000", "东湖镇", "乡", "320102000000"),
    ("320102002000", "西山乡", "乡", "320102000000"),
    ("320102001001", "东风村", "村", "320102001000"),
    ("320102001002", "红旗村", "村", "320102001000"),
    ("320102001003", "向阳村", "村", "320102001000"),
    ("320102002001", "新田村", "村", "320102002000"),
    ("320102002002", "石桥村", "村", "320102002000"),
)
DONGFENG, HONGQI, XIANGYANG, XINTIAN, SHIQIAO = (code for code, _, level, _ in REGIONS if level == "村")
UNKNOWN = "320102003001"
"""A village the region reference does not have (nor its town)."""

REPORT_TYPES = ("出生", "死亡", "迁入", "迁出", "婚姻变动")
PERSON_NAMES = ("欧阳明月", "司马秀英", "诸葛建国", "上官婉清", "慕容志强", "皇甫春花")
ID_NUMBERS = ("110101199003074514", "320102198507121236", "32010219920230101X", "320102201801015521")
TOKEN_LABELS = {
    DONGFENG: "填报员张桂芳",
    HONGQI: "填报员李德胜",
    XIANGYANG: "填报员赵玉兰",
    XINTIAN: "填报员钱满仓",
    SHIQIAO: "填报员孙秀珍",
    UNKNOWN: "填报员周铁柱",
}
"""What the county typed as each token's label (here a clerk's name: never shown)."""
SECRETS = (*PERSON_NAMES, *ID_NUMBERS, *(label.removeprefix("填报员") for label in TOKEN_LABELS.values()))

REPORT_AGES: dict[str, tuple[timedelta, ...]] = {
    DONGFENG: (
        timedelta(hours=1),
        timedelta(days=1),
        timedelta(days=3),
        timedelta(days=8),
        timedelta(days=9),
        timedelta(days=15),
        timedelta(days=22),
        timedelta(days=30),
        timedelta(days=45),
        timedelta(days=52),
        timedelta(days=70),
    ),
    HONGQI: (timedelta(days=20), timedelta(days=27), timedelta(days=27, hours=3)),
    SHIQIAO: (timedelta(days=30),),
    UNKNOWN: (timedelta(hours=2), timedelta(days=4)),
}
"""How long ago each village's reports were accepted."""
TOKEN_AGES = {XIANGYANG: timedelta(days=30), XINTIAN: timedelta(days=2)}
"""Tokens issued this long ago (the others: 90 days ago)."""


@dataclass(frozen=True)
class VillageWarehouse:
    """The module's warehouse: its URL, an engine as the platform, and what was inserted."""

    url: str
    engine: sa.Engine
    accepted: dict[str, list[datetime]]
    """Village → when each of its reports was accepted."""
    waiting: dict[str, int]
    """Village → reports not in a batch."""


def _load_regions(conn: sa.Connection) -> None:
    """A published region reference, as the loader leaves one: a ledger row and its partition."""
    file_id = conn.execute(
        sa.text(
            "INSERT INTO audit.file_ledger (agency, feed, file_name, rel_path, sha256, size_bytes,"
            " extract_date, status, stage, rows_read, rows_loaded, rows_rejected)"
            " VALUES ('stats', 'regions', 'stats_regions_20240101.csv', 'stats/stats_regions_20240101.csv',"
            " repeat('a', 64), 100, DATE '2024-01-01', 'loaded', 'published', :n, :n, 0) RETURNING file_id"
        ),
        {"n": len(REGIONS)},
    ).scalar_one()
    conn.execute(
        sa.text(
            f"CREATE TABLE core.regions_rows_{file_id} PARTITION OF core.regions_rows FOR VALUES IN ({file_id})"
        )
    )
    for line_no, (code, name, level, parent) in enumerate(REGIONS, start=1):
        conn.execute(
            sa.text(
                "INSERT INTO core.regions_rows (file_id, line_no, extract_date, code, code_sent, name, level,"
                " parent_code, parent_code_sent) VALUES (:f, :l, DATE '2024-01-01', :c, :c, :n, :v, :p, :p)"
            ),
            {"f": file_id, "l": line_no, "c": code, "n": name, "v": level, "p": parent},
        )


def _fields(kind: str, index: int, clerk: str) -> dict[str, Any]:
    """A report's fields as the intake app stores them: names and identity numbers included."""
    name = PERSON_NAMES[index % len(PERSON_NAMES)]
    id_no = ID_NUMBERS[index % len(ID_NUMBERS)]
    if kind == "出生":
        return {
            "name": name,
            "sex": "1",
            "mother_name": PERSON_NAMES[(index + 1) % 6],
            "mother_id": id_no,
            "clerk": clerk,
        }
    return {"name": name, "id_no": id_no, "sex": "2", "clerk": clerk}


def _populate(conn: sa.Connection) -> tuple[dict[str, list[datetime]], dict[str, int]]:
    now: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
    token_ids: dict[str, int] = {}
    for code, label in TOKEN_LABELS.items():
        token_id, _ = tokens.issue(conn, code, label, require_known=code != UNKNOWN)
        token_ids[code] = token_id
        conn.execute(
            sa.text("UPDATE intake.village_tokens SET created_at = :at WHERE token_id = :t"),
            {"at": now - TOKEN_AGES.get(code, timedelta(days=90)), "t": token_id},
        )
    # 东风村 has a second token, revoked; 石桥村's only token is revoked
    spare, _ = tokens.issue(conn, DONGFENG, "备用令牌")
    assert tokens.revoke(conn, spare) and tokens.revoke(conn, token_ids[SHIQIAO])

    batch_id = conn.execute(
        sa.text(
            "INSERT INTO intake.batches (file_name, extract_date, reports, sha256, dropped_at)"
            " VALUES ('fp_village_reports_test.csv', CURRENT_DATE, 1, repeat('b', 64), now()) RETURNING batch_id"
        )
    ).scalar_one()
    accepted: dict[str, list[datetime]] = {}
    waiting: Counter[str] = Counter()
    report_id = 0
    for code, ages in REPORT_AGES.items():
        for age in ages:
            report_id += 1
            moment = now - age
            batched = age > timedelta(days=7)  # older reports have been written to a file
            conn.execute(
                sa.text(
                    "INSERT INTO intake.village_reports (report_id, report_no, token_id, client_id, village_code,"
                    " report_type, report_date, fields, accepted_at, batch_id)"
                    " VALUES (:id, :no, :t, :c, :v, :rt, :d, CAST(:f AS jsonb), :at, :b)"
                ),
                {
                    "id": report_id,
                    "no": f"VR{report_id:06d}",
                    "t": token_ids[code],
                    "c": f"client-{report_id}",
                    "v": code,
                    "rt": REPORT_TYPES[report_id % len(REPORT_TYPES)],
                    "d": moment.astimezone(BEIJING).date(),
                    "f": json.dumps(
                        _fields(REPORT_TYPES[report_id % 5], report_id, TOKEN_LABELS[code]),
                        ensure_ascii=False,
                    ),
                    "at": moment,
                    "b": batch_id if batched else None,
                },
            )
            accepted.setdefault(code, []).append(moment)
            waiting[code] += not batched
    # refused submissions of 东风村: two this week, one ten days ago (outside the 7 days)
    for age, outcome in (
        (timedelta(hours=5), "invalid"),
        (timedelta(days=2), "rate_limited"),
        (timedelta(days=10), "invalid"),
    ):
        conn.execute(
            sa.text(
                "INSERT INTO intake.submissions (submitted_at, token_id, village_code, channel, client_id,"
                " report_type, outcome, errors, masked_fields)"
                " VALUES (:at, :t, :v, 'form', 'refused', '出生', :o, '{}'::jsonb, CAST(:m AS jsonb))"
            ),
            {
                "at": now - age,
                "t": token_ids[DONGFENG],
                "v": DONGFENG,
                "o": outcome,
                "m": json.dumps({"name": "欧**", "mother_id": "110101********4514"}, ensure_ascii=False),
            },
        )
    return accepted, dict(waiting)


@pytest.fixture(scope="module")
def warehouse(module_databases: Any) -> Iterator[VillageWarehouse]:
    url = module_databases.create("popdata_test_villages")
    engine = sa.create_engine(url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            _load_regions(conn)
            accepted, waiting = _populate(conn)
        yield VillageWarehouse(url, engine, accepted, waiting)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def as_view(warehouse: VillageWarehouse) -> Iterator[None]:
    """The view's own connection path (:func:`popdata.dashboard.app.warehouse`) points at the module's warehouse."""
    from popdata.warehouse import db

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POPDATA_WAREHOUSE_URL", warehouse.url)
        patch.delenv("POPDATA_VIEW_URL", raising=False)
        try:
            yield
        finally:
            db.view_engine().dispose()
            db._engine.cache_clear()


@pytest.fixture(scope="module")
def section(warehouse: VillageWarehouse) -> Section:
    with warehouse.engine.connect() as conn:
        return villages.build(conn)


def _db_now(engine: sa.Engine) -> datetime:
    with engine.connect() as conn:
        now: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
        return now


def _monday(moment: datetime) -> date:
    local = moment.astimezone(BEIJING).date()
    return local - timedelta(days=local.weekday())


def _table(section: Section, key: str) -> Table:
    return next(t for t in section.tables if t.key == key)


def _rows_by_code(table: Table) -> dict[str, list[str]]:
    return {row[2].text: [cell.text for cell in row] for row in table.rows}


def test_weekly_counts_per_village(warehouse: VillageWarehouse, section: Section) -> None:
    now = _db_now(warehouse.engine)
    this_week = _monday(now)
    weeks = [this_week - timedelta(weeks=n) for n in range(7, -1, -1)]
    table = _table(section, "village_reports")
    columns = [c.zh for c in table.columns]
    assert columns[:4] == ["乡镇", "村（居）", "区划代码", "有效令牌"]
    assert columns[4:12] == [f"{w:%m-%d}起" for w in weeks[:-1]] + [f"本周 {this_week:%m-%d}"]
    rows = _rows_by_code(table)
    assert set(rows) == set(TOKEN_LABELS)  # every village that ever had a token, revoked ones too
    for code, cells in rows.items():
        per_week = Counter(_monday(m) for m in warehouse.accepted.get(code, []))
        assert cells[4:12] == [str(per_week.get(w, 0)) for w in weeks], code
        assert cells[12] == str(len(warehouse.accepted.get(code, []))), code
        assert cells[14] == str(warehouse.waiting.get(code, 0)), code
    # 东风村: every report but the 70-day-old one (and maybe the 52-day-old one) is in the 8 weeks
    assert sum(int(c) for c in rows[DONGFENG][4:12]) >= 9
    assert rows[DONGFENG][:4] == ["东湖镇", "东风村", DONGFENG, "1"]
    assert rows[DONGFENG][15] == "2"  # refused in the last 7 days (the one 10 days ago is not)
    assert rows[UNKNOWN][:2] == ["320102003", villages.UNKNOWN_VILLAGE]
    last = max(warehouse.accepted[DONGFENG]).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    assert rows[DONGFENG][13] == last  # Beijing time


def test_headline_figures(warehouse: VillageWarehouse, section: Section) -> None:
    now = _db_now(warehouse.engine)
    this_week = _monday(now)
    every = [m for moments in warehouse.accepted.values() for m in moments]
    assert [f.key for f in section.figures] == [
        "villages_with_token",
        "village_reports_week",
        "village_reports_last_week",
        "silent_villages",
        "village_reports_waiting",
        "village_submissions_refused",
    ]
    assert section.figure("villages_with_token").value == 5  # 石桥村's only token is revoked
    assert section.figure("village_reports_week").value == sum(_monday(m) == this_week for m in every)
    assert section.figure("village_reports_last_week").value == sum(
        _monday(m) == this_week - timedelta(weeks=1) for m in every
    )
    assert section.figure("village_reports_week").text != "0"
    silent = section.figure("silent_villages")
    assert silent.value == 2 and silent.status == "bad"
    assert silent.note is not None and f"{villages.SILENT_AFTER_DAYS}天" in silent.note.zh
    assert section.figure("village_reports_waiting").value == sum(warehouse.waiting.values())
    refused = section.figure("village_submissions_refused")
    assert refused.value == 2 and refused.status == "warn"
    assert section.as_of == now.astimezone(BEIJING).date()
    assert [c.key for c in section.charts] == ["village_reports_by_week"]
    assert "<svg" in section.charts[0].svg()


def test_silent_villages_include_one_that_never_reported(section: Section) -> None:
    silent = _table(section, "silent_villages")
    assert [row[2].text for row in silent.rows] == [XIANGYANG, HONGQI]  # longest silent first
    xiangyang, hongqi = (_rows_by_code(silent)[code] for code in (XIANGYANG, HONGQI))
    assert xiangyang[1] == "向阳村" and xiangyang[5] == "从未 / never" and xiangyang[6] == "30"
    assert hongqi[1] == "红旗村" and hongqi[6] == "20"
    assert f"超过{villages.SILENT_AFTER_DAYS}天" in silent.title.zh
    states = {code: cells[-1] for code, cells in _rows_by_code(_table(section, "village_reports")).items()}
    assert states[XIANGYANG].startswith("已沉默") and states[HONGQI].startswith("已沉默")
    assert states[XINTIAN].startswith("新令牌")  # never reported, token two days old: not silent yet
    assert states[SHIQIAO].startswith("令牌均已吊销")  # silent for 30 days, but nobody can report
    assert states[DONGFENG] == "正常 / reporting" and states[UNKNOWN] == "正常 / reporting"


def test_silence_is_judged_against_now(warehouse: VillageWarehouse) -> None:
    """Fifteen days on, 东风村 and the unknown village are silent too; 新田村 (token 2 + 15 days) as well."""
    later = _db_now(warehouse.engine) + timedelta(days=15)
    with warehouse.engine.connect() as conn:
        built = villages.build(conn, now=later)
    silent = [row[2].text for row in _table(built, "silent_villages").rows]
    assert set(silent) == {XIANGYANG, HONGQI, DONGFENG, UNKNOWN, XINTIAN}
    assert built.figure("silent_villages").value == 5


def test_the_view_reads_the_section_as_its_own_login(warehouse: VillageWarehouse, as_view: None) -> None:
    from popdata.dashboard.app import load_section
    from popdata.dashboard.app import warehouse as view_warehouse

    with view_warehouse() as conn:
        assert conn.execute(sa.text("SELECT session_user")).scalar_one() == "popdata_view"
        page = load_section(conn, "villages")
    assert page.section is not None and page.unavailable is None
    assert page.section.figure("silent_villages").value == 2
    assert page.section.figure("villages_with_token").value == 5
    for sql in (
        "SELECT 1 FROM intake.village_reports LIMIT 1",
        "SELECT 1 FROM intake.village_tokens LIMIT 1",
        "SELECT 1 FROM intake.submissions LIMIT 1",
    ):
        with pytest.raises(ProgrammingError, match="permission denied"), view_warehouse() as conn:
            conn.execute(sa.text(sql))


def test_the_page_shows_counts_and_no_name_or_id_number(warehouse: VillageWarehouse, as_view: None) -> None:
    from fastapi.testclient import TestClient

    from popdata.dashboard.app import create_app, require_user

    app = create_app()
    app.dependency_overrides[require_user] = lambda: "tester"  # the login itself: test_dashboard_app
    with TestClient(app) as client:
        page = client.get("/villages")
        overview = client.get("/")
    assert page.status_code == 200 and overview.status_code == 200
    html = page.text
    shown = dict(FIGURE.findall(html))
    assert shown["silent_villages"] == "2" and shown["villages_with_token"] == "5"
    assert dict(FIGURE.findall(overview.text))["silent_villages"] == "2"
    assert 'data-section="villages"' in html and 'data-nav="villages"' in html
    assert '村级直报 <span class="en">/ Village reports' in html
    assert 'data-table="silent_villages"' in html and 'data-table="village_reports"' in html
    assert 'data-chart="village_reports_by_week"' in html and "<svg" in html
    for name in ("东风村", "红旗村", "向阳村", "新田村", "石桥村", "东湖镇", "西山乡"):
        assert name in html, name
    assert f"超过{villages.SILENT_AFTER_DAYS}天" in html
    for text in (html, overview.text):
        assert not ID_NUMBER.search(text), ID_NUMBER.search(text)
        leaked = [s for s in SECRETS if s in text]
        assert not leaked, leaked
        assert "填报员" not in text and "备用令牌" not in text  # no token label


def test_no_token_yet_and_an_older_warehouse(databases: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """No token: the empty state. A warehouse before migration 0014: a message, not a failure."""
    from popdata.dashboard.app import load_section
    from popdata.dashboard.app import warehouse as view_warehouse
    from popdata.warehouse import db

    current = sa.create_engine(databases.create("popdata_test_villages_empty"))
    older = sa.create_engine(databases.create("popdata_test_villages_0013"))
    try:
        migrate.upgrade(current)
        assert migrate.upgrade(older, "0013") == "0013"
        with current.connect() as conn:
            empty = villages.build(conn)
        assert empty.empty == villages.EMPTY and empty.empty.zh.startswith("尚未发放村级直报令牌")
        assert empty.as_of is None and not empty.figures and not empty.charts and not empty.tables
        with older.connect() as conn:
            before = villages.build(conn)
        assert before.empty == villages.NOT_MIGRATED
        assert not before.figures and not before.charts and not before.tables
        # the same through the view's login (popdata_view exists from 0012 on)
        for engine, expected in ((current, villages.EMPTY), (older, villages.NOT_MIGRATED)):
            monkeypatch.setenv("POPDATA_WAREHOUSE_URL", engine.url.render_as_string(hide_password=False))
            monkeypatch.delenv("POPDATA_VIEW_URL", raising=False)
            try:
                with view_warehouse() as conn:
                    page = load_section(conn, "villages")
            finally:
                db.view_engine().dispose()  # cached per URL: no connection left to the dropped database
            assert page.section is not None and page.section.empty == expected
    finally:
        current.dispose()
        older.dispose()
