"""Village direct reporting (村直报, issue 11) against real PostgreSQL, through FastAPI's test client.

The intake app (:func:`popdata.intake.app.create_app`) runs in process with a fixed clock
(2014-04-15, 10:30 Beijing time) and connects as ``popdata_village`` to a throwaway warehouse:

* every report type is accepted through the API, a birth through the mobile form;
* refused fields come back per field (API: ``errors``; form: the message under the field, 422)
  and nothing is stored;
* a token reports for its own village only; unknown and revoked tokens are refused;
* a ``client_id`` makes one report, however often and however concurrently it is sent;
* the per-minute limit answers 429 with ``Retry-After``, an oversized body 413;
* every submission is audited in ``intake.submissions`` with identity numbers and names masked;
* :func:`popdata.intake.batch.write_pending` writes the accepted reports as a file of
  ``fp/village_reports`` with its manifest, once, and again with the same bytes after a crash;
* that file loads through the normal pipeline, links, and reconciles into ``mart.births``.

Each test works on its own copy (``CREATE DATABASE … TEMPLATE``) of one warehouse the module
loads once with the sample landing folder (tests/fixtures/sample_landing): the region names
(``stats/regions``) first, then every other sample drop for the pipeline test.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from popdata.intake import batch, reports, tokens
from popdata.intake.app import COOKIE, create_app
from popdata.warehouse import db, migrate

pytestmark = pytest.mark.integration

SAMPLE_LANDING = Path(__file__).resolve().parents[1] / "fixtures" / "sample_landing"
BEIJING = ZoneInfo("Asia/Shanghai")
TODAY = date(2014, 4, 15)
NOW = datetime(2014, 4, 15, 10, 30, tzinfo=BEIJING)
"""The app's clock: a Tuesday morning in Beijing (02:30 UTC)."""
REFERENCE_DATE = date(2014, 6, 30)

VILLAGE = "120115106001"
"""门城社区 (八门城镇), the village of the sample's 段一彤 (birth_certificates_20131231.csv)."""
VILLAGE_NAME = "门城社区"
OTHER_VILLAGE = "120115106201"
"""红光村, another village of the same town."""
OTHER_VILLAGE_NAME = "红光村"
LABEL = "门城社区计生专干"

REPORT_NO = re.compile(r"^VR20140415\d{7}$")
CLIENT_ID_INPUT = re.compile(r'name="client_id" value="([^"]+)"')
REPORT_NO_ATTR = re.compile(r'data-report-no="([^"]+)"')


