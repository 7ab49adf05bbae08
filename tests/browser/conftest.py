"""Fixtures of the browser tests: a loaded warehouse, a real Airflow API server on it, headless Chromium.

The API server runs as ``popdata services start`` runs it (the project's Airflow environment from
``popdata.airflow_env``, the plugins folder of this repository), on a free port, with a throwaway
metadata database (migrated with ``airflow db migrate`` once per session) and state folder shared
by the session's servers (:func:`airflow_home`). The dashboard's warehouse is the test county's
database; a module with a warehouse of its own starts its server with :func:`start_api_server`
(the village intake tests do). Login is real: the simple auth manager's user ``admin`` gets a known
password through ``AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE`` and the test logs in through
the Airflow UI's login form, which sets the ``_token`` cookie the plugin checks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from popdata.services import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "tests" / "output" / "screenshots"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
REFERENCE_DATE = date(2014, 6, 30)
START_TIMEOUT = 240


@dataclasses.dataclass(frozen=True)
class Server:
    """A running Airflow API server with the popdata plugin."""

    url: str
    username: str
    password: str
    engine: sa.Engine
    log: Path


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium (the Makefile installs it); the tests are skipped without it."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium (make install does) to run the browser tests"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def county(reconciled_county: Any) -> Iterator[dict[str, Any]]:
    """The session's reconciled county (tests/conftest.py), with its Data Docs site built."""
    engine = sa.create_engine(reconciled_county.url)
    try:
        yield {
            "url": reconciled_county.url,
            "engine": engine,
            "work": reconciled_county.work,
            "docs": reconciled_county.docs,
        }
    finally:
        engine.dispose()


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


@dataclasses.dataclass(frozen=True)
class AirflowHome:
    """What every API server of the session shares: a state folder (``var/``, whose generated
    secrets the metadata database is made with), one metadata database migrated once, the
    ``admin`` password."""

    state: Path
    metadata_url: str
    password: str
    passwords: Path


@pytest.fixture(scope="session")
def airflow_home(
    chromium: Path, pg_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowHome]:
    """The state folder and the metadata database (``airflow db migrate``: once per session)."""
    state = tmp_path_factory.mktemp("airflow_state")
    name = f"airflow_test_browser_{uuid.uuid4().hex[:10]}"
    admin_url = sa.engine.make_url(pg_server).set(database="postgres")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        metadata = admin_url.set(database=name).render_as_string(hide_password=False)
        password = secrets.token_urlsafe(12)
        passwords = state / "passwords.json"
        passwords.write_text(f'{{"admin": "{password}"}}\n', encoding="utf-8")
        home = AirflowHome(state=state, metadata_url=metadata, password=password, passwords=passwords)
        migrated = subprocess.run(
            [AIRFLOW, "db", "migrate"],
            env=_environment(home, warehouse_url=None, data_docs=None, port=0),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
        yield home
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _environment(
    home: AirflowHome, *, warehouse_url: str | None, data_docs: Path | None, port: int
) -> dict[str, str]:
    """The API server's environment: the project's Airflow environment on ``home``, this warehouse."""
    from popdata.airflow_env import airflow_environment
    from popdata.config.settings import load_settings

    settings = dataclasses.replace(load_settings(), home=REPO, var=home.state / "var")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "POPDATA_"))}
    env.update(airflow_environment(settings, home.metadata_url))
    env.update(
        POPDATA_HOME=str(REPO),
        POPDATA_VAR=str(home.state / "var"),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}/",
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home.passwords),
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
    )
    if warehouse_url is not None:
        env["POPDATA_WAREHOUSE_URL"] = warehouse_url
    if data_docs is not None:
        env["POPDATA_DATA_DOCS"] = str(data_docs)
    return env


@contextlib.contextmanager
def api_server(
    home: AirflowHome,
    *,
    warehouse_url: str,
    data_docs: Path,
    engine: sa.Engine,
    health: str = "/popdata/health",
    while_starting: Callable[[], object] | None = None,
) -> Iterator[Server]:
    """``airflow api-server`` on a free port on ``warehouse_url``; killed (process group) after.

    ``while_starting`` (e.g. loading the warehouse) runs while the server boots; the server is
    yielded once ``health`` answers 200.
    """
    port = free_port()
    env = _environment(home, warehouse_url=warehouse_url, data_docs=data_docs, port=port)
    log = home.state / f"api-server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        if while_starting is not None:
            while_starting()
        deadline = time.monotonic() + START_TIMEOUT
        while _get(url + health) != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the API server did not serve {health}:\n{log.read_text(errors='replace')[-4000:]}"
                )
            time.sleep(0.5)
        yield Server(url=url, username="admin", password=home.password, engine=engine, log=log)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def start_api_server(airflow_home: AirflowHome) -> Callable[..., contextlib.AbstractContextManager[Server]]:
    """:func:`api_server` on the session's :class:`AirflowHome`, for a module's own warehouse:
    ``with start_api_server(warehouse_url=…, data_docs=…, engine=…) as server: …``."""
    return functools.partial(api_server, airflow_home)


@pytest.fixture(scope="module")
def airflow_server(chromium: Path, county: dict[str, Any], airflow_home: AirflowHome) -> Iterator[Server]:
    """The API server on the test county (the session's :class:`AirflowHome`)."""
    with api_server(
        airflow_home, warehouse_url=county["url"], data_docs=county["docs"], engine=county["engine"]
    ) as server:
        yield server


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """``tests/output/screenshots/`` (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
