"""The population-data view (popdata.dashboard.app) on a loaded warehouse, through FastAPI's test client.

The session's generated county (``reconciled_county`` in tests/conftest.py: every feed, the
linkage, a reconciliation and the cross-feed checks, its Data Docs site built). The app then runs in process:

* every page answers 200 with an Airflow login and 401 without one. The login is real: Airflow's
  simple auth manager is initialised in this process and issues a JWT, sent as the UI's
  ``_token`` cookie (the app checks it with Airflow's own ``get_user``);
* the Drops figures equal what SQL counts in the ledger; an overdue feed (an arrival check far
  after a monthly feed's last extract) shows red;
* the village reports page says no village token was issued yet (the county has none; the
  section itself is tested on a warehouse of its own in test_dashboard_villages.py);
* ``data-docs/`` serves the site and nothing outside it;
* no page shows an identity number or a person's name from the core tables.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.integration

REFERENCE_DATE = date(2014, 6, 30)
PAGES = ("/", "/drops", "/villages", "/quality", "/linkage", "/reconciliation")
ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
FIGURE = re.compile(r'data-figure="([^"]+)" data-value="([^"]*)"')
DASHBOARD_SOURCES = Path(__file__).resolve().parents[2] / "include" / "popdata" / "dashboard"


def figures(html: str) -> dict[str, str]:
    """The ``data-figure`` → ``data-value`` pairs of a page."""
    return dict(FIGURE.findall(html))


@pytest.fixture(scope="module")
def county(reconciled_county: Any) -> Iterator[dict[str, Any]]:
    """The session's reconciled county (tests/conftest.py); the environment points the app at it."""
    from popdata.warehouse import db

    saved = {
        k: os.environ.get(k) for k in ("POPDATA_WAREHOUSE_URL", "POPDATA_DATA_DOCS", "POPDATA_QUARANTINE")
    }
    os.environ.update(
        POPDATA_WAREHOUSE_URL=reconciled_county.url,
        POPDATA_DATA_DOCS=str(reconciled_county.docs),
        POPDATA_QUARANTINE=str(reconciled_county.work / "quarantine"),
    )
    engine = sa.create_engine(reconciled_county.url)
    try:
        yield {"engine": engine, "work": reconciled_county.work, "docs": reconciled_county.docs}
    finally:
        engine.dispose()
        db._engine.cache_clear()  # the app's cached engine must not outlive this module's environment
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def auth_manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Airflow's simple auth manager, initialised in this process (it issues and checks the JWTs).

    The browser test (tests/browser) logs in through the real API server and its metadata database.
    """
    folder = tmp_path_factory.mktemp("airflow_auth")
    passwords = folder / "passwords.json"
    passwords.write_text('{"admin": "not-used"}\n', encoding="utf-8")
    env = {
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        from airflow.api_fastapi.app import init_auth_manager
        from airflow.models.revoked_token import RevokedToken

        # the one part of the check that needs Airflow's metadata database (this process has none):
        # no token is revoked. Signature, expiry and the user's claims are checked for real.
        patch.setattr(RevokedToken, "is_revoked", classmethod(lambda cls, jti: False))
        yield init_auth_manager()


@pytest.fixture(scope="module")
def token(auth_manager: Any) -> str:
    """A JWT of an Airflow admin."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return str(auth_manager.generate_jwt(SimpleAuthManagerUser(username="admin", role="admin")))


@pytest.fixture(scope="module")
def client(county: dict[str, Any], token: str) -> Iterator[Any]:
    """A test client of the app, logged in (the ``_token`` cookie)."""
    from fastapi.testclient import TestClient

    from popdata.dashboard.app import create_app

    with TestClient(create_app(), cookies={"_token": token}) as logged_in:
        yield logged_in


@pytest.fixture(scope="module")
def anonymous(county: dict[str, Any], token: str) -> Iterator[Any]:
    """A test client of the app without a login."""
    from fastapi.testclient import TestClient

    from popdata.dashboard.app import create_app

    with TestClient(create_app()) as client:
        yield client


def _expected_overdue(conn: sa.Connection) -> int:
    """Feeds overdue as the rule says: the latest recorded check, else as of the last loaded extract."""
    from popdata.monitor.arrivals import arrival_states, latest_states

    states = latest_states(conn)
    if not states:
        last = conn.execute(
            sa.text(
                "SELECT max(extract_date) FROM audit.file_ledger"
                " WHERE status IN ('loaded', 'loaded_with_rejections')"
            )
        ).scalar_one()
        states = arrival_states(conn, last)
    return sum(s.status == "overdue" for s in states)


def test_health_needs_no_login(anonymous: Any) -> None:
    response = anonymous.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["warehouse"] == "ok"
    assert body["sections"]["drops"] and body["sections"]["quality"]