def make_id(body17: str) -> str:
    """An 18-character identity number: ``body17`` and its ISO 7064 MOD 11-2 check character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body17 + "10X98765432"[sum(int(d) * w for d, w in zip(body17, weights, strict=True)) % 11]


def bad_check(id_no: str) -> str:
    """``id_no`` with a wrong check character."""
    return id_no[:17] + ("0" if id_no[17] != "0" else "1")


SAMPLE_MOTHER = "段一彤"
SAMPLE_MOTHER_ID = "120115199203305823"
"""The mother of the sample certificate K164135642: a boy born 2013-01-05 in 门城社区."""
NEW_MOTHER_ID = make_id("12011519930214006")  # a woman the sample data does not know
FATHER_ID = make_id("12011519900520007")
DEATH_ID = make_id("12011519400312001")
MOVE_IN_ID = make_id("12011519850607002")
MOVE_OUT_ID = make_id("12011519900101003")
MARITAL_ID = make_id("12011519880808004")
ALL_IDS = (SAMPLE_MOTHER_ID, NEW_MOTHER_ID, FATHER_ID, DEATH_ID, MOVE_IN_ID, MOVE_OUT_ID, MARITAL_ID)

REPORTS: dict[str, dict[str, str]] = {
    "birth": {
        "sex": "2",
        "birth_date": "2014-04-02",
        "birth_order": "1",
        "mother_name": "韦小兰",
        "mother_id": NEW_MOTHER_ID,
        "father_name": "高建国",
        "father_id": FATHER_ID,
    },
    "death": {
        "name": "张德福",
        "id_no": DEATH_ID,
        "sex": "1",
        "birth_date": "1940-03-12",
        "death_date": "2014-04-10",
    },
    "move_in": {
        "name": "李秀英",
        "id_no": MOVE_IN_ID,
        "sex": "2",
        "birth_date": "1985-06-07",
        "move_date": "2014-03-20",
        "move_place": "天津市河西区",
    },
    "move_out": {
        "name": "王志强",
        "id_no": MOVE_OUT_ID,
        "sex": "1",
        "birth_date": "1990-01-01",
        "move_date": "2014-04-01",
        "move_place": "北京市朝阳区",
    },
    "marital": {"name": "赵晓燕", "id_no": MARITAL_ID, "marital": "已婚", "marital_date": "2014-03-08"},
}
"""One valid report of each type (the village's own people; every date on or before TODAY)."""
TYPE_VALUES = {"birth": "出生", "death": "死亡", "move_in": "迁入", "move_out": "迁出", "marital": "婚姻变动"}
SAMPLE_BIRTH = {
    "sex": "1",
    "birth_date": "2013-01-05",
    "birth_order": "1",
    "mother_name": SAMPLE_MOTHER,
    "mother_id": SAMPLE_MOTHER_ID,
}
"""A birth the health feed already has (certificate K164135642)."""


# --- fixtures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A loaded warehouse the tests copy (never connected to while a test runs)."""

    url: str


def _load(engine: sa.Engine, load_drops: Callable[..., None], landing: Path, work: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POPDATA_DATA_DOCS", str(work / "gx"))
        patch.setenv("POPDATA_QUARANTINE", str(work / "quarantine"))
        load_drops(engine, landing, work / "outbox")


def _copy(dbs: Any, source_url: str, prefix: str) -> str:
    """A new database (dropped with ``dbs``) copied from ``source_url``; returns its URL."""
    source = sa.engine.make_url(source_url)
    target = sa.engine.make_url(dbs.create(prefix))
    admin = sa.create_engine(source.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{target.database}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}" TEMPLATE "{source.database}"'))
    finally:
        admin.dispose()
    return target.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def regions_template(
    module_databases: Any, load_drops: Callable[..., None], tmp_path_factory: pytest.TempPathFactory
) -> Template:
    """A migrated warehouse with only the sample region reference (stats/regions) loaded."""
    work = tmp_path_factory.mktemp("village_regions")
    shutil.copytree(SAMPLE_LANDING / "stats" / "regions", work / "landing" / "stats" / "regions")
    url = module_databases.create("popdata_test_village_regions")
    engine = sa.create_engine(url)
    try:
        migrate.upgrade(engine)
        _load(engine, load_drops, work / "landing", work)
        with engine.connect() as conn:
            names = dict(conn.execute(sa.text("SELECT region_code, name FROM mart.region_names")).all())
        assert names[VILLAGE] == VILLAGE_NAME and names[OTHER_VILLAGE] == OTHER_VILLAGE_NAME
    finally:
        engine.dispose()
    return Template(url)


@pytest.fixture(scope="module")
def sample_template(
    regions_template: Template,
    module_databases: Any,
    load_drops: Callable[..., None],
    tmp_path_factory: pytest.TempPathFactory,
) -> Template:
    """The region template with every other sample drop loaded too (about 35-60 s, once)."""
    work = tmp_path_factory.mktemp("village_sample")
    shutil.copytree(SAMPLE_LANDING, work / "landing", ignore=shutil.ignore_patterns("regions"))
    url = _copy(module_databases, regions_template.url, "popdata_test_village_sample")
    engine = sa.create_engine(url)
    try:
        _load(engine, load_drops, work / "landing", work)
    finally:
        engine.dispose()
    return Template(url)


@dataclass(frozen=True)
class Warehouse:
    """A test's own warehouse: its URL (``POPDATA_WAREHOUSE_URL``), an engine as the platform,
    and empty landing and outbox folders."""

    url: str
    engine: sa.Engine
    landing: Path
    outbox: Path

    def scalar(self, sql: str, **params: Any) -> Any:
        """One value, read as the platform."""
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def issue(self, village_code: str = VILLAGE, label: str = LABEL, *, require_known: bool = True) -> str:
        """A new token for ``village_code``."""
        with self.engine.begin() as conn:
            return tokens.issue(conn, village_code, label, require_known=require_known)[1]

    def revoke(self, token: str) -> None:
        """Revoke ``token``."""
        with self.engine.begin() as conn:
            token_id = conn.execute(
                sa.text("SELECT token_id FROM intake.village_tokens WHERE token_sha256 = :h"),
                {"h": tokens.token_hash(token)},
            ).scalar_one()
            assert tokens.revoke(conn, token_id)


def _open(
    template: Template, dbs: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Warehouse]:
    url = _copy(dbs, template.url, "popdata_test_village")
    monkeypatch.setenv("POPDATA_WAREHOUSE_URL", url)
    for name in (
        "POPDATA_VILLAGE_URL",
        "POPDATA_PIPELINE_URL",
        "POPDATA_PIPELINE_ROLE",
        "POPDATA_VILLAGE_PER_MINUTE",
        "POPDATA_VILLAGE_PER_DAY",
        "POPDATA_VILLAGE_MAX_BODY_BYTES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POPDATA_DATA_DOCS", str(tmp_path / "gx"))
    engine = sa.create_engine(url)
    try:
        yield Warehouse(url, engine, tmp_path / "landing", tmp_path / "outbox")
    finally:
        engine.dispose()
        db.village_engine().dispose()  # the app's and the pipeline's cached engines on this copy
        db.pipeline_engine().dispose()


@pytest.fixture
def warehouse(
    regions_template: Template, databases: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Warehouse]:
    """A copy of the region template, named by ``POPDATA_WAREHOUSE_URL``."""
    yield from _open(regions_template, databases, monkeypatch, tmp_path)


@pytest.fixture
def loaded_warehouse(
    sample_template: Template, databases: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Warehouse]:
    """A copy of the warehouse with every sample drop loaded, named by ``POPDATA_WAREHOUSE_URL``."""
    yield from _open(sample_template, databases, monkeypatch, tmp_path)


class Clock:
    """The app's clock: :data:`NOW` until a test moves it."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def app_client(clock: Clock | None = None) -> TestClient:
    """A test client of a new app (settings read now) with ``clock``."""
    return TestClient(create_app(clock=clock or Clock()))


def post_report(client: TestClient, token: str, client_id: str, code: str, fields: dict[str, Any]) -> Any:
    """POST one report to the API."""
    return client.post(
        "/api/v1/reports",
        headers={"Authorization": f"Bearer {token}"},
        json={"client_id": client_id, "report_type": code, "fields": fields},
    )


def sign_in(client: TestClient, token: str) -> Any:
    """Sign in on the form (the cookie stays in ``client``)."""
    return client.post("/signin", data={"token": token})


def open_form(client: TestClient, code: str) -> str:
    """GET a report form; returns its client id."""
    page = client.get(f"/report/{code}")
    assert page.status_code == 200, page.text
    found = CLIENT_ID_INPUT.search(page.text)
    assert found, page.text
    return found.group(1)


def form_data(code: str, client_id: str, fields: dict[str, str]) -> dict[str, str]:
    """What a browser sends for the form of ``code``: every field, blanks included."""
    names = [f.name for f in reports.form_fields(reports.report_type(code))]
    return {"client_id": client_id, **dict.fromkeys(names, ""), **fields}


def field_error(html: str, name: str) -> str | None:
    """The message shown under field ``name`` of a form page (None: none)."""
    found = re.search(
        rf'<div class="field invalid" data-field="{name}">.*?<div class="error" id="e-{name}">(.*?)</div>',
        html,
        re.DOTALL,
    )
    return found.group(1) if found else None


def stored_reports(wh: Warehouse) -> list[Any]:
    """Every row of ``intake.village_reports``, oldest first."""
    with wh.engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT report_no, token_id, client_id, village_code, report_type, report_date, fields,"
                " batch_id FROM intake.village_reports ORDER BY report_id"
            )
        ).all()


def outcomes(wh: Warehouse) -> list[str]:
    """The outcomes of ``intake.submissions``, oldest first."""
    with wh.engine.connect() as conn:
        return list(
            conn.execute(sa.text("SELECT outcome FROM intake.submissions ORDER BY submission_id")).scalars()
        )


# --- 1. accepted reports -------------------------------------------------------------------------


def test_every_report_type_is_accepted_through_the_api(warehouse: Warehouse) -> None:
    """Birth, death, move in, move out and marital change: 201 with a ``VR<date><7 digits>`` number,
    one stored report each with the village, the report date and the clerk's label."""
    token = warehouse.issue()
    client = app_client()
    listed = client.get("/api/v1/report-types", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    assert listed.json()["village_code"] == VILLAGE
    assert [t["code"] for t in listed.json()["report_types"]] == list(REPORTS)

    numbers = {}
    for code, fields in REPORTS.items():
        answer = post_report(client, token, f"api-{code}", code, fields)
        assert answer.status_code == 201, (code, answer.text)
        assert answer.json()["status"] == "accepted"
        numbers[code] = answer.json()["report_no"]
        assert REPORT_NO.match(numbers[code]), numbers[code]
    assert len(set(numbers.values())) == len(REPORTS)

    rows = stored_reports(warehouse)
    assert [r.report_no for r in rows] == list(numbers.values())
    for row, (code, fields) in zip(rows, REPORTS.items(), strict=True):
        assert row.report_type == TYPE_VALUES[code]
        assert row.village_code == VILLAGE and row.report_date == TODAY and row.batch_id is None
        assert row.client_id == f"api-{code}"
        assert row.fields == {**fields, "region_code": VILLAGE, "clerk": LABEL}

    status = client.get(f"/api/v1/reports/{numbers['death']}", headers={"Authorization": f"Bearer {token}"})
    assert status.status_code == 200
    assert {k: v for k, v in status.json().items() if k != "accepted_at"} == {
        "report_no": numbers["death"],
        "report_type": "死亡",
        "file": None,
        "file_status": None,
        "file_rows_rejected": None,
    }
    assert datetime.fromisoformat(status.json()["accepted_at"]) == NOW


def test_a_birth_through_the_form(warehouse: Warehouse) -> None:
    """Sign in with the token (cookie), open the birth form, send it with its client id: the page
    shows the reference number; the menu lists it and its status page shows it waiting."""
    token = warehouse.issue()
    client = app_client()
    assert "村级直报令牌" in client.get("/").text  # not signed in: the sign-in page

    menu = sign_in(client, token)
    assert menu.status_code == 200 and VILLAGE_NAME in menu.text
    assert client.cookies.get(COOKIE) == token

    client_id = open_form(client, "birth")
    done = client.post(
        "/report/birth",
        data=form_data("birth", client_id, {"sex": "2", "birth_date": "2014-04-02", "mother_name": "李梅"}),
    )
    assert done.status_code == 200, done.text
    found = REPORT_NO_ATTR.search(done.text)
    assert found and REPORT_NO.match(found.group(1)), done.text
    report_no = found.group(1)

    rows = stored_reports(warehouse)
    assert [(r.report_no, r.client_id, r.report_type) for r in rows] == [(report_no, client_id, "出生")]
    assert rows[0].fields == {
        "sex": "2",
        "birth_date": "2014-04-02",
        "mother_name": "李梅",
        "region_code": VILLAGE,
        "clerk": LABEL,
    }
    assert report_no in client.get("/").text
    status = client.get(f"/reports/{report_no}")
    assert status.status_code == 200 and "等待下一批" in status.text
    assert outcomes(warehouse) == ["accepted"]


def test_the_report_date_is_the_date_in_beijing(warehouse: Warehouse) -> None:
    """At 00:30 in Beijing (16:30 UTC the day before) the report date, the reference number and
    the latest allowed event date are Beijing's day, not UTC's."""
    token = warehouse.issue()
    clock = Clock(datetime(2014, 4, 15, 16, 30, tzinfo=ZoneInfo("UTC")))
    client = app_client(clock)
    answer = post_report(client, token, "midnight", "death", {**DEATH, "death_date": "2014-04-16"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["report_no"].startswith("VR20140416")
    assert [r.report_date for r in stored_reports(warehouse)] == [date(2014, 4, 16)]
    too_late = post_report(client, token, "midnight-2", "death", {**DEATH, "death_date": "2014-04-17"})
    assert too_late.json()["errors"]["death_date"]["code"] == "date_after_report"
    sign_in(client, token)
    assert 'max="2014-04-16"' in client.get("/report/death").text


# --- 2. validation -------------------------------------------------------------------------------

DEATH = {"name": "张德福", "death_date": "2014-04-10"}

INVALID: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
    ("invalid_id", "death", {**DEATH, "id_no": bad_check(DEATH_ID)}, {"id_no": "id_bad_check_char"}),
    ("short_id", "move_out", {**REPORTS["move_out"], "id_no": "12011519900101"}, {"id_no": "id_bad_length"}),
    ("impossible_date", "death", {**DEATH, "death_date": "2014-02-30"}, {"death_date": "date_impossible"}),
    ("date_after_today", "death", {**DEATH, "death_date": "2014-04-16"}, {"death_date": "date_after_report"}),
    (
        "birth_after_today",
        "birth",
        {**REPORTS["birth"], "birth_date": "2014-05-01"},
        {"birth_date": "date_after_report"},
    ),
    (
        "other_village",
        "death",
        {**DEATH, "region_code": OTHER_VILLAGE},
        {"region_code": "region_outside_village"},
    ),
    (
        "other_village_by_name",
        "death",
        {**DEATH, "region_code": OTHER_VILLAGE_NAME},
        {"region_code": "region_outside_village"},
    ),
    ("damaged_text", "death", {**DEATH, "name": "张\ufffd福"}, {"name": "damaged_text"}),
    ("missing_required", "death", {"name": "张德福"}, {"death_date": "required_blank"}),
    ("blank_required", "birth", {**REPORTS["birth"], "sex": ""}, {"sex": "required_blank"}),
    ("unknown_field", "death", {**DEATH, "color": "red"}, {"color": "unknown_field"}),
    ("field_of_another_type", "death", {**DEATH, "marital": "已婚"}, {"marital": "unknown_field"}),
    ("not_text", "death", {**DEATH, "sex": 1}, {"sex": "not_text"}),
    ("too_long", "move_in", {**REPORTS["move_in"], "move_place": "河" * 101}, {"move_place": "too_long"}),
    (
        "not_in_vocabulary",
        "marital",
        {**REPORTS["marital"], "marital": "同居"},
        {"marital": "not_in_vocabulary"},
    ),
    ("unknown_report_type", "adoption", {"name": "张德福"}, {"report_type": "unknown_report_type"}),
]


@pytest.mark.parametrize(("case", "code", "fields", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_an_invalid_report_is_refused_per_field(
    warehouse: Warehouse, case: str, code: str, fields: dict[str, Any], expected: dict[str, str]
) -> None:
    """422 with one error per refused field (its reason code and Chinese message), nothing stored,
    the refusal audited with the same reasons."""
    token = warehouse.issue()
    answer = post_report(app_client(), token, f"c-{case}", code, fields)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["status"] == "invalid" and "report_no" not in body
    assert {f: e["code"] for f, e in body["errors"].items()} == expected
    for error in body["errors"].values():
        assert error["message"] == reports.MESSAGES_ZH[error["code"]]
    assert stored_reports(warehouse) == []
    with warehouse.engine.connect() as conn:
        audit = conn.execute(sa.text("SELECT outcome, errors, report_no FROM intake.submissions")).one()
    assert audit.outcome == "invalid" and audit.errors == expected and audit.report_no is None


def test_an_unreadable_body_or_client_id_is_refused(warehouse: Warehouse) -> None:
    """A body that is not a JSON object with ``fields``, or a malformed ``client_id``: 422, nothing stored."""
    token = warehouse.issue()
    client = app_client()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for content in (b"not json", b"[1, 2]", json.dumps({"client_id": "x", "report_type": "death"}).encode()):
        answer = client.post("/api/v1/reports", headers=headers, content=content)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"]["body"]["code"] == "body_invalid"
    for client_id in ("", "with space", "x" * 65, "身份证"):
        answer = post_report(client, token, client_id, "death", DEATH)
        assert answer.status_code == 422, answer.text
        assert {f: e["code"] for f, e in answer.json()["errors"].items()} == {
            "client_id": "client_id_invalid"
        }
    assert stored_reports(warehouse) == []
    assert outcomes(warehouse) == ["invalid"] * 7


def test_the_form_refuses_another_villages_region_on_its_field(warehouse: Warehouse) -> None:
    """The form's 村(居) field starts as the clerk's village; another village's code or name typed
    there is refused under that field, the clerk's own village's name is taken."""
    token = warehouse.issue()
    client = app_client()
    sign_in(client, token)
    client_id = open_form(client, "death")
    form = client.get("/report/death").text
    assert re.search(r'name="region_code"[^>]*value="' + VILLAGE + '"', form)
    other = client.post(
        "/report/death", data={**form_data("death", client_id, DEATH), "region_code": OTHER_VILLAGE}
    )
    assert other.status_code == 422
    assert field_error(other.text, "region_code") == reports.MESSAGES_ZH["region_outside_village"]
    assert stored_reports(warehouse) == []
    own = client.post(
        "/report/death", data={**form_data("death", client_id, DEATH), "region_code": "门城社区"}
    )
    assert own.status_code == 200 and REPORT_NO_ATTR.search(own.text)
    assert [r.fields["region_code"] for r in stored_reports(warehouse)] == [VILLAGE]


def test_the_form_shows_each_refusal_under_its_field(warehouse: Warehouse) -> None:
    """A refused form comes back with status 422, the message under each refused field, the values
    as typed and the same client id; nothing is stored until the clerk corrects it."""
    token = warehouse.issue()
    client = app_client()
    sign_in(client, token)
    client_id = open_form(client, "death")
    refused = client.post(
        "/report/death",
        data=form_data(
            "death",
            client_id,
            {"name": "张\ufffd福", "id_no": bad_check(DEATH_ID), "sex": "1", "death_date": "2014-02-30"},
        ),
    )
    assert refused.status_code == 422, refused.text
    html = refused.text
    assert field_error(html, "name") == reports.MESSAGES_ZH["damaged_text"]
    assert field_error(html, "id_no") == reports.MESSAGES_ZH["id_bad_check_char"]
    assert field_error(html, "death_date") == reports.MESSAGES_ZH["date_impossible"]
    assert field_error(html, "sex") is None and field_error(html, "birth_date") is None
    assert 'value="2014-02-30"' in html and f'value="{client_id}"' in html
    assert re.search(r'<option value="1" selected>男</option>', html)
    assert "有 3 项需要更正" in html

    later = client.post(
        "/report/death", data=form_data("death", client_id, {**DEATH, "death_date": "2014-04-16"})
    )
    assert later.status_code == 422
    assert field_error(later.text, "death_date") == reports.MESSAGES_ZH["date_after_report"]

    unknown = client.post("/report/death", data={**form_data("death", client_id, DEATH), "color": "red"})
    assert unknown.status_code == 422
    assert re.search(r'<div class="error" data-field="color">color：此类报告没有这一项</div>', unknown.text)
    assert stored_reports(warehouse) == []

    fixed = client.post("/report/death", data=form_data("death", client_id, DEATH))
    assert fixed.status_code == 200 and REPORT_NO_ATTR.search(fixed.text)
    assert len(stored_reports(warehouse)) == 1
    assert outcomes(warehouse) == ["invalid", "invalid", "invalid", "accepted"]


def test_every_refused_field_is_reported_at_once(warehouse: Warehouse) -> None:
    """Several faults in one report (an impossible date, an invalid identity number, damaged text,
    a blank required field, an unreadable optional one): every field comes back at once, so the
    clerk corrects them in one go."""
    token = warehouse.issue()
    client = app_client()
    cases = [
        (
            "move_out",
            {**REPORTS["move_out"], "id_no": bad_check(MOVE_OUT_ID), "move_date": "2014-02-30"},
            {"id_no": "id_bad_check_char", "move_date": "date_impossible"},
        ),
        (
            "birth",
            {
                **REPORTS["birth"],
                "birth_date": "2014-04-31",
                "birth_order": "x",
                "mother_name": "",
                "sex": "3",
            },
            {
                "birth_date": "date_impossible",
                "birth_order": "birth_order_unparseable",
                "mother_name": "required_blank",
                "sex": "sex_unknown_code",
            },
        ),
        (
            "death",
            {"name": "张\ufffd福", "id_no": bad_check(DEATH_ID), "birth_date": "2015-01-01"},
            {
                "name": "damaged_text",
                "id_no": "id_bad_check_char",
                "birth_date": "date_after_report",
                "death_date": "required_blank",
            },
        ),
    ]
    for n, (code, fields, expected) in enumerate(cases):
        answer = post_report(client, token, f"faults-{n}", code, fields)
        assert answer.status_code == 422
        assert {f: e["code"] for f, e in answer.json()["errors"].items()} == expected
    assert stored_reports(warehouse) == []


# --- 3. token scope ------------------------------------------------------------------------------


def test_unknown_and_revoked_tokens_are_refused(warehouse: Warehouse) -> None:
    """API: no token, an unknown one, a revoked one → 401 with ``WWW-Authenticate: Bearer``; form:
    an unknown token stays on the sign-in page (401), a revoked token's cookie leads back to it.
    A revoked token stops at once, nothing more is stored, and each refused submission is audited."""
    token = warehouse.issue()
    client = app_client()
    phone = app_client()
    sign_in(phone, token)
    first = post_report(client, token, "before", "death", REPORTS["death"])
    assert first.status_code == 201
    report_no = first.json()["report_no"]
    warehouse.revoke(token)

    refusals = 0
    for authorization in (None, "Bearer " + tokens.token_hash("nope")[:43], f"Bearer {token}", token):
        headers = {"Authorization": authorization} if authorization else {}
        for answer in (
            client.post(
                "/api/v1/reports",
                headers=headers,
                json={"client_id": "after", "report_type": "death", "fields": REPORTS["death"]},
            ),
            client.get("/api/v1/report-types", headers=headers),
            client.get(f"/api/v1/reports/{report_no}", headers=headers),
        ):
            assert answer.status_code == 401, (authorization, answer.text)
            assert answer.headers["WWW-Authenticate"] == "Bearer"
            assert answer.json()["error"] == "unauthorized"
            refusals += 1

    stranger = app_client()
    wrong = sign_in(stranger, "not-a-token")
    assert wrong.status_code == 401 and "令牌无效或已吊销" in wrong.text
    assert COOKIE not in stranger.cookies
    refusals += 1

    assert "令牌无效或已吊销" in phone.get("/").text  # the revoked token's cookie: sign in again
    assert "村级直报令牌" in phone.get("/report/death").text
    assert "村级直报令牌" in phone.get(f"/reports/{report_no}").text
    resent = phone.post("/report/death", data=form_data("death", "form-after", REPORTS["death"]))
    assert resent.status_code == 200 and "村级直报令牌" in resent.text and "data-report-no" not in resent.text
    refusals += 1

    assert [r.report_no for r in stored_reports(warehouse)] == [report_no]
    assert outcomes(warehouse) == ["accepted"] + ["unauthorized"] * refusals
    with warehouse.engine.connect() as conn:
        assert (
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM intake.submissions WHERE outcome = 'unauthorized' AND token_id IS NULL"
                )
            ).scalar_one()
            == refusals
        )


def test_a_clerk_sees_and_reports_for_own_village_only(warehouse: Warehouse) -> None:
    """Another village's report number is not found (404, API and form); its menu does not list it;
    a report naming another village's region (by code or by name) is refused."""
    ours = warehouse.issue()
    theirs = warehouse.issue(OTHER_VILLAGE, "红光村计生专干")
    client = app_client()
    report_no = post_report(client, ours, "shared-id", "death", REPORTS["death"]).json()["report_no"]

    assert (
        client.get(f"/api/v1/reports/{report_no}", headers={"Authorization": f"Bearer {ours}"}).status_code
        == 200
    )
    other = client.get(f"/api/v1/reports/{report_no}", headers={"Authorization": f"Bearer {theirs}"})
    assert other.status_code == 404 and other.json() == {"error": "not_found"}

    phone = app_client()
    sign_in(phone, theirs)
    page = phone.get(f"/reports/{report_no}")
    assert page.status_code == 404 and "本村没有这个编号的报告" in page.text
    menu = phone.get("/")
    assert OTHER_VILLAGE_NAME in menu.text and report_no not in menu.text

    for n, region in enumerate((VILLAGE, VILLAGE_NAME)):
        refused = post_report(client, theirs, f"into-{n}", "death", {**DEATH, "region_code": region})
        assert refused.status_code == 422
        assert refused.json()["errors"]["region_code"]["code"] == "region_outside_village"
    own = post_report(client, theirs, "shared-id", "death", {**DEATH, "region_code": OTHER_VILLAGE_NAME})
    assert own.status_code == 201  # the same client id under another token: its own report
    assert [(r.village_code, r.fields["region_code"]) for r in stored_reports(warehouse)] == [
        (VILLAGE, VILLAGE),
        (OTHER_VILLAGE, OTHER_VILLAGE),
    ]


def test_a_token_is_issued_for_a_known_village_only(warehouse: Warehouse) -> None:
    """A village the region reference does not have gets no token unless the county insists
    (``require_known=False``); such a token reports for that village code."""
    with warehouse.engine.begin() as conn, pytest.raises(tokens.TokenError, match="no village 120115106299"):
        tokens.issue(conn, "120115106299", "新村计生专干")
    for code in ("120115106000", "12011510600", "abc"):
        with warehouse.engine.begin() as conn, pytest.raises(tokens.TokenError):
            tokens.issue(conn, code, LABEL, require_known=False)
    token = warehouse.issue("120115106299", "新村计生专干", require_known=False)
    answer = post_report(app_client(), token, "new-village", "death", DEATH)
    assert answer.status_code == 201, answer.text
    assert [(r.village_code, r.fields["region_code"]) for r in stored_reports(warehouse)] == [
        ("120115106299", "120115106299")
    ]


# --- 4. idempotency ------------------------------------------------------------------------------


def test_the_same_client_id_makes_one_report(warehouse: Warehouse) -> None:
    """Sent again, the same report answers 200 ``replayed`` with the same number; different fields
    or another type under that client id answer 409 and change nothing. A resent form page, too."""
    token = warehouse.issue()
    client = app_client()
    first = post_report(client, token, "retry-1", "birth", REPORTS["birth"])
    assert first.status_code == 201
    report_no = first.json()["report_no"]

    again = post_report(client, token, "retry-1", "birth", {k: f" {v} " for k, v in REPORTS["birth"].items()})
    assert again.status_code == 200
    assert again.json() == {"status": "replayed", "report_no": report_no}

    for code, fields in (
        ("birth", {**REPORTS["birth"], "birth_date": "2014-04-03"}),
        ("birth", {k: v for k, v in REPORTS["birth"].items() if k != "father_name"}),
        ("death", REPORTS["death"]),
    ):
        conflict = post_report(client, token, "retry-1", code, fields)
        assert conflict.status_code == 409, conflict.text
        assert conflict.json()["status"] == "conflict"
    rows = stored_reports(warehouse)
    assert [r.report_no for r in rows] == [report_no]
    assert rows[0].fields["birth_date"] == "2014-04-02" and rows[0].fields["father_name"] == "高建国"

    sign_in(client, token)
    client_id = open_form(client, "death")
    sent = [client.post("/report/death", data=form_data("death", client_id, DEATH)) for _ in range(2)]
    numbers = [REPORT_NO_ATTR.search(page.text).group(1) for page in sent]  # type: ignore[union-attr]
    assert numbers[0] == numbers[1]
    assert "报告已受理" in sent[0].text and "此报告已受理过" in sent[1].text
    changed = client.post("/report/death", data=form_data("death", client_id, {**DEATH, "name": "张德贵"}))
    assert changed.status_code == 409
    assert len(stored_reports(warehouse)) == 2
    assert outcomes(warehouse) == [
        "accepted",
        "replayed",
        "conflict",
        "conflict",
        "conflict",
        "accepted",
        "replayed",
        "conflict",
    ]


def test_concurrent_retries_of_one_client_id_make_one_report(warehouse: Warehouse) -> None:
    """Eight threads post the same report with the same client id at once: one 201, seven 200
    ``replayed`` with the same number, exactly one stored report."""
    token = warehouse.issue()
    app = create_app(clock=Clock())
    threads = 8
    start = threading.Barrier(threads)
    answers: list[tuple[int, str | None]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def send() -> None:
        try:
            client = TestClient(app)
            start.wait(timeout=30)
            answer = post_report(client, token, "same-at-once", "death", REPORTS["death"])
            with lock:
                answers.append((answer.status_code, answer.json().get("report_no")))
        except BaseException as exc:  # reported below
            failures.append(exc)

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not failures, failures
    assert sorted(status for status, _ in answers) == [200] * (threads - 1) + [201]
    assert len({number for _, number in answers}) == 1
    rows = stored_reports(warehouse)
    assert len(rows) == 1 and rows[0].report_no == answers[0][1]
    assert sorted(outcomes(warehouse)) == ["accepted"] + ["replayed"] * (threads - 1)


# --- 5. limits -----------------------------------------------------------------------------------


def test_the_per_minute_limit_answers_429_with_retry_after(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``POPDATA_VILLAGE_PER_MINUTE=3`` the 4th submission of a token within the minute is
    refused with ``Retry-After``; another token is not affected; a minute later it is accepted."""
    monkeypatch.setenv("POPDATA_VILLAGE_PER_MINUTE", "3")
    clock = Clock()
    client = app_client(clock)
    busy, other = warehouse.issue(), warehouse.issue(label="门城社区网格员")
    for n in range(3):
        assert post_report(client, busy, f"busy-{n}", "death", DEATH).status_code == 201
    clock.now = NOW + timedelta(seconds=20)
    limited = post_report(client, busy, "busy-3", "death", DEATH)
    assert limited.status_code == 429, limited.text
    retry = int(limited.headers["Retry-After"])
    assert 1 <= retry <= 41
    assert limited.json() == {"status": "rate_limited", "retry_after": retry}

    assert post_report(client, other, "other-0", "death", DEATH).status_code == 201
    phone = app_client(clock)
    sign_in(phone, busy)
    page = phone.post("/report/death", data=form_data("death", open_form(phone, "death"), DEATH))
    assert page.status_code == 429 and f"请 {retry} 秒后再试" in page.text

    clock.now = NOW + timedelta(seconds=61)
    assert post_report(client, busy, "busy-3", "death", DEATH).status_code == 201
    assert len(stored_reports(warehouse)) == 5
    assert outcomes(warehouse).count("rate_limited") == 2


def test_the_per_day_limit(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``POPDATA_VILLAGE_PER_DAY=4`` the 5th submission of a token within a day is refused
    until a day after its first."""
    monkeypatch.setenv("POPDATA_VILLAGE_PER_DAY", "4")
    clock = Clock()
    client = app_client(clock)
    token = warehouse.issue()
    for n in range(4):
        clock.now = NOW + timedelta(hours=n)
        assert post_report(client, token, f"day-{n}", "death", DEATH).status_code == 201
    clock.now = NOW + timedelta(hours=5)
    limited = post_report(client, token, "day-4", "death", DEATH)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) == 19 * 3600 + 1
    assert limited.json()["status"] == "rate_limited"
    clock.now = NOW + timedelta(days=1, hours=5, seconds=1)  # the refused attempt, too, is a day old
    assert post_report(client, token, "day-4", "death", DEATH).status_code == 201


def test_waiting_retry_after_is_enough(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three reports at 0 s, 10 s and 20 s with ``POPDATA_VILLAGE_PER_MINUTE=3``; the 4th at 30 s is
    told to retry after 31 s; retried then (61 s, when the first report is over a minute old) it
    is accepted."""
    monkeypatch.setenv("POPDATA_VILLAGE_PER_MINUTE", "3")
    clock = Clock()
    client = app_client(clock)
    token = warehouse.issue()
    for n in range(3):
        clock.now = NOW + timedelta(seconds=10 * n)
        assert post_report(client, token, f"spread-{n}", "death", DEATH).status_code == 201
    clock.now = NOW + timedelta(seconds=30)
    limited = post_report(client, token, "spread-3", "death", DEATH)
    assert limited.status_code == 429
    retry = int(limited.headers["Retry-After"])
    assert retry == 31
    clock.now += timedelta(seconds=retry)
    assert post_report(client, token, "spread-3", "death", DEATH).status_code == 201


def test_an_oversized_body_is_refused_with_413(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over ``POPDATA_VILLAGE_MAX_BODY_BYTES``: 413 before any handler reads it, by its
    Content-Length or by counting a streamed (chunked) body; a report under the limit passes."""
    monkeypatch.setenv("POPDATA_VILLAGE_MAX_BODY_BYTES", "2048")
    token = warehouse.issue()
    client = app_client()
    headers = {"Authorization": f"Bearer {token}"}
    padded = {**DEATH, "move_place": "河" * 1000}
    big = client.post(
        "/api/v1/reports",
        headers=headers,
        json={"client_id": "big", "report_type": "death", "fields": padded},
    )
    assert big.status_code == 413, big.text
    assert big.json()["error"] == "too_large"

    body = json.dumps({"client_id": "streamed", "report_type": "death", "fields": padded}).encode()
    assert len(body) > 2048

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 256):
            yield body[i : i + 256]

    streamed = client.post(
        "/api/v1/reports", headers={**headers, "Content-Type": "application/json"}, content=chunks()
    )
    assert streamed.status_code == 413, streamed.text

    lying = client.post(
        "/api/v1/reports",
        headers={**headers, "Content-Type": "application/json", "Content-Length": "not-a-number"},
        content=b"{}",
    )
    assert lying.status_code == 413

    sign_in(client, token)
    form = client.post("/report/death", data=form_data("death", open_form(client, "death"), padded))
    assert form.status_code == 413

    small = json.dumps({"client_id": "small", "report_type": "death", "fields": DEATH}).encode()

    def small_chunks() -> Iterator[bytes]:
        yield small[:10]
        yield small[10:]

    fits = client.post(
        "/api/v1/reports", headers={**headers, "Content-Type": "application/json"}, content=small_chunks()
    )
    assert fits.status_code == 201, fits.text
    assert [r.client_id for r in stored_reports(warehouse)] == ["small"]
    with warehouse.engine.connect() as conn:
        refused = conn.execute(
            sa.text(
                "SELECT channel FROM intake.submissions WHERE outcome = 'too_large' ORDER BY submission_id"
            )
        ).scalars()
        assert list(refused) == ["api", "api", "api", "form"]


# --- 6. audit ------------------------------------------------------------------------------------


def masked_id(id_no: str) -> str:
    """An identity number as the audit keeps it: address code and last two characters."""
    return id_no[:6] + "*" * 10 + id_no[-2:]


def test_every_submission_is_audited_without_identity_numbers(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepted, replayed, conflict, invalid, rate-limited, unauthorized and too-large submissions
    each leave one ``intake.submissions`` row (who, when, outcome, number, reasons); identity
    numbers keep only their address code and last two characters, names their first character,
    and no submitted identity number appears anywhere in the table."""
    monkeypatch.setenv("POPDATA_VILLAGE_PER_MINUTE", "4")
    monkeypatch.setenv("POPDATA_VILLAGE_MAX_BODY_BYTES", "4096")
    token = warehouse.issue()
    client = app_client()
    accepted = post_report(client, token, "audit-1", "birth", REPORTS["birth"])
    report_no = accepted.json()["report_no"]
    assert post_report(client, token, "audit-1", "birth", REPORTS["birth"]).status_code == 200
    assert post_report(client, token, "audit-1", "death", REPORTS["death"]).status_code == 409
    invalid = {**REPORTS["death"], "id_no": bad_check(DEATH_ID)}
    assert post_report(client, token, "audit-2", "death", invalid).status_code == 422
    assert post_report(client, token, "audit-3", "move_in", REPORTS["move_in"]).status_code == 429
    assert post_report(client, "unknown", "audit-4", "marital", REPORTS["marital"]).status_code == 401
    padded = {**REPORTS["move_out"], "move_place": "河" * 2000}
    assert post_report(client, token, "audit-5", "move_out", padded).status_code == 413

    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT outcome, channel, token_id IS NOT NULL AS known, village_code, client_id, report_type,"
                " report_no, errors, masked_fields, submitted_at FROM intake.submissions ORDER BY submission_id"
            )
        ).all()
        everything = conn.execute(
            sa.text("SELECT string_agg(s::text, ' ') FROM intake.submissions s")
        ).scalar_one()
    assert [(r.outcome, r.channel, r.known, r.village_code, r.client_id, r.report_type) for r in rows] == [
        ("accepted", "api", True, VILLAGE, "audit-1", "birth"),
        ("replayed", "api", True, VILLAGE, "audit-1", "birth"),
        ("conflict", "api", True, VILLAGE, "audit-1", "death"),
        ("invalid", "api", True, VILLAGE, "audit-2", "death"),
        ("rate_limited", "api", True, VILLAGE, "audit-3", "move_in"),
        ("unauthorized", "api", False, None, None, None),
        ("too_large", "api", False, None, None, None),
    ]
    assert [r.report_no for r in rows[:3]] == [report_no] * 3
    assert rows[3].errors == {"id_no": "id_bad_check_char"}
    assert all(r.submitted_at == NOW for r in rows[:5])
    assert rows[0].masked_fields == {
        "sex": "2",
        "birth_date": "2014-04-02",
        "birth_order": "1",
        "mother_name": "韦**",
        "mother_id": masked_id(NEW_MOTHER_ID),
        "father_name": "高**",
        "father_id": masked_id(FATHER_ID),
        "region_code": VILLAGE,
    }
    assert rows[3].masked_fields["id_no"] == masked_id(bad_check(DEATH_ID))
    assert rows[4].masked_fields["id_no"] == masked_id(MOVE_IN_ID)
    assert rows[4].masked_fields["name"] == "李**"

    for id_no in (*ALL_IDS, bad_check(DEATH_ID)):
        assert id_no not in everything
    for name in ("韦小兰", "高建国", "张德福", "李秀英", "赵晓燕", "王志强"):
        assert name not in everything


def test_an_identity_number_in_the_wrong_field_is_masked_too(warehouse: Warehouse) -> None:
    """A clerk types the mother's identity number into 孩次 (birth order) or 出生日期: the report
    is refused, and the audit must not keep that number whole either."""
    token = warehouse.issue()
    client = app_client()
    for n, field in enumerate(("birth_order", "birth_date", "sex")):
        fields = {**REPORTS["birth"], field: SAMPLE_MOTHER_ID}
        assert post_report(client, token, f"wrong-{n}", "birth", fields).status_code == 422
    everything = warehouse.scalar("SELECT string_agg(s::text, ' ') FROM intake.submissions s")
    assert SAMPLE_MOTHER_ID not in everything


# --- 7. batching ---------------------------------------------------------------------------------


def read_batch(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of a batch file (UTF-8 with BOM, CRLF)."""
    import csv
    import io

    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
    header, *rows = list(reader)
    return header, [dict(zip(header, row, strict=True)) for row in rows]


def submit_all(warehouse: Warehouse, token: str, prefix: str = "batch") -> list[str]:
    """Submit one report of each type; their numbers, in order."""
    client = app_client()
    numbers = []
    for code, fields in REPORTS.items():
        answer = post_report(client, token, f"{prefix}-{code}", code, fields)
        assert answer.status_code == 201, answer.text
        numbers.append(answer.json()["report_no"])
    return numbers


def test_write_pending_writes_the_reports_once(warehouse: Warehouse) -> None:
    """One file of ``fp/village_reports`` with a manifest whose rows and sha256 match its bytes;
    the reports are marked batched; a second call writes nothing; a later report gets a new file;
    the report's status names its file."""
    token = warehouse.issue()
    numbers = submit_all(warehouse, token)
    folder = warehouse.landing / "fp" / "village_reports"

    (written,) = batch.write_pending(db.pipeline_engine(), warehouse.landing)
    assert written.path == folder / f"village_reports_20140415_{written.batch_id}.csv"
    data = written.path.read_bytes()
    assert written.rows == 5 and written.sha256 == hashlib.sha256(data).hexdigest()
    manifest = json.loads(written.path.with_name(written.path.name + ".manifest.json").read_text("utf-8"))
    assert manifest == {
        "agency": "fp",
        "feed": "village_reports",
        "extract_date": "2014-04-15",
        "rows": 5,
        "sha256": written.sha256,
        "encoding": "utf-8",
        "period_start": "2014-04-15",
        "period_end": "2014-04-15",
    }
    header, rows = read_batch(written.path)
    assert header == [c.headers[0] for c in reports.village_feed().columns]
    assert [r["报告编号"] for r in rows] == numbers
    assert [r["报告类型"] for r in rows] == list(TYPE_VALUES.values())
    assert {(r["村(居)区划代码"], r["报告日期"], r["填报人"]) for r in rows} == {
        (VILLAGE, "2014-04-15", LABEL)
    }
    assert rows[0]["母亲身份证号"] == NEW_MOTHER_ID and rows[0]["姓名"] == ""
    assert rows[1]["死亡日期"] == "2014-04-10" and rows[4]["婚姻状况"] == "已婚"

    assert {r.batch_id for r in stored_reports(warehouse)} == {written.batch_id}
    with warehouse.engine.connect() as conn:
        kept = conn.execute(
            sa.text(
                "SELECT file_name, reports, sha256, dropped_at IS NOT NULL AS dropped FROM intake.batches"
            )
        ).one()
    assert tuple(kept) == (written.path.name, 5, written.sha256, True)

    before = sorted(p.name for p in folder.iterdir())
    assert batch.write_pending(db.pipeline_engine(), warehouse.landing) == []
    assert sorted(p.name for p in folder.iterdir()) == before
    assert written.path.read_bytes() == data

    status = app_client().get(f"/api/v1/reports/{numbers[0]}", headers={"Authorization": f"Bearer {token}"})
    assert status.json()["file"] == written.path.name and status.json()["file_status"] is None

    replay = post_report(app_client(), token, "batch-death", "death", REPORTS["death"])
    assert replay.status_code == 200 and replay.json()["report_no"] == numbers[1]  # a late retry
    later = post_report(app_client(), token, "later", "death", DEATH).json()["report_no"]
    (second,) = batch.write_pending(db.pipeline_engine(), warehouse.landing)
    assert second.batch_id != written.batch_id and second.rows == 1
    assert [r["报告编号"] for r in read_batch(second.path)[1]] == [later]


def test_a_batch_left_unwritten_is_written_again_with_the_same_bytes(warehouse: Warehouse) -> None:
    """A batch claimed but not marked written (its file lost or half written before ``dropped_at``
    was set) is written again by the next call with the identical bytes and manifest; reports
    accepted meanwhile go to a new batch."""
    token = warehouse.issue()
    numbers = submit_all(warehouse, token)
    (first,) = batch.write_pending(db.pipeline_engine(), warehouse.landing)
    manifest_path = first.path.with_name(first.path.name + ".manifest.json")
    data, manifest = first.path.read_bytes(), manifest_path.read_bytes()

    with warehouse.engine.begin() as conn:
        conn.execute(sa.text("UPDATE intake.batches SET dropped_at = NULL"))
    first.path.unlink()
    manifest_path.unlink()
    status = app_client().get(f"/api/v1/reports/{numbers[0]}", headers={"Authorization": f"Bearer {token}"})
    assert status.json()["file"] is None  # not written out: still waiting

    later = post_report(app_client(), token, "meanwhile", "death", DEATH).json()["report_no"]
    again, new = batch.write_pending(db.pipeline_engine(), warehouse.landing)
    assert (again.batch_id, again.path, again.sha256) == (first.batch_id, first.path, first.sha256)
    assert first.path.read_bytes() == data and manifest_path.read_bytes() == manifest
    assert [r["报告编号"] for r in read_batch(new.path)[1]] == [later]

    with warehouse.engine.begin() as conn:  # half written this time
        conn.execute(
            sa.text("UPDATE intake.batches SET dropped_at = NULL WHERE batch_id = :b"), {"b": first.batch_id}
        )
    first.path.write_bytes(data[: len(data) // 2])
    manifest_path.unlink()
    (third,) = batch.write_pending(db.pipeline_engine(), warehouse.landing)
    assert third.batch_id == first.batch_id
    assert first.path.read_bytes() == data and manifest_path.read_bytes() == manifest
    assert warehouse.scalar("SELECT count(*) FROM intake.batches WHERE dropped_at IS NOT NULL") == 2
    assert warehouse.scalar("SELECT count(*) FROM intake.village_reports WHERE batch_id IS NULL") == 0


# --- 8. the pipeline -----------------------------------------------------------------------------


def test_a_batch_file_loads_links_and_reconciles(
    loaded_warehouse: Warehouse, load_drops: Callable[..., None]
) -> None:
    """Into a warehouse holding the sample drops: the batch file loads (ledger ``loaded``, a receipt
    in the outbox, rows in ``core.village_reports``), links (child and mother of a birth, the
    subject of the others), and reconciles: a birth only the village reported is a birth of
    ``mart.births``; a birth the health feed has too is one row with both flags. The report's
    status then says ``loaded``."""
    from popdata.linkage import link
    from popdata.reconcile.run import reconcile

    wh = loaded_warehouse
    token = wh.issue()
    client = app_client()
    numbers = dict(zip(REPORTS, submit_all(wh, token), strict=True))
    numbers["sample_birth"] = post_report(client, token, "sample-birth", "birth", SAMPLE_BIRTH).json()[
        "report_no"
    ]

    pipeline = db.pipeline_engine()
    (written,) = batch.write_pending(pipeline, wh.landing)
    load_drops(pipeline, wh.landing, wh.outbox)
    with wh.engine.connect() as conn:
        ledger = conn.execute(
            sa.text(
                "SELECT file_name, status, rows_read, rows_loaded, rows_rejected, receipt_path"
                " FROM audit.file_ledger WHERE feed = 'village_reports'"
            )
        ).one()
        core = dict(conn.execute(sa.text("SELECT report_no, report_type FROM core.village_reports")).all())
    assert ledger[:5] == (written.path.name, "loaded", 6, 6, 0)
    receipts = list((wh.outbox / "fp" / "receipts").glob("village_reports_*.receipt.json"))
    assert len(receipts) == 1, receipts
    receipt = json.loads(receipts[0].read_text("utf-8"))
    assert Path(ledger.receipt_path).name == receipts[0].name
    assert (receipt["agency"], receipt["feed"], receipt["file"], receipt["sha256"]) == (
        "fp",
        "village_reports",
        written.path.name,
        written.sha256,
    )
    assert (receipt["status"], receipt["rows_read"], receipt["rows_loaded"], receipt["rows_rejected"]) == (
        "loaded",
        6,
        6,
        0,
    )
    assert receipt["rejected_rows"] == [] and receipt["extract_date"] == "2014-04-15"
    assert core == {no: TYPE_VALUES.get(code, "出生") for code, no in numbers.items()}

    link.run(pipeline)
    with wh.engine.connect() as conn:
        links = conn.execute(
            sa.text(
                "SELECT source_key, role, person_key FROM core.record_link WHERE feed = 'village_reports'"
            )
        ).all()
    roles: dict[str, set[str]] = {}
    persons: dict[tuple[str, str], int] = {}
    for key, role, person in links:
        roles.setdefault(key, set()).add(role)
        persons[key, role] = person
    assert roles == {
        numbers["birth"]: {"child", "mother", "father"},
        numbers["sample_birth"]: {"child", "mother"},
        numbers["death"]: {"subject"},
        numbers["move_in"]: {"subject"},
        numbers["move_out"]: {"subject"},
        numbers["marital"]: {"subject"},
    }

    reconcile(pipeline, wh.outbox, REFERENCE_DATE)
    with wh.engine.connect() as conn:
        births = conn.execute(
            sa.text(
                "SELECT mother_person_key, birth_date, sex, birth_order, in_health, in_police, in_village_report,"
                " village_code FROM mart.births WHERE mother_person_key IN (:a, :b) OR in_village_report"
            ),
            {"a": persons[numbers["birth"], "mother"], "b": persons[numbers["sample_birth"], "mother"]},
        ).all()
    by_mother = {b.mother_person_key: b for b in births}
    assert len(births) == len(by_mother) == 2, births
    village_only = by_mother[persons[numbers["birth"], "mother"]]
    assert tuple(village_only)[1:] == (date(2014, 4, 2), "F", 1, False, False, True, VILLAGE)
    merged = by_mother[persons[numbers["sample_birth"], "mother"]]
    assert merged.birth_date == date(2013, 1, 5) and merged.sex == "M"
    assert merged.in_health and merged.in_village_report and merged.village_code == VILLAGE

    status = client.get(
        f"/api/v1/reports/{numbers['sample_birth']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert status.json()["file"] == written.path.name
    assert status.json()["file_status"] == "loaded" and status.json()["file_rows_rejected"] == 0
    phone = app_client()
    sign_in(phone, token)
    assert 'data-file-status="loaded"' in phone.get(f"/reports/{numbers['death']}").text
