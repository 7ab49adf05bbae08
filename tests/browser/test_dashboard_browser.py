"""The population-data view in the real Airflow UI, in headless Chromium (issue 7).

A real ``airflow api-server`` (with this repository's plugins folder) serves a loaded test
county. Chromium, driven by Playwright at a laptop's 1366×768:

1. opens a view page without a login: 401 and the bilingual "please log in" page;
2. logs in through the Airflow UI's login form (the simple auth manager's ``admin``);
3. finds the "人口数据 / Population data" entry in the Airflow navigation, opens it (the view
   in the UI's iframe) and clicks a section inside the iframe;
4. opens the view itself and clicks through the five sections by their nav links, checking the
   Drops figures (and Quality's, and one Reconciliation figure when that section exists) against
   the warehouse, then a receipt and a Data Docs page.

Full-page screenshots go to ``tests/output/screenshots/`` (00_airflow_nav.png, 01_overview.png …).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

pytestmark = [pytest.mark.browser, pytest.mark.integration]

NAV_NAME = "人口数据 / Population data"
VIEWPORT = {"width": 1366, "height": 768}


def _figure(page: Any, key: str) -> str:
    """The ``data-value`` of a figure on the page (or in the frame)."""
    value = page.locator(f'[data-figure="{key}"]').first.get_attribute("data-value")
    assert value is not None, key
    return str(value)


def _ledger(engine: sa.Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT count(*) AS files, count(*) FILTER (WHERE status = 'quarantined') AS quarantined,"
                " sum(rows_loaded) AS loaded, sum(rows_rejected) AS rejected FROM audit.file_ledger"
            )
        ).one()


def _login(page: Any, server: Any) -> None:
    """Log in through the Airflow UI's login form."""
    page.goto(server.url + "/")
    page.locator('input[name="username"]').fill(server.username)
    page.locator('input[name="password"]').fill(server.password)
    page.locator('button[type="submit"]').click()
    page.wait_for_url(re.compile(r"^(?!.*/auth/login).*$"), timeout=60_000)
    page.wait_for_load_state("networkidle")


def test_the_view_needs_a_login(airflow_server: Any, browser: Any) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        for path in ("/popdata/", "/popdata/drops", "/popdata/data-docs/index.html"):
            response = page.goto(airflow_server.url + path)
            assert response is not None and response.status == 401, path
            assert page.locator("[data-state=login]").is_visible()
            assert page.locator("[data-figure]").count() == 0
        assert "请先登录 Airflow" in page.content()
    finally:
        context.close()


def test_the_view_in_the_airflow_ui(airflow_server: Any, browser: Any, screenshots: Path) -> None:
    server = airflow_server
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    try:
        page = context.new_page()
        _login(page, server)
        assert any(c["name"] == "_token" for c in context.cookies())

        # --- the nav entry of the Airflow UI opens the view in an iframe ---------------------
        nav = page.locator('a[href$="plugin/popdata"]', has_text=NAV_NAME).first
        nav.wait_for(timeout=60_000)
        nav.click()
        page.wait_for_url(re.compile(r"/plugin/popdata"))
        frame = page.frame_locator(f'iframe[title="{NAV_NAME}"]')
        frame.locator("[data-section=overview]").wait_for(timeout=60_000)
        ledger = _ledger(server.engine)
        assert int(_figure(frame, "files_received")) == ledger.files
        page.screenshot(path=str(screenshots / "00_airflow_nav.png"))

        frame.locator('nav a[data-nav="drops"]').click()
        frame.locator("[data-section=drops]").wait_for()
        assert int(_figure(frame, "rows_loaded")) == ledger.loaded
        page.screenshot(path=str(screenshots / "00_airflow_nav_drops.png"))
    finally:
        context.close()