@pytest.mark.parametrize("path", [*PAGES, "/receipts/1", "/data-docs/index.html"])
def test_every_page_needs_an_airflow_login(anonymous: Any, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 401
    assert "请先登录 Airflow" in response.text and "Please log in to Airflow" in response.text
    assert "data-figure" not in response.text
    bad = anonymous.get(path, cookies={"_token": "not-a-jwt"})
    assert bad.status_code == 401
    assert anonymous.get(path, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401


def test_a_login_without_the_right_to_the_view_is_refused(anonymous: Any, auth_manager: Any) -> None:
    """The auth manager decides (``is_authorized_custom_view`` on ``popdata``): a user without a role
    has a valid login and no right to the view."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    no_role = auth_manager.generate_jwt(SimpleAuthManagerUser(username="visitor", role=None))
    for path in (*PAGES, "/receipts/1", "/data-docs/index.html"):
        response = anonymous.get(path, cookies={"_token": no_role})
        assert response.status_code == 403, path
        assert "无权查看" in response.text and "Not allowed" in response.text
        assert "data-figure" not in response.text
    viewer = auth_manager.generate_jwt(SimpleAuthManagerUser(username="reader", role="viewer"))
    assert anonymous.get("/drops", cookies={"_token": viewer}).status_code == 200


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_a_login(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    text = response.text
    # navigation to every section, relative links only, bilingual
    for href, words in (
        ("drops", '数据报送 <span class="en">/ Drops'),
        ("villages", '村级直报 <span class="en">/ Village reports'),
        ("quality", '数据质量 <span class="en">/ Quality'),
        ("linkage", '人员关联 <span class="en">/ Linkage'),
        ("reconciliation", '比对结果 <span class="en">/ Reconciliation'),
    ):
        assert f'href="{href}"' in text
        assert words in text
    assert 'href="/' not in text and 'src="/' not in text
    assert "cdn" not in text.lower()


def test_drops_figures_equal_the_ledger(client: Any, county: dict[str, Any]) -> None:
    with county["engine"].connect() as conn:
        sql = conn.execute(
            sa.text(
                "SELECT count(*) AS files, count(*) FILTER (WHERE status = 'quarantined') AS quarantined,"
                " sum(rows_loaded) AS loaded, sum(rows_rejected) AS rejected FROM audit.file_ledger"
            )
        ).one()
        overdue = _expected_overdue(conn)
        feeds = conn.execute(sa.text("SELECT count(DISTINCT feed) FROM audit.file_ledger")).scalar_one()
        receipts = conn.execute(
            sa.text(
                "SELECT DISTINCT ON (feed) file_id FROM audit.file_ledger"
                " ORDER BY feed, received_at DESC, file_id DESC"
            )
        ).scalars()
        receipt_ids = set(receipts)
    page = client.get("/drops").text
    shown = figures(page)
    assert sql.files > 0 and sql.quarantined > 0 and sql.rejected > 0  # the county exercises every figure
    assert int(shown["files_received"]) == sql.files
    assert int(shown["files_quarantined"]) == sql.quarantined
    assert int(shown["rows_loaded"]) == sql.loaded
    assert int(shown["rows_rejected"]) == sql.rejected
    assert int(shown["feeds_overdue"]) == overdue
    # a row per feed, each linking to the receipt of its last file
    linked = {int(i) for i in re.findall(r'href="receipts/(\d+)"', page)}
    assert linked == receipt_ids and len(linked) == feeds
    # the overview shows the same figures
    overview = figures(client.get("/").text)
    assert overview["files_received"] == shown["files_received"]


def test_villages_before_any_token_show_the_empty_state(client: Any) -> None:
    from popdata.dashboard.sections.villages import EMPTY

    page = client.get("/villages").text
    assert 'data-section="villages"' in page and 'data-state="empty"' in page
    assert EMPTY.zh in page and "data-figure" not in page
    overview = client.get("/").text
    assert 'data-card="villages"' in overview and EMPTY.zh in overview


def _forget_check(engine: sa.Engine, as_of: date) -> None:
    """Remove an arrival check this module wrote (the county is shared by the session)."""
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit.feed_arrival_checks WHERE as_of = :d"), {"d": as_of})


def test_an_overdue_feed_shows_red(
    client: Any, county: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    from popdata.monitor.arrivals import check_arrivals

    # a year after the last extract: every monthly feed is far past its due date and grace
    check = check_arrivals(county["engine"], date(2015, 6, 30), environ={})
    request.addfinalizer(lambda: _forget_check(county["engine"], date(2015, 6, 30)))
    overdue = {s.feed for s in check.overdue}
    assert "birth_certificates" in overdue

    page = client.get("/drops").text
    shown = figures(page)
    assert int(shown["feeds_overdue"]) == len(overdue)
    assert re.search(r'class="figure status-bad" data-figure="feeds_overdue"', page)
    rows = re.findall(r"<tr>(.*?)</tr>", page, flags=re.S)
    certificate_row = next(r for r in rows if "出生医学证明 / Birth certificates" in r)
    assert re.search(r'class="status-bad[^"]*">逾期 / overdue<', certificate_row)
    regions_row = next(r for r in rows if "统计用区划代码 / Regions" in r)
    assert "status-bad" not in regions_row  # an irregular feed is never late
    assert "基准日 2015-06-30" in page


def test_quality_links_failed_expectations_to_their_data_docs_page(
    client: Any, county: dict[str, Any]
) -> None:
    with county["engine"].connect() as conn:
        failed = conn.execute(
            sa.text("SELECT count(*) FROM audit.dq_results WHERE NOT success AND file_id IS NOT NULL")
        ).scalar_one()
        rows_read, rejected = conn.execute(
            sa.text("SELECT sum(rows_read), sum(rows_rejected) FROM audit.file_ledger")
        ).one()
    page = client.get("/quality").text
    shown = figures(page)
    assert int(shown["failed_expectations"]) == failed
    assert float(shown["reject_rate"]) == pytest.approx(rejected / rows_read)
    assert 'data-chart="reject_rate"' in page and "<svg" in page
    links = re.findall(r'href="(data-docs/validations/[^"]+\.html)"', page)
    assert links, "no failed expectation links to its Data Docs page"
    assert any("/file_" in link for link in links)
    for link in set(links):
        response = client.get("/" + link)
        assert response.status_code == 200, link
        assert "<html" in response.text.lower()
    assert client.get("/data-docs/index.html").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/data-docs/%2e%2e/.data_docs_state.json",
        "/data-docs/..%2f.data_docs_state.json",
        "/data-docs/%2e%2e%2f%2e%2e%2fpasswd",
        "/data-docs/%2fetc%2fpasswd",
        "/data-docs/validations/%2e%2e/%2e%2e/.data_docs_state.json",
        "/data-docs/link_out.html",
        "/data-docs/.hidden",
        "/data-docs/no_such_page.html",
    ],
)
def test_data_docs_refuses_paths_outside_the_site(client: Any, county: dict[str, Any], path: str) -> None:
    site = county["docs"] / "site"
    link = site / "link_out.html"
    if not link.is_symlink():
        link.symlink_to(county["docs"] / ".data_docs_state.json")
    (site / ".hidden").write_text("secret", encoding="utf-8")
    response = client.get(path)
    assert response.status_code == 404
    assert '"records"' not in response.text and "root:" not in response.text and "secret" not in response.text


def test_a_receipt_shows_masked_values_only(client: Any, county: dict[str, Any]) -> None:
    with county["engine"].connect() as conn:
        file_id = conn.execute(
            sa.text(
                "SELECT file_id FROM audit.file_ledger WHERE rows_rejected > 0 ORDER BY rows_rejected DESC LIMIT 1"
            )
        ).scalar_one()
    response = client.get(f"/receipts/{file_id}")
    assert response.status_code == 200
    assert "拒收行" in response.text and "Rejected rows" in response.text
    assert not ID_NUMBER.search(response.text)
    assert client.get("/receipts/999999").status_code == 404
    assert client.get("/receipts/not-a-number").status_code == 422


def test_no_page_shows_an_identity_number_or_a_name(client: Any, county: dict[str, Any]) -> None:
    with county["engine"].connect() as conn:
        names = set(
            conn.execute(
                sa.text(
                    "SELECT name FROM core.household_registry WHERE name IS NOT NULL"
                    " UNION SELECT child_name FROM core.birth_certificates WHERE child_name IS NOT NULL"
                    " UNION SELECT name FROM core.death_records WHERE name IS NOT NULL"
                )
            ).scalars()
        )
        receipts = conn.execute(
            sa.text("SELECT file_id FROM audit.file_ledger WHERE receipt_path IS NOT NULL")
        ).scalars()
        receipt_pages = [f"/receipts/{i}" for i in receipts]
    # words of the view's own labels are not data (a name may happen to be a word)
    labels = "".join(
        p.read_text(encoding="utf-8")
        for p in DASHBOARD_SOURCES.rglob("*")
        if p.is_file() and p.suffix in (".py", ".html")
    )
    names = {n for n in names if len(n) >= 2 and n not in labels}
    assert len(names) > 100
    quality = client.get("/quality").text
    docs_pages = [
        f"/{link}" for link in set(re.findall(r'href="(data-docs/validations/[^"]+\.html)"', quality))
    ]
    for path in [*PAGES, *receipt_pages, *docs_pages]:
        text = client.get(path).text
        assert not ID_NUMBER.search(text), f"{path} shows an identity number"
        shown = [n for n in names if n in text]
        assert not shown, f"{path} shows names from the core tables: {shown[:5]}"
