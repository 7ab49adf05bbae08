"""The environment Airflow runs with, for the CLI and ``make up`` (no Airflow import here).

Airflow reads its configuration from ``AIRFLOW__*`` variables when it is first
imported, so the CLI calls :func:`apply` before importing anything of Airflow.
Values already set in the environment win: an operator who points
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` at another database keeps it.

Secrets (docs/security.md, "Keys and secrets"): the JWT secret, the API secret key and
the Fernet key are generated once into ``var/secrets/`` (folder 0700, files 0600, never
committed: ``var/`` is gitignored) and reused by every Airflow process of this home. Each
is generated only when the environment supplies it neither directly
(``AIRFLOW__CORE__FERNET_KEY``) nor through Airflow's ``_CMD``/``_SECRET`` forms
(``AIRFLOW__CORE__FERNET_KEY_SECRET`` reads it from a secrets backend): then no file is
written and Airflow uses the operator's value.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from popdata.config.settings import Settings

_SECRET_BYTES = 64  # HS512 wants a key of at least 64 bytes (RFC 7518 §3.2)
SECRETS_DIR_MODE = 0o700
SECRET_FILE_MODE = 0o600

#: Generated secrets: Airflow variable → file name under ``var/secrets/``.
SECRET_FILES = {
    "AIRFLOW__API_AUTH__JWT_SECRET": "jwt_secret",
    "AIRFLOW__API__SECRET_KEY": "api_secret_key",
    "AIRFLOW__CORE__FERNET_KEY": "fernet_key",
}


def secrets_dir(settings: Settings) -> Path:
    """``var/secrets``, created if needed, with mode 0700 (also corrected on an existing folder)."""
    path = settings.var / "secrets"
    path.mkdir(parents=True, exist_ok=True, mode=SECRETS_DIR_MODE)
    if path.stat().st_mode & 0o777 != SECRETS_DIR_MODE:
        path.chmod(SECRETS_DIR_MODE)
    return path


def _write_private(path: Path, value: str, *, replace: bool = False) -> str:
    """Write ``value`` to ``path`` with mode 0600 from the start; returns what ``path`` then holds.

    The text goes to a temporary file that is then linked into place: when another process
    created ``path`` meanwhile, its value wins (every process must share one secret), unless
    ``replace`` says to overwrite an unusable old value.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
        os.chmod(temporary, SECRET_FILE_MODE)  # the umask may have narrowed it further: make it exact
        if replace:
            os.replace(temporary, path)
        else:
            with contextlib.suppress(FileExistsError):  # another process was first: keep its value
                os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read_private(path) or value


def _read_private(path: Path) -> str | None:
    """The stripped text of a secret file (its mode corrected to 0600), or ``None`` if absent."""
    if not path.exists():
        return None
    if path.stat().st_mode & 0o777 != SECRET_FILE_MODE:
        path.chmod(SECRET_FILE_MODE)
    return path.read_text(encoding="utf-8").strip()


def _secret(path: Path) -> str:
    """A random secret kept in ``var/`` so every Airflow process of this home shares it."""
    value = _read_private(path)
    if value is not None and len(value) >= _SECRET_BYTES:
        return value
    return _write_private(path, secrets.token_urlsafe(_SECRET_BYTES), replace=value is not None)


def is_fernet_key(value: str) -> bool:
    """Tell whether ``value`` is a valid Fernet key (URL-safe base64 of 32 bytes)."""
    from cryptography.fernet import Fernet

    try:
        Fernet(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False
    return True


def _airflow_cfg(settings: Settings) -> Path:
    """The ``airflow.cfg`` Airflow uses: ``AIRFLOW_CONFIG``, else ``$AIRFLOW_HOME/airflow.cfg``."""
    if os.environ.get("AIRFLOW_CONFIG"):
        return Path(os.environ["AIRFLOW_CONFIG"])
    return Path(os.environ.get("AIRFLOW_HOME") or settings.airflow_home) / "airflow.cfg"


def _airflow_cfg_fernet_key(cfg: Path) -> str | None:
    """The ``[core] fernet_key`` Airflow wrote into ``airflow.cfg`` on its first start, if valid."""
    import configparser

    if not cfg.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(cfg, encoding="utf-8")
        value = parser.get("core", "fernet_key", fallback="").strip()
    except (configparser.Error, UnicodeDecodeError):
        return None
    return value if value and is_fernet_key(value) else None


def _fernet_key(path: Path, cfg: Path) -> str:
    """The Fernet key that encrypts connections and variables in the metadata database; stable.

    Kept in ``path``; on first use it adopts the key Airflow wrote into ``cfg`` (``airflow.cfg``)
    on an earlier start, so connections already encrypted with it stay readable, else a new
    one. A file that holds something else is an error, not silently replaced: replacing the
    key would make every encrypted connection unreadable.
    """
    from cryptography.fernet import Fernet

    value = _read_private(path)
    if value:
        if not is_fernet_key(value):
            raise RuntimeError(
                f"{path} does not hold a valid Fernet key; restore it, or delete it to generate a new "
                "one (connections and variables encrypted with the old key then become unreadable)"
            )
        return value
    return _write_private(
        path, _airflow_cfg_fernet_key(cfg) or Fernet.generate_key().decode("ascii"), replace=value is not None
    )


def generated_secrets(settings: Settings) -> dict[str, str]:
    """The secrets of :data:`SECRET_FILES`: the environment's own value, else the one in ``var/secrets``.

    A variable set in the environment is returned as it is and no file is made. One supplied
    only through Airflow's ``AIRFLOW__…_CMD`` or ``AIRFLOW__…_SECRET`` form (a command, a
    secrets backend) is left out, so that Airflow reads it there: a plain variable would win.
    """
    makers: dict[str, Callable[[Path], str]] = {
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret,
        "AIRFLOW__API__SECRET_KEY": _secret,
        "AIRFLOW__CORE__FERNET_KEY": lambda path: _fernet_key(path, _airflow_cfg(settings)),
    }
    values: dict[str, str] = {}
    for name, file_name in SECRET_FILES.items():
        if os.environ.get(name):
            values[name] = os.environ[name]
        elif not any(os.environ.get(name + suffix) for suffix in ("_CMD", "_SECRET")):
            values[name] = makers[name](secrets_dir(settings) / file_name)
    return values


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
        "AIRFLOW__CORE__EXECUTOR": "popdata.executors.PreloadingLocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://localhost:8080/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": async_url(metadata_url),
        **generated_secrets(settings),
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
