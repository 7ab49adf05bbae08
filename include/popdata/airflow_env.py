"""The environment Airflow runs with, for the CLI and ``make up`` (no Airflow import here).

Airflow reads its configuration from ``AIRFLOW__*`` variables when it is first
imported, so the CLI calls :func:`apply` before importing anything of Airflow.
Values already set in the environment win: an operator who points
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` at another database keeps it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from popdata.config.settings import Settings

_SECRET_BYTES = 64  # HS512 wants a key of at least 64 bytes (RFC 7518 §3.2)


def _secret(path: Path) -> str:
    """A random secret kept in ``var/`` so every Airflow process of this home shares it."""
    if not path.exists() or len(path.read_text(encoding="utf-8").strip()) < _SECRET_BYTES:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(_SECRET_BYTES), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def async_url(url: str) -> str:
    """The asyncio form of a metadata URL: psycopg 3 serves both (no asyncpg needed)."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg_async://" + url[len(prefix) :]
    return url


def airflow_environment(settings: Settings, metadata_url: str) -> dict[str, str]:
    """``AIRFLOW_*`` variables for this project (defaults only; see :func:`apply`)."""
    home = settings.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.home / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://localhost:8080/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": async_url(metadata_url),
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(settings.var / "secrets" / "jwt_secret"),
        "AIRFLOW__API__SECRET_KEY": _secret(settings.var / "secrets" / "api_secret_key"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.var / "logs"),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "GX_ANALYTICS_ENABLED": "false",
        "POPDATA_HOME": str(settings.home),
        "NO_PROXY": "*",
    }


def apply(settings: Settings, metadata_url: str) -> dict[str, str]:
    """Set the variables in ``os.environ`` where they are not set yet; returns the effective values."""
    effective = {}
    for key, value in airflow_environment(settings, metadata_url).items():
        os.environ.setdefault(key, value)
        effective[key] = os.environ[key]
    return effective
