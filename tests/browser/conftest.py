"""Fixtures of the browser tests: a loaded warehouse, a real Airflow API server on it, headless Chromium.

The API server runs as ``popdata services start`` runs it (the project's Airflow environment from
``popdata.airflow_env``, the plugins folder of this repository), on a free port, with its own
throwaway metadata database (migrated with ``airflow db migrate``) and state folder. Its warehouse
is the test county's database. Login is real: the simple auth manager's user ``admin`` gets a known
password through ``AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE`` and the test logs in through
the Airflow UI's login form, which sets the ``_token`` cookie the plugin checks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
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


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def airflow_server(
    chromium: Path, county: dict[str, Any], module_databases: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``airflow api-server`` on a free port with the project's environment; killed (process group) after."""
    from popdata.airflow_env import airflow_environment
    from popdata.config.settings import load_settings

    state = tmp_path_factory.mktemp("airflow_state")
    metadata = module_databases.create("airflow_test_browser")
    settings = dataclasses.replace(load_settings(), home=REPO, var=state / "var")
    password = secrets.token_urlsafe(12)
    passwords = state / "passwords.json"
    passwords.write_text(f'{{"admin": "{password}"}}\n', encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "POPDATA_"))}
    env.update(airflow_environment(settings, metadata))
    env.update(
        POPDATA_HOME=str(REPO),
        POPDATA_VAR=str(state / "var"),
        POPDATA_WAREHOUSE_URL=county["url"],
        POPDATA_DATA_DOCS=str(county["docs"]),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}/",
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
    )
    migrated = subprocess.run(
        [AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]

    log = state / "api-server.log"
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
        deadline = time.monotonic() + START_TIMEOUT
        while _get(f"{url}/popdata/health") != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the API server did not serve /popdata/health:\n{log.read_text(errors='replace')[-4000:]}"
                )
            time.sleep(1)
        yield Server(url=url, username="admin", password=password, engine=county["engine"], log=log)
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
