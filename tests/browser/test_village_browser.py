"""Village direct reporting (村级直报) on a phone, end to end (issue 11).

A real ``airflow api-server`` (this repository's plugins folder) serves the intake app at
``/village/`` on a warehouse of this module's own (the sample landing's region reference and one
file of birth certificates, loaded, linked and reconciled: the session's test county stays
untouched). Headless Chromium, emulating a 360×740 phone:

1. opens ``/village/``, signs in with a token issued for 门城社区 (120115106001) and sees the
   report types;
2. opens the birth form and submits it with an impossible birth date (2月30日, typed where a
   phone without a date picker shows a text box) and a mother's ID whose check digit is wrong:
   both are refused under their fields and nothing is stored (only the audit row);
3. corrects both and submits; the done page gives the reference number;
4. on every page, nothing is wider than the 360 px screen; screenshots go to
   ``tests/output/screenshots/`` (10_village_*.png);
5. runs the pipeline as the DAGs do, as the pipeline login: the batch writer
   (:func:`popdata.intake.batch.write_pending`), the feed ``fp/village_reports``, linkage and
   reconciliation as of today (Beijing). The birth is in ``mart.births``, the batch file has its
   ledger row and its receipt in the outbox, and the report's status page in the phone says 已入库.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from stdnum.cn import ric

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}
SCREEN_WIDTH = 360
REFERENCE_DATE = date(2014, 6, 30)
VILLAGE = "120115106001"  # 门城社区 in the sample landing's stats/regions
SAMPLE_LANDING = Path(__file__).resolve().parents[1] / "fixtures" / "sample_landing"
SAMPLE_FILES = (
    "stats/regions/regions_20111231.csv",
    "health/birth_certificates/birth_certificates_20131231.csv",
)
"""What the warehouse holds before the report: the region reference (with its manifest) and one
file of birth certificates (39 births, 门城社区's among them: persons for linkage to work with)."""


def _id_number(body17: str, *, valid: bool = True) -> str:
    """An 18-character identity number of ``body17`` with its check digit (or a wrong one)."""
    check = ric.calc_check_digit(body17 + "0")
    if not valid:
        check = "0" if check != "0" else "1"
    return body17 + check


MOTHER_ID = _id_number("12011519920305182")  # born 1992-03-05 in 宝坻区, female (even 17th digit)
BAD_MOTHER_ID = _id_number("12011519920305182", valid=False)


def _pipeline_engine(url: str) -> sa.Engine:
    """An engine logging in as the DAG tasks do (``popdata_pipeline`` acting as the loader role)."""
    from popdata.config.settings import load_settings
    from popdata.warehouse import db

    return db.role_engine(db.login_url(url, db.PIPELINE_LOGIN), load_settings().pipeline_role)


@pytest.fixture(scope="module")
def village(
    chromium: Path,
    start_api_server: Any,
    module_databases: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """This module's warehouse (:data:`SAMPLE_FILES` loaded, linked, reconciled as of
    :data:`REFERENCE_DATE`) and an API server on it. The warehouse is made while the server boots.
    """
    from popdata.config.feeds import feed_by_id
    from popdata.config.settings import load_settings
    from popdata.ingest import pipeline
    from popdata.linkage import link
    from popdata.reconcile.run import reconcile
    from popdata.warehouse import migrate

    work = tmp_path_factory.mktemp("village")
    landing, outbox = work / "landing", work / "outbox"
    for name in SAMPLE_FILES:
        for source in (SAMPLE_LANDING / name).parent.glob(Path(name).name + "*"):
            (landing / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, (landing / name).parent / source.name)
    url = module_databases.create("popdata_test_village")
    engine = sa.create_engine(url)
    pipeline_engine = _pipeline_engine(url)

    def prepare() -> None:
        migrate.upgrade(engine)
        for feed in ("stats__regions", "health__birth_certificates"):
            reached = pipeline.process(
                pipeline_engine,
                load_settings(),
                feed_by_id(feed),
                landing=landing,
                outbox=outbox,
                quiet_seconds=0,
                now=time.time() + 3600,
            )
            assert len(reached) == 1, (feed, reached)
        link.run(pipeline_engine)
        reconcile(pipeline_engine, outbox, REFERENCE_DATE)

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("POPDATA_DATA_DOCS", str(work / "gx"))
            patch.setenv("POPDATA_QUARANTINE", str(work / "quarantine"))
            with start_api_server(
                warehouse_url=url,
                data_docs=work / "gx",
                engine=engine,
                health="/village/health",
                while_starting=prepare,
            ) as server:
                yield {
                    "server": server,
                    "engine": engine,
                    "pipeline_engine": pipeline_engine,
                    "landing": landing,
                    "outbox": outbox,
                }
    finally:
        pipeline_engine.dispose()
        engine.dispose()


def _fits_the_screen(page: Any) -> None:
    """Nothing on the page is wider than the phone's screen (no sideways scrolling)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= SCREEN_WIDTH, f"{page.url} is {width} px wide on a {SCREEN_WIDTH} px screen"


def _submit(page: Any) -> Any:
    """Click the form's 提交 and return the POST's response."""
    with page.expect_response(lambda r: r.request.method == "POST" and "/village/report/" in r.url) as info:
        page.locator('form button[type="submit"]', has_text="提交").click()
    page.wait_for_load_state()
    return info.value


def _reports(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT report_no, report_type, report_date, fields, batch_id FROM intake.village_reports"
                    " WHERE village_code = :v ORDER BY report_id"
                ),
                {"v": VILLAGE},
            ).all()
        )


def test_a_birth_reported_from_a_phone_reaches_the_warehouse(
    village: dict[str, Any], browser: Any, screenshots: Path
) -> None:
    from popdata.config.feeds import feed_by_id
    from popdata.config.settings import load_settings
    from popdata.ingest import pipeline, receipts
    from popdata.intake import batch, store, tokens
    from popdata.linkage import link
    from popdata.reconcile.run import reconcile

    server = village["server"]
    engine: sa.Engine = village["engine"]
    with engine.begin() as conn:
        _, token = tokens.issue(conn, VILLAGE, "门城社区计生专干")
        births_before = conn.execute(sa.text("SELECT count(*) FROM mart.births")).scalar_one()
    assert births_before > 0
    today = store.beijing_date(datetime.now(UTC))  # the app dates reports by the wall clock
    born = today - timedelta(days=3)

    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()

        # --- 1. sign in with the village's token: the report types -------------------------------
        response = page.goto(server.url + "/village/")
        assert response is not None and response.status == 200
        page.locator("#token").fill(token)
        _fits_the_screen(page)
        page.screenshot(path=str(screenshots / "10_village_signin.png"), full_page=True)
        page.locator('button[type="submit"]', has_text="登录").click()
        page.locator('.types a[data-type="birth"]').wait_for()
        assert page.url == server.url + "/village/"
        assert page.locator("h1").inner_text() == "门城社区"
        assert page.locator(".types a[data-type]").count() == 5
        cookie = next(c for c in context.cookies() if c["name"] == "popdata_village_token")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/village", cookie  # the token goes to the intake app only
        _fits_the_screen(page)
        page.screenshot(path=str(screenshots / "11_village_menu.png"), full_page=True)

        # --- 2. the birth form, with an impossible date and a wrong mother's ID -----------------
        page.locator('.types a[data-type="birth"]').click()
        page.wait_for_url(server.url + "/village/report/birth")
        form = page.locator("form[action$='report/birth']")
        assert form.locator('input[name="birth_date"]').get_attribute("type") == "date"
        assert form.locator('input[name="birth_date"]').get_attribute("max") == today.isoformat()
        _fits_the_screen(page)
        page.screenshot(path=str(screenshots / "12_village_birth_form.png"), full_page=True)
        form.locator('input[name="name"]').fill("韩小雨")
        form.locator('select[name="sex"]').select_option("2")
        # a phone without a date picker shows a text box, where 2月30日 can be typed
        form.locator('input[name="birth_date"]').evaluate("input => { input.type = 'text'; }")
        form.locator('input[name="birth_date"]').fill(f"{born.year}-02-30")
        form.locator('input[name="birth_order"]').fill("1")
        form.locator('input[name="mother_name"]').fill("韩秀兰")
        form.locator('input[name="mother_id"]').fill(BAD_MOTHER_ID)
        refused = _submit(page)
        assert refused.status == 422
        invalid = page.locator(".field.invalid").evaluate_all("fields => fields.map(f => f.dataset.field)")
        assert invalid == ["birth_date", "mother_id"], page.locator("main").inner_text()
        assert "有 2 项需要更正" in page.locator('[role="alert"]').inner_text()
        for name in ("birth_date", "mother_id"):
            field = page.locator(f'.field.invalid[data-field="{name}"]')
            control = field.locator(f'[name="{name}"]')
            error = field.locator(f"#e-{name}.error")
            assert control.get_attribute("aria-invalid") == "true"
            assert control.get_attribute("aria-describedby") == f"e-{name}"
            assert error.is_visible() and error.inner_text().strip()
            below = error.bounding_box()
            above = control.bounding_box()
            assert below is not None and above is not None
            assert below["y"] >= above["y"] + above["height"] - 1, name  # under its field
        assert page.locator("#e-birth_date").inner_text() == "日期不存在（如2月30日）"
        assert page.locator("#e-mother_id").inner_text() == "身份证号校验位错误"
        # what was typed is kept (but the wrong values are refused, not stored)
        assert page.locator('input[name="mother_name"]').input_value() == "韩秀兰"
        assert page.locator('select[name="sex"]').input_value() == "2"
        assert _reports(engine) == []
        with engine.connect() as conn:
            audited = conn.execute(
                sa.text("SELECT outcome, errors, report_no FROM intake.submissions WHERE village_code = :v"),
                {"v": VILLAGE},
            ).all()
        assert [(a.outcome, sorted(a.errors), a.report_no) for a in audited] == [
            ("invalid", ["birth_date", "mother_id"], None)
        ]
        _fits_the_screen(page)
        page.screenshot(path=str(screenshots / "13_village_birth_refused.png"), full_page=True)

        # --- 3. corrected: accepted, with a reference number ------------------------------------
        page.locator('input[name="birth_date"]').fill(born.isoformat())
        page.locator('input[name="mother_id"]').fill(MOTHER_ID)
        accepted = _submit(page)
        assert accepted.status == 200
        report_no = page.locator("[data-report-no]").get_attribute("data-report-no")
        assert report_no is not None and re.fullmatch(rf"VR{today:%Y%m%d}\d{{7}}", report_no), report_no
        assert page.locator("h1").inner_text() == "报告已受理"
        _fits_the_screen(page)
        page.screenshot(path=str(screenshots / "14_village_birth_done.png"), full_page=True)
        [stored] = _reports(engine)
        assert (stored.report_no, stored.report_type, stored.report_date, stored.batch_id) == (
            report_no,
            "出生",
            today,
            None,
        )
        assert stored.fields["birth_date"] == born.isoformat()
        assert stored.fields["mother_id"] == MOTHER_ID

        # the menu lists it; its status page waits for the next batch
        page.locator("a.button", has_text="返回").click()
        page.locator(f'.card a[href="reports/{report_no}"]').wait_for()
        _fits_the_screen(page)
        page.screenshot(path=str(screenshots / "15_village_menu_recent.png"), full_page=True)
        page.locator(f'.card a[href="reports/{report_no}"]').click()
        page.wait_for_url(f"{server.url}/village/reports/{report_no}")
        assert page.locator("[data-file-status]").get_attribute("data-file-status") == ""
        assert "等待下一批" in page.locator(".card").inner_text()
        _fits_the_screen(page)

        # --- 5. the pipeline: the batch file, the feed, linkage, reconciliation ------------------
        pipeline_engine: sa.Engine = village["pipeline_engine"]
        landing: Path = village["landing"]
        outbox: Path = village["outbox"]
        [written] = batch.write_pending(pipeline_engine, landing)
        assert written.rows == 1 and written.path.parent == landing / "fp" / "village_reports"
        reached = pipeline.process(
            pipeline_engine,
            load_settings(),
            feed_by_id("fp__village_reports"),
            landing=landing,
            outbox=outbox,
            quiet_seconds=0,
            now=time.time() + 3600,
        )
        assert len(reached) == 1, reached
        link.run(pipeline_engine)
        reconcile(pipeline_engine, outbox, today)

        with engine.connect() as conn:
            births_after = conn.execute(sa.text("SELECT count(*) FROM mart.births")).scalar_one()
            births = conn.execute(
                sa.text(
                    "SELECT village_code, birth_date, sex, birth_order, in_health, in_police, reference_date"
                    " FROM mart.births WHERE in_village_report"
                )
            ).all()
            ledger = conn.execute(
                sa.text(
                    "SELECT file_id, file_name, sha256, status, rows_loaded, rows_rejected"
                    " FROM audit.file_ledger WHERE agency = 'fp' AND feed = 'village_reports'"
                )
            ).all()
            carried = conn.execute(
                sa.text("SELECT count(*) FROM core.village_reports_rows WHERE report_no = :n"),
                {"n": report_no},
            ).scalar_one()
        assert [tuple(b) for b in births] == [(VILLAGE, born, "F", 1, False, False, today)]
        assert births_after == births_before + 1  # a new mother: a birth of its own
        assert carried == 1
        [file] = ledger
        assert (file.file_name, file.sha256, file.status, file.rows_loaded, file.rows_rejected) == (
            written.path.name,
            written.sha256,
            "loaded",
            1,
            0,
        )
        receipt_path = receipts.receipt_paths(outbox, "fp", file.file_name, file.sha256).json_path
        assert receipt_path.parent == outbox / "fp" / "receipts"
        receipt = json.loads(receipt_path.read_text(encoding="utf-8"))
        assert (receipt["file_id"], receipt["feed"], receipt["status"], receipt["rows_loaded"]) == (
            file.file_id,
            "village_reports",
            "loaded",
            1,
        )

        # --- the clerk's status page: loaded -----------------------------------------------------
        page.goto(f"{server.url}/village/reports/{report_no}")
        assert page.locator("[data-file-status]").get_attribute("data-file-status") == "loaded"
        assert page.locator("[data-file-status]").inner_text() == "已入库"
        assert written.path.name in page.locator(".card").inner_text()
        _fits_the_screen(page)
        page.screenshot(path=str(screenshots / "16_village_report_loaded.png"), full_page=True)
    finally:
        context.close()


def test_the_address_without_its_slash_opens_the_sign_in(village: dict[str, Any], browser: Any) -> None:
    """A clerk types the address as the county wrote it down, without the trailing slash."""
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        page.goto(village["server"].url + "/village")
        page.wait_for_load_state("networkidle")
        assert page.url == village["server"].url + "/village/"
        assert page.locator("#token").is_visible()
    finally:
        context.close()


def test_the_first_village_birth_of_a_new_warehouse_can_be_scored() -> None:
    """The linkage of a warehouse whose first records are one village birth report (a county that
    starts with direct reporting, as this module's warehouse did before it had certificates): the
    mother (a valid ID) becomes the only person, and the newborn (no ID yet) is scored against her.
    """
    import pandas as pd

    from popdata.linkage import probabilistic

    child = pd.DataFrame(
        {
            "mention_id": ["village_reports:VR202601010000001:child"],
            "id_no": [None],
            "name": ["韩小雨"],
            "sex": ["2"],
            "birth_date": [pd.Timestamp("2026-01-01")],
            "region_code": [VILLAGE],
            "household_no": [None],
            "mother_id": [MOTHER_ID],
        }
    )
    mother = pd.DataFrame(
        {
            "person_key": [1],
            "id_no": [MOTHER_ID],
            "name": ["韩秀兰"],
            "sex": ["2"],
            "birth_date": [pd.Timestamp("1992-03-05")],
            "region_code": [VILLAGE],
            "household_no": [None],
            "mother_id": [None],
        }
    )
    scores = probabilistic.score_candidates(child, mother)
    assert list(scores.columns) == [
        "mention_id",
        "person_key",
        "match_probability",
        "match_weight",
        "evidence",
    ]
    assert (scores["match_probability"] < 0.5).all()  # a newborn is not her mother