def test_click_through_the_sections(airflow_server: Any, browser: Any, screenshots: Path) -> None:
    server = airflow_server
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    try:
        page = context.new_page()
        _login(page, server)
        page.goto(server.url + "/popdata/")
        page.locator("[data-section=overview]").wait_for()
        for key in ("drops", "villages", "quality", "linkage", "reconciliation"):
            assert page.locator(f'[data-card="{key}"]').is_visible()
        page.screenshot(path=str(screenshots / "01_overview.png"), full_page=True)

        # --- Drops: the figures are the ledger's -----------------------------------------------
        page.locator('nav a[data-nav="drops"]').click()
        page.locator("[data-section=drops]").wait_for()
        assert page.url.endswith("/popdata/drops")
        ledger = _ledger(server.engine)
        assert int(_figure(page, "files_received")) == ledger.files
        assert int(_figure(page, "files_quarantined")) == ledger.quarantined
        assert int(_figure(page, "rows_loaded")) == ledger.loaded
        assert int(_figure(page, "rows_rejected")) == ledger.rejected
        with server.engine.connect() as conn:
            feeds = conn.execute(sa.text("SELECT count(DISTINCT feed) FROM audit.file_ledger")).scalar_one()
        assert page.locator('[data-table="last_files"] tbody tr').count() >= feeds
        assert page.locator('[data-chart="rows_by_feed"] svg').is_visible()
        page.screenshot(path=str(screenshots / "02_drops.png"), full_page=True)

        # --- Village reports: the county has no village token (the empty state) ------------------
        page.locator('nav a[data-nav="villages"]').click()
        page.locator("[data-section=villages]").wait_for()
        assert page.locator("h1").inner_text().startswith("村级直报")

        # --- Quality -------------------------------------------------------------------------
        page.locator('nav a[data-nav="quality"]').click()
        page.locator("[data-section=quality]").wait_for()
        with server.engine.connect() as conn:
            failed = conn.execute(
                sa.text("SELECT count(*) FROM audit.dq_results WHERE NOT success AND file_id IS NOT NULL")
            ).scalar_one()
        assert int(_figure(page, "failed_expectations")) == failed
        assert page.locator('[data-chart="reject_rate"] svg').is_visible()
        page.screenshot(path=str(screenshots / "03_quality.png"), full_page=True)

        # --- Linkage -------------------------------------------------------------------------
        page.locator('nav a[data-nav="linkage"]').click()
        page.locator("[data-section=linkage]").wait_for()
        assert page.locator("h1").inner_text().startswith("人员关联")
        page.screenshot(path=str(screenshots / "04_linkage.png"), full_page=True)

        # --- Reconciliation: one figure against the warehouse -------------------------------------
        page.locator('nav a[data-nav="reconciliation"]').click()
        page.locator("[data-section=reconciliation]").wait_for()
        with server.engine.connect() as conn:
            unregistered = conn.execute(sa.text("SELECT count(*) FROM ops.unregistered_births")).scalar_one()
        assert unregistered > 0 and int(_figure(page, "unregistered_births")) == unregistered
        page.screenshot(path=str(screenshots / "05_reconciliation.png"), full_page=True)

        # --- a receipt from Drops, a Data Docs page from Quality --------------------------------
        page.locator('nav a[data-nav="drops"]').click()
        # the receipt of a file with rejected rows (masked values in its table)
        page.locator('[data-table="last_files"] tr:has(td.status-warn) a[href^="receipts/"]').first.click()
        page.locator("[data-section=receipt]").wait_for()
        assert page.locator('[data-table="rejected_rows"] tbody tr').count() > 0
        assert re.search(r"/popdata/receipts/\d+$", page.url)
        assert not re.search(r"(?<!\d)\d{17}[\dXx](?!\d)", page.content())
        page.screenshot(path=str(screenshots / "06_receipt.png"), full_page=True)

        page.goto(server.url + "/popdata/quality")
        docs_link = page.locator('[data-table="latest_failed"] a[href^="data-docs/"]').first
        docs_link.wait_for()
        docs_link.click()
        page.wait_for_url(re.compile(r"/popdata/data-docs/validations/.+\.html$"))
        assert "file_" in page.url
        page.screenshot(path=str(screenshots / "07_data_docs.png"), full_page=True)
    finally:
        context.close()
