"""docker-compose.yaml agrees with the project (no Docker engine needed: the file is parsed, not run).

The development machines have no Docker engine, so the compose deployment is checked here instead:
the services of Airflow's official CeleryExecutor layout exist and are healthy-checked, the worker
can be scaled, every variable the file reads is in ``.env.example`` (and nothing else is), the named
volumes match, the image is the Airflow and Python the project pins, the ``popdata`` commands that
airflow-init runs exist in the CLI, the mounted files exist, the ``POPDATA_*`` settings it sets are
documented ones, and the database URLs name the databases ``docker/initdb`` creates.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from popdata import services

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "docker" / "Dockerfile"
INITDB = REPO / "docker" / "initdb"

INIT = "airflow-init"
API_SERVER = "airflow-apiserver"
WORKER = "airflow-worker"
LONG_RUNNING = [
    "postgres",
    "redis",
    API_SERVER,
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    WORKER,
]
AIRFLOW_SERVICES = [name for name in LONG_RUNNING if name.startswith("airflow-")]

#: ``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}`` and ``$VAR``; ``$$`` is compose's escaped ``$``.
_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)|\$([A-Za-z_][A-Za-z0-9_]*)")
_IMAGE_TAG = re.compile(r":(?P<airflow>\d+\.\d+\.\d+)-python(?P<python>\d+\.\d+)$")
#: A URL of the compose service ``postgres`` and the database it names (the password is ``${…}``).
_DATABASE_URL = re.compile(r"\b(?:db\+)?postgres(?:ql)?(?:\+\w+)?://[^@\n]*@postgres:5432/(\w+)")


# --- helpers -------------------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yaml is not a mapping"
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose().get("services")
    assert isinstance(services, dict), "docker-compose.yaml has no services"
    return services


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (compose allows a list of ``KEY=value`` too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): str(value) for key, value in env.items()}


def _command(service: dict[str, Any]) -> str:
    command = service.get("command") or ""
    return command if isinstance(command, str) else " ".join(str(part) for part in command)


def _referenced_variables() -> set[str]:
    """Every variable compose interpolates in the file (comment lines left out, as compose does)."""
    lines = COMPOSE.read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    return {braced or bare for braced, bare in _INTERPOLATION.findall(text) if braced or bare}


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        assert "=" in stripped, f".env.example:{number}: not NAME=value: {stripped!r}"
        name, value = stripped.split("=", 1)
        values[name.strip()] = value.strip()
    return values


def _volume_source(entry: str | dict[str, Any]) -> str:
    return str(entry.get("source", "")) if isinstance(entry, dict) else entry.split(":", 1)[0]


def _volume_target(entry: str | dict[str, Any]) -> str:
    return str(entry.get("target", "")) if isinstance(entry, dict) else entry.split(":")[1]


def _named_volumes_used() -> set[str]:
    used: set[str] = set()
    for service in _services().values():
        for entry in service.get("volumes") or []:
            source = _volume_source(entry)
            if source and not source.startswith((".", "/", "~", "$")):
                used.add(source)
    return used


def _bind_mounts() -> set[str]:
    mounts: set[str] = set()
    for service in _services().values():
        for entry in service.get("volumes") or []:
            source = _volume_source(entry)
            if source.startswith("./"):
                mounts.add(source)
    return mounts


def _airflow_version_pinned() -> str:
    match = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.lock").read_text(), re.MULTILINE)
    assert match, "requirements.lock pins no apache-airflow"
    return match.group(1)


def _project_python() -> str:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^requires-python\s*=\s*">=(\d+\.\d+)', pyproject, re.MULTILINE)
    assert match, "pyproject.toml has no requires-python lower bound"
    return match.group(1)


def _documented_popdata_variables() -> set[str]:
    from popdata.config import settings
    from popdata.warehouse.db import LOGIN_PASSWORD_ENV

    documented = set(re.findall(r"POPDATA_[A-Z_]+", settings.__doc__ or ""))
    documented |= set(LOGIN_PASSWORD_ENV.values())
    documented |= set(re.findall(r"POPDATA_[A-Z_]+", (REPO / "docs" / "security.md").read_text("utf-8")))
    return documented


def _initdb_databases() -> set[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(INITDB.glob("*.sql")))
    return {name.lower() for name in re.findall(r"(?i)\bCREATE\s+DATABASE\s+\"?(\w+)", text)}


def _popdata_invocations(command: str) -> list[list[str]]:
    """The argument lists of every ``popdata …`` call in a shell command (up to ``&&``, ``;``, ``|``)."""
    calls = []
    for line in re.split(r"&&|\|\||[;|\n]", command):
        words = line.split()
        if words and words[0] == "popdata":
            calls.append(words[1:])
    return calls


# --- services -------------------------------------------------------------------------------------------


def test_expected_services_exist() -> None:
    missing = sorted({*LONG_RUNNING, INIT} - set(_services()))
    assert not missing, f"docker-compose.yaml lacks the services {missing}"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_service_has_healthcheck(name: str) -> None:
    check = _services()[name].get("healthcheck") or {}
    assert check.get("test") and not check.get("disable"), f"{name} has no health check"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (API_SERVER, "/api/v2/"),
        ("airflow-scheduler", ":8974/health"),
        (WORKER, "inspect ping"),
        ("airflow-triggerer", "jobs check --job-type TriggererJob"),
        ("airflow-dag-processor", "jobs check --job-type DagProcessorJob"),
    ],
)
def test_healthcheck_asks_the_service_itself(name: str, expected: str) -> None:
    test = _services()[name]["healthcheck"]["test"]
    text = test if isinstance(test, str) else " ".join(test)
    assert expected in text, f"{name}'s health check should use {expected!r}, it runs {text!r}"


def test_worker_is_scalable() -> None:
    worker = _services()[WORKER]
    assert "container_name" not in worker, "airflow-worker has a container_name: --scale cannot make N of it"
    assert not worker.get("ports"), (
        "airflow-worker publishes host ports: a second replica could not bind them"
    )


def test_no_service_has_a_container_name() -> None:
    named = sorted(name for name, service in _services().items() if "container_name" in service)
    assert not named, f"container_name pins {named} to one instance"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_services_wait_for_init(name: str) -> None:
    depends = _services()[name].get("depends_on") or {}
    assert isinstance(depends, dict), f"{name}: depends_on should be a mapping with conditions"
    assert depends.get(INIT, {}).get("condition") == "service_completed_successfully", (
        f"{name} must wait for {INIT} to complete successfully"
    )
    for backing in ("postgres", "redis"):
        assert depends.get(backing, {}).get("condition") == "service_healthy", (
            f"{name} must wait for {backing} to be healthy"
        )


def test_init_waits_for_healthy_database_and_broker() -> None:
    depends = _services()[INIT].get("depends_on") or {}
    for backing in ("postgres", "redis"):
        assert depends.get(backing, {}).get("condition") == "service_healthy", (
            f"{INIT} must wait for {backing} to be healthy"
        )


def test_api_server_publishes_8080() -> None:
    ports = [str(port) for port in _services()[API_SERVER].get("ports") or []]
    assert any(port.split(":")[-2:] == ["8080", "8080"] for port in ports), (
        f"{API_SERVER} should publish 8080:8080, it publishes {ports}"
    )


def test_only_the_api_server_publishes_ports() -> None:
    published = sorted(name for name, service in _services().items() if service.get("ports"))
    assert published == [API_SERVER], f"only {API_SERVER} should publish host ports, these do: {published}"


# --- executor, databases --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [INIT, *AIRFLOW_SERVICES])
def test_celery_executor_with_redis_broker(name: str) -> None:
    env = _environment(_services()[name])
    assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", f"{name}: executor is not CeleryExecutor"
    assert env.get("AIRFLOW__CELERY__BROKER_URL", "").startswith("redis://redis:"), (
        f"{name}: the Celery broker URL should name the redis service"
    )
    assert env.get("AIRFLOW__CELERY__RESULT_BACKEND", "").startswith("db+postgresql"), (
        f"{name}: the Celery result backend should be Airflow's PostgreSQL database"
    )
    # the same settings as `make up-celery`: the workers preload (popdata.executors)
    assert env.get("AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS") == services.CELERY_CONFIG_OPTIONS, name


def test_database_urls_name_the_databases_initdb_creates() -> None:
    created = _initdb_databases()
    assert {"popdata", "airflow"} <= created, f"docker/initdb creates {sorted(created)}"
    env = _environment(_services()[INIT])
    expected = {
        "POPDATA_WAREHOUSE_URL": "popdata",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "airflow",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": "airflow",
        "AIRFLOW__CELERY__RESULT_BACKEND": "airflow",
    }
    for variable, database in expected.items():
        match = _DATABASE_URL.search(env.get(variable, ""))
        assert match, f"{variable} is not a URL of the postgres service: {env.get(variable)!r}"
        assert match.group(1) == database, f"{variable} names database {match.group(1)!r}, not {database!r}"
        assert match.group(1) in created, (
            f"{variable} names {match.group(1)!r}, which docker/initdb does not create"
        )


def test_every_database_url_names_a_created_database() -> None:
    created = _initdb_databases()
    named = set(_DATABASE_URL.findall(COMPOSE.read_text(encoding="utf-8")))
    assert named, "no database URL found in docker-compose.yaml"
    assert named <= created, f"URLs name {sorted(named - created)}, which docker/initdb does not create"


def test_postgres_mounts_initdb() -> None:
    targets = {
        _volume_source(entry): _volume_target(entry) for entry in _services()["postgres"].get("volumes") or []
    }
    assert targets.get("./docker/initdb") == "/docker-entrypoint-initdb.d", (
        "postgres must mount ./docker/initdb at /docker-entrypoint-initdb.d to create the databases"
    )


# --- variables and secrets ------------------------------------------------------------------------------


def test_every_variable_is_in_env_example() -> None:
    missing = sorted(_referenced_variables() - set(_env_example()))
    assert not missing, f"docker-compose.yaml reads {missing}, which .env.example does not list"


def test_every_env_example_variable_is_used() -> None:
    unused = sorted(set(_env_example()) - _referenced_variables())
    assert not unused, f".env.example lists {unused}, which docker-compose.yaml never reads"


@pytest.mark.parametrize(
    "variable",
    [
        "POPDATA_DB_PASSWORD",
        "POPDATA_PIPELINE_PASSWORD",
        "POPDATA_VIEW_PASSWORD",
        "POPDATA_VILLAGE_PASSWORD",
        "POPDATA_JWT_SECRET",
        "POPDATA_FERNET_KEY",
        "POPDATA_API_SECRET_KEY",
        "POPDATA_ADMIN_PASSWORD",
    ],
)
def test_secret_is_required_and_not_in_env_example(variable: str) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    uses = re.findall(r"\$\{" + variable + r"(\W[^}]*)?\}", text)
    assert uses, f"docker-compose.yaml does not read {variable}"
    assert all(use.startswith(":?") for use in uses), (
        f"every use of {variable} must be ${{{variable}:?message}} (no default, refuse to start without it)"
    )
    assert _env_example().get(variable) == "", (
        f".env.example must leave {variable} empty (no secret committed)"
    )


@pytest.mark.parametrize(
    ("setting", "variable"),
    [
        ("AIRFLOW__CORE__FERNET_KEY", "POPDATA_FERNET_KEY"),
        ("AIRFLOW__API_AUTH__JWT_SECRET", "POPDATA_JWT_SECRET"),
        ("AIRFLOW__API__SECRET_KEY", "POPDATA_API_SECRET_KEY"),
        ("POPDATA_PIPELINE_PASSWORD", "POPDATA_PIPELINE_PASSWORD"),
        ("POPDATA_VIEW_PASSWORD", "POPDATA_VIEW_PASSWORD"),
        ("POPDATA_VILLAGE_PASSWORD", "POPDATA_VILLAGE_PASSWORD"),
    ],
)
@pytest.mark.parametrize("name", [INIT, *AIRFLOW_SERVICES])
def test_shared_secrets_reach_every_airflow_service(name: str, setting: str, variable: str) -> None:
    value = _environment(_services()[name]).get(setting, "")
    assert value.startswith("${" + variable + ":?"), f"{name}: {setting} should come from ${{{variable}:?…}}"


@pytest.mark.parametrize("name", [INIT, *AIRFLOW_SERVICES])
def test_popdata_variables_are_documented(name: str) -> None:
    documented = _documented_popdata_variables()
    unknown = sorted(
        k for k in _environment(_services()[name]) if k.startswith("POPDATA_") and k not in documented
    )
    assert not unknown, (
        f"{name} sets {unknown}, which neither popdata.config.settings, LOGIN_PASSWORD_ENV nor docs/security.md documents"
    )


def test_simple_auth_manager_passwords_file_is_written_by_init() -> None:
    env = _environment(_services()[API_SERVER])
    path = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "")
    assert path, f"{API_SERVER} sets no AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
    assert env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"), (
        f"{API_SERVER} sets no simple auth manager users"
    )
    folder = str(Path(path).parent)
    for service in (INIT, API_SERVER):
        targets = {_volume_target(entry) for entry in _services()[service].get("volumes") or []}
        assert folder in targets, f"{service} does not mount the passwords file's folder {folder}"
    assert "SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in _command(_services()[INIT]), (
        f"{INIT} does not write the passwords file"
    )
    read_only = [
        e for e in _services()[API_SERVER]["volumes"] if isinstance(e, str) and e.endswith(f"{folder}:ro")
    ]
    assert not read_only, "the simple auth manager opens its passwords file for update: mount it writable"
    worker_targets = {_volume_target(entry) for entry in _services()[WORKER].get("volumes") or []}
    assert folder not in worker_targets, "the workers must not see the admin password file"


# --- volumes and mounted files ---------------------------------------------------------------------------


def test_named_volumes_used_are_declared() -> None:
    declared = set(_compose().get("volumes") or {})
    undeclared = sorted(_named_volumes_used() - declared)
    assert not undeclared, (
        f"services use the volumes {undeclared}, which the top-level volumes do not declare"
    )


def test_declared_volumes_are_used() -> None:
    declared = set(_compose().get("volumes") or {})
    unused = sorted(declared - _named_volumes_used())
    assert not unused, f"the volumes {unused} are declared but no service mounts them"


@pytest.mark.parametrize(
    ("setting", "purpose"), [("POPDATA_LANDING", "landing"), ("POPDATA_OUTBOX", "outbox")]
)
@pytest.mark.parametrize("name", [INIT, *AIRFLOW_SERVICES])
def test_landing_and_outbox_are_named_volumes_at_their_paths(name: str, setting: str, purpose: str) -> None:
    service = _services()[name]
    path = _environment(service).get(setting)
    assert path, f"{name} does not set {setting}"
    mounted = {
        _volume_target(entry): _volume_source(entry)
        for entry in service.get("volumes") or []
        if _volume_source(entry) in _named_volumes_used()
    }
    assert path in mounted, (
        f"{name}: {setting}={path} is not a named volume mount (the {purpose} would be lost)"
    )


def test_postgres_data_is_a_named_volume() -> None:
    targets = {_volume_target(entry): _volume_source(entry) for entry in _services()["postgres"]["volumes"]}
    assert targets.get("/var/lib/postgresql/data") in _named_volumes_used(), (
        "PostgreSQL's data directory must be a named volume"
    )


@pytest.mark.parametrize("name", [INIT, *AIRFLOW_SERVICES])
def test_repository_is_mounted_at_popdata_home(name: str) -> None:
    service = _services()[name]
    targets = {_volume_target(entry): _volume_source(entry) for entry in service.get("volumes") or []}
    assert targets.get("/opt/popdata") in {".", "./"}, f"{name} does not mount the repository at /opt/popdata"
    assert service.get("working_dir") == "/opt/popdata", f"{name}: working_dir is not /opt/popdata"
    assert _environment(service).get("POPDATA_HOME") == "/opt/popdata", (
        f"{name}: POPDATA_HOME is not /opt/popdata"
    )


def test_mounted_files_exist() -> None:
    missing = sorted(mount for mount in _bind_mounts() if not (REPO / mount).exists())
    assert not missing, f"docker-compose.yaml mounts {missing}, which the repository lacks"


@pytest.mark.parametrize(
    ("setting", "folder"),
    [("AIRFLOW__CORE__DAGS_FOLDER", "dags"), ("AIRFLOW__CORE__PLUGINS_FOLDER", "plugins")],
)
def test_airflow_folders_are_in_the_mounted_repository(setting: str, folder: str) -> None:
    value = _environment(_services()[INIT]).get(setting)
    assert value == f"/opt/popdata/{folder}", f"{setting} should be /opt/popdata/{folder}, it is {value!r}"
    assert (REPO / folder).is_dir(), f"{folder}/ does not exist in the repository"


def test_build_files_exist() -> None:
    build = _compose()["x-airflow-common"]["build"]
    assert (REPO / build["context"] / build["dockerfile"]).is_file(), f"{build['dockerfile']} does not exist"
    copied = re.findall(r"^COPY\s+(?:--\S+\s+)*(.+?)\s+\S+$", DOCKERFILE.read_text("utf-8"), re.MULTILINE)
    sources = [source for line in copied for source in line.split()]
    assert "requirements.lock" in sources, "docker/Dockerfile does not install requirements.lock"
    missing = sorted(source for source in sources if not (REPO / source).exists())
    assert not missing, f"docker/Dockerfile copies {missing}, which the repository lacks"


# --- image --------------------------------------------------------------------------------------------


def _images() -> dict[str, str]:
    """Every Airflow image name: the compose file's own, its build argument and the Dockerfile's default."""
    common = _compose()["x-airflow-common"]
    default = re.search(r"^ARG AIRFLOW_IMAGE=(\S+)$", DOCKERFILE.read_text("utf-8"), re.MULTILINE)
    assert default, "docker/Dockerfile has no ARG AIRFLOW_IMAGE=<image> default"
    return {
        "image": common["image"],
        "build.args.AIRFLOW_IMAGE": common["build"]["args"]["AIRFLOW_IMAGE"],
        "docker/Dockerfile ARG AIRFLOW_IMAGE": default.group(1),
    }


def test_image_tag_is_the_pinned_airflow() -> None:
    pinned = _airflow_version_pinned()
    for where, image in _images().items():
        match = _IMAGE_TAG.search(image)
        assert match, f"{where}: {image!r} has no <airflow>-python<x.y> tag"
        assert match["airflow"] == pinned, (
            f"{where}: {image} is Airflow {match['airflow']}, the lock pins {pinned}"
        )


def test_image_tag_is_the_project_python() -> None:
    expected = _project_python()
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert running == expected, f"the venv runs Python {running}, pyproject's lowest supported is {expected}"
    for where, image in _images().items():
        match = _IMAGE_TAG.search(image)
        assert match, f"{where}: {image!r} has no <airflow>-python<x.y> tag"
        assert match["python"] == expected, (
            f"{where}: {image} is Python {match['python']}, the project's is {expected}"
        )


def test_base_image_is_the_official_one() -> None:
    images = _images()
    assert images["build.args.AIRFLOW_IMAGE"].startswith("apache/airflow:"), (
        "the base image is not apache/airflow"
    )
    assert images["build.args.AIRFLOW_IMAGE"] == images["docker/Dockerfile ARG AIRFLOW_IMAGE"], (
        "the compose build argument and the Dockerfile's default base image differ"
    )


@pytest.mark.parametrize("name", [INIT, *AIRFLOW_SERVICES])
def test_airflow_services_use_the_project_image(name: str) -> None:
    image = _services()[name].get("image")
    assert image == _images()["image"], f"{name} runs {image!r}, not the project's image"


# --- airflow-init and the CLI -----------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["popdata db upgrade", "popdata db logins", "airflow db migrate"])
def test_init_runs(step: str) -> None:
    command = _command(_services()[INIT])
    assert step in command, f"{INIT} does not run `{step}`"


def test_init_migrates_the_warehouse_before_the_logins() -> None:
    command = _command(_services()[INIT])
    upgrade, logins = command.find("popdata db upgrade"), command.find("popdata db logins")
    assert -1 < upgrade < logins, (
        "`popdata db logins` must run after `popdata db upgrade` (migration 0012 creates the logins)"
    )


def test_init_stops_on_the_first_failure() -> None:
    command = _command(_services()[INIT])
    assert "set -e" in command or command.count("&&") >= 2, f"{INIT} would go on after a failed step"


def test_init_popdata_commands_exist_in_the_cli() -> None:
    from popdata.cli import main

    calls = _popdata_invocations(_command(_services()[INIT]))
    assert calls, f"{INIT} runs no popdata command"
    for args in calls:
        command: click.Command | None = main
        ctx = click.Context(main, info_name="popdata")
        for word in (w for w in args if not w.startswith("-")):
            if not isinstance(command, click.Group):
                break
            command = command.get_command(ctx, word)
            assert command is not None, f"`popdata {' '.join(args)}`: the CLI has no command {word!r}"
        assert not isinstance(command, click.Group), (
            f"`popdata {' '.join(args)}` names a group, not a command"
        )


def test_popdata_invocations_parser() -> None:
    calls = _popdata_invocations("set -e\npopdata db upgrade && popdata db logins; airflow db migrate")
    assert calls == [["db", "upgrade"], ["db", "logins"]]
