"""Shared fixtures: fresh PostgreSQL databases per test module, fixture landing folders.

Integration tests use the machine's PostgreSQL at 127.0.0.1:5432 (CI has one) and
fall back to the project's embedded PostgreSQL (under a temporary folder) when
nothing answers there. Each test creates its own databases and drops them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import sqlalchemy as sa

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE_LANDING = FIXTURES / "sample_landing"
REPO = Path(__file__).resolve().parent.parent


def _server_url() -> str:
    """A PostgreSQL server URL (without database) that answers, machine's first."""
    import psycopg

    url = os.environ.get("POPDATA_TEST_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
    try:
        psycopg.connect(url.replace("+psycopg", "") + "/postgres", connect_timeout=3).close()
        return url
    except psycopg.OperationalError:
        pass
    from popdata.config.settings import load_settings
    from popdata.warehouse.db import embedded_socket_dir

    socket_dir = embedded_socket_dir(load_settings())
    return f"postgresql+psycopg://postgres@/?host={socket_dir}"


def _with_db(server: str, name: str) -> str:
    if "/?host=" in server:
        return server.replace("/?host=", f"/{name}?host=")
    return f"{server}/{name}"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """URL prefix of the PostgreSQL server the tests use."""
    return _server_url()


class Databases:
    """Creates throwaway databases and drops them afterwards."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.created: list[str] = []

    def create(self, prefix: str) -> str:
        """A new empty database; returns its URL."""
        import sqlalchemy as sa

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(_with_db(self.server, "postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.created.append(name)
        return _with_db(self.server, name)

    def drop_all(self) -> None:
        """Drop every database this object created (connections are terminated first)."""
        import sqlalchemy as sa

        admin = sa.create_engine(_with_db(self.server, "postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in self.created:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def databases(pg_server: str) -> Iterator[Databases]:
    """Factory of throwaway databases, dropped after the test."""
    dbs = Databases(pg_server)
    try:
        yield dbs
    finally:
        dbs.drop_all()


@pytest.fixture(scope="module")
def module_databases(pg_server: str) -> Iterator[Databases]:
    """Like ``databases``, shared by the tests of one module (for fixtures that load a county once)."""
    dbs = Databases(pg_server)
    try:
        yield dbs
    finally:
        dbs.drop_all()


@pytest.fixture(scope="session")
def load_drops() -> Callable[..., None]:
    """A loader of every drop of a landing folder, in process (no Airflow), reference data first.

    Call it as ``load_drops(engine, landing, outbox)``; it runs every feed's pipeline steps
    (:func:`popdata.ingest.pipeline.process`) the way one run of each ingest DAG would.
    """
    import time

    from popdata.config.feeds import default_feeds
    from popdata.config.settings import load_settings
    from popdata.ingest import pipeline
    from popdata.runner import feeds_with_files

    def load(engine: sa.Engine, landing: Path, outbox: Path) -> None:
        for feed in feeds_with_files(landing, default_feeds()):
            pipeline.process(
                engine,
                load_settings(),
                feed,
                landing=landing,
                outbox=outbox,
                quiet_seconds=0,
                now=time.time() + 3600,
            )

    return load


@dataclass(frozen=True)
class ReconciledCounty:
    """A generated county loaded through every feed, linked, reconciled and cross-checked."""

    url: str
    work: Path
    outbox: Path
    docs: Path
    """The Data Docs folder (``POPDATA_DATA_DOCS``): ``site/index.html`` is built."""
    reference_date: date


@pytest.fixture(scope="session")
def reconciled_county(
    pg_server: str, tmp_path_factory: pytest.TempPathFactory, load_drops: Callable[..., None]
) -> Iterator[ReconciledCounty]:
    """One county shared by the view, report and browser tests (3 000 persons, seed 7, default defects).

    Loaded once per session (about a minute): read-only for its users. A test that must write
    (an arrival check as of another date) removes what it wrote.
    """
    import sqlalchemy as sa

    from popdata.config.settings import load_settings
    from popdata.generate.api import generate_county
    from popdata.linkage import link
    from popdata.quality import cross_feed, docs
    from popdata.reconcile.run import reconcile
    from popdata.warehouse import migrate

    work = tmp_path_factory.mktemp("reconciled_county")
    reference = date(2014, 6, 30)
    dbs = Databases(pg_server)
    url = dbs.create("popdata_test_county")
    engine = sa.create_engine(url)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("POPDATA_DATA_DOCS", str(work / "gx"))
            patch.setenv("POPDATA_QUARANTINE", str(work / "quarantine"))
            generate_county(work / "county", persons=3000, seed=7)
            migrate.upgrade(engine)
            load_drops(engine, work / "county" / "landing", work / "outbox")
            link.run(engine)
            reconcile(engine, work / "outbox", reference)
            cross_feed.run_checks(engine, load_settings(), as_of=reference)
            assert docs.build_data_docs(work / "gx") is not None
        engine.dispose()
        yield ReconciledCounty(
            url=url, work=work, outbox=work / "outbox", docs=work / "gx", reference_date=reference
        )
    finally:
        engine.dispose()
        dbs.drop_all()


@pytest.fixture(scope="session")
def reconciled_engine(reconciled_county: ReconciledCounty) -> Iterator[sa.Engine]:
    """An engine on :func:`reconciled_county`'s warehouse (read-only for its users).

    Pre-ping: a test that copies the warehouse (``CREATE DATABASE … TEMPLATE``) ends its sessions.
    """
    import sqlalchemy as sa

    engine = sa.create_engine(reconciled_county.url, pool_pre_ping=True)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """A writable copy of the sample landing folder (the samples agencies sent)."""
    target = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, target)
    return target


@pytest.fixture(autouse=True)
def _quarantine_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Quarantined files are moved under the test's own folder, never the repository's var/."""
    target = tmp_path / "quarantine"
    monkeypatch.setenv("POPDATA_QUARANTINE", str(target))
    return target
