"""Airflow's own services on this machine, without Docker: ``make up`` and ``make up-celery``.

Two topologies, the same as ``docker-compose.yaml`` runs in containers:

* **local** (``make up``): api-server, scheduler, dag-processor and triggerer; the scheduler runs
  the tasks itself (LocalExecutor, preloading: :class:`popdata.executors.PreloadingLocalExecutor`).
* **celery** (``make up-celery``): the same four and *N* Celery workers (``airflow celery
  worker``, default two) behind the Redis broker at ``POPDATA_CELERY_BROKER_URL`` (default
  ``redis://127.0.0.1:6379/0``, the machine's Redis), results in Airflow's metadata database
  (``CeleryExecutor``; each worker preloads, :data:`popdata.executors.CELERY_CONFIG`). Each worker reports its own name (``popdata-worker-<i>``) as the task
  instances' host name (:func:`worker_hostname`), so the UI and the tests can tell which worker ran
  a task; the workers write their task logs into the shared log folder (``var/logs``), where the
  api-server reads them, so they serve none.

Every process is started in its own session with its output in ``var/logs/<service>.log``, its
pid in ``var/run/airflow-<service>.pid``; what was started is recorded in ``var/run/services.json``
so that ``popdata services stop`` (``make down``) stops exactly that, workers included.

Variables: ``POPDATA_API_PORT`` (default 8080), ``POPDATA_CELERY_BROKER_URL``,
``POPDATA_CELERY_QUEUE`` (default ``default``: a separate queue keeps two installations on one
broker apart), ``POPDATA_WORKER_CONCURRENCY`` (task slots per worker, default 2).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from popdata.config.settings import Settings

Executor = Literal["local", "celery"]
EXECUTORS: dict[str, str] = {
    "local": "popdata.executors.PreloadingLocalExecutor",
    "celery": "CeleryExecutor",
}
"""Topology name → Airflow executor class (popdata.preload explains the preloading)."""
CELERY_CONFIG_OPTIONS = "popdata.executors.CELERY_CONFIG"
"""``[celery] celery_config_options`` of the workers: Airflow's defaults, and preloading."""
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
WORKER_NAME_ENV = "POPDATA_WORKER_NAME"
"""Set for each Celery worker: the host name its task instances report (:func:`worker_hostname`)."""


def worker_hostname() -> str:
    """The host name Airflow records for a task instance (``[core] hostname_callable``).

    A Celery worker started by :func:`start` reports its own name (``popdata-worker-1`` …), so that
    several workers on one machine stay apart; every other process its fully qualified name, as
    Airflow does by default.
    """
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()


@dataclass(frozen=True)
class Service:
    """One Airflow process: its name, ``airflow`` arguments and its own environment additions."""

    name: str
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Topology:
    """Which services run, with which executor.

    Attributes:
        executor: ``local`` (LocalExecutor) or ``celery`` (CeleryExecutor with ``workers`` workers).
        workers: Celery workers (ignored for ``local``); at least one for ``celery``.
        concurrency: task slots of each Celery worker.
        port: the api-server's port (the workers and the scheduler reach the execution API there).
        broker_url: the Celery broker.
        queue: the Celery queue the tasks are sent to and the workers consume.
    """

    executor: Executor = "local"
    workers: int = 0
    concurrency: int = 2
    port: int = 8080
    broker_url: str = DEFAULT_BROKER
    queue: str = "default"

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if self.executor == "celery" and self.workers < 1:
            raise ValueError("the celery topology needs at least one worker")
        if self.concurrency < 1:
            raise ValueError("worker concurrency must be at least 1")
        if not 0 < self.port < 65536:
            raise ValueError(f"not a TCP port: {self.port}")

    @classmethod
    def from_env(cls, executor: Executor, workers: int | None = None) -> Topology:
        """The topology with the ``POPDATA_*`` variables of the module docstring applied."""
        return cls(
            executor=executor,
            workers=(2 if workers is None else workers) if executor == "celery" else 0,
            concurrency=int(os.environ.get("POPDATA_WORKER_CONCURRENCY") or 2),
            port=int(os.environ.get("POPDATA_API_PORT") or 8080),
            broker_url=os.environ.get("POPDATA_CELERY_BROKER_URL") or DEFAULT_BROKER,
            queue=os.environ.get("POPDATA_CELERY_QUEUE") or "default",
        )

    def services(self) -> list[Service]:
        """The processes of this topology, in start order (workers last)."""
        listed = [
            Service("api-server", ("api-server", "--port", str(self.port))),
            Service("scheduler", ("scheduler",)),
            Service("dag-processor", ("dag-processor",)),
            Service("triggerer", ("triggerer",)),
        ]
        for number in range(1, self.workers + 1 if self.executor == "celery" else 1):
            name = f"popdata-worker-{number}"
            listed.append(
                Service(
                    f"worker-{number}",
                    (
                        "celery",
                        "worker",
                        "--celery-hostname",
                        f"{name}@%h",
                        "--concurrency",
                        str(self.concurrency),
                        "--queues",
                        self.queue,
                        "--skip-serve-logs",
                    ),
                    {WORKER_NAME_ENV: name},
                )
            )
        return listed

    def environment(self, metadata_url: str) -> dict[str, str]:
        """``AIRFLOW__*`` settings every process of this topology shares (they override the defaults)."""
        env = {
            "AIRFLOW__CORE__EXECUTOR": EXECUTORS[self.executor],
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{self.port}/execution/",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "popdata.services.worker_hostname",
        }
        if self.executor == "celery":
            env |= {
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": CELERY_CONFIG_OPTIONS,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            }
        return env


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a second installation beside ``make up``'s 8080)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_environment(
    home: Path,
    work: Path,
    *,
    warehouse_url: str,
    metadata_url: str,
    queue: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of an installation of its own under ``work`` (``landing``, ``outbox``,
    ``var``), on the given databases, a free port and Celery queue ``queue``: what the benchmark
    and the topology tests start ``popdata services`` with, beside anything else running.

    The caller's ``AIRFLOW*`` and ``POPDATA_*`` variables are dropped, so none leaks in.
    """
    from popdata.airflow_env import async_url

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "POPDATA_"))}
    env |= {
        "POPDATA_HOME": str(home),
        "POPDATA_VAR": str(work / "var"),
        "POPDATA_LANDING": str(work / "landing"),
        "POPDATA_OUTBOX": str(work / "outbox"),
        "POPDATA_WAREHOUSE_URL": warehouse_url,
        "POPDATA_QUIET_SECONDS": "0",
        "POPDATA_API_PORT": str(free_port()),
        "POPDATA_CELERY_QUEUE": queue,
        "AIRFLOW_HOME": str(work / "var" / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": async_url(metadata_url),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    return env | dict(extra or {})


def run_dir(settings: Settings) -> Path:
    """``var/run``: pid files and the record of what was started."""
    return settings.var / "run"


def pid_file(settings: Settings, name: str) -> Path:
    """The pid file of service ``name``."""
    return run_dir(settings) / f"airflow-{name}.pid"


def running_pid(path: Path) -> int | None:
    """The pid in ``path`` when that process is alive, else None."""
    if not path.exists():
        return None
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def _record(settings: Settings) -> Path:
    return run_dir(settings) / "services.json"


@dataclass(frozen=True)
class Recorded:
    """What the last :func:`start` started."""

    executor: str
    services: tuple[str, ...]


def recorded(settings: Settings) -> Recorded:
    """What the last :func:`start` recorded (the local four when nothing was recorded)."""
    path = _record(settings)
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        return Recorded(str(data["executor"]), tuple(str(n) for n in data["services"]))
    return Recorded("local", tuple(s.name for s in Topology().services()))


def start(
    settings: Settings, topology: Topology, metadata_url: str, *, echo: Callable[[str], None] = print
) -> dict[str, int]:
    """Start the services of ``topology`` that are not running yet; returns name → pid.

    The caller has migrated both databases and applied the Airflow environment
    (:func:`popdata.runner.prepare_airflow`). Refuses to mix topologies: a running service of
    another executor must be stopped first (``popdata services stop``).
    """
    previous = recorded(settings)
    alive = [name for name in previous.services if running_pid(pid_file(settings, name))]
    if alive and previous.executor != topology.executor:
        raise RuntimeError(
            f"{', '.join(alive)} running with the {previous.executor} executor: "
            "`popdata services stop` (make down) first"
        )
    logs = settings.var / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    run_dir(settings).mkdir(parents=True, exist_ok=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    shared = {**os.environ, **topology.environment(metadata_url)}
    services = topology.services()
    _record(settings).write_text(
        json.dumps({"executor": topology.executor, "services": [s.name for s in services]}), encoding="utf-8"
    )
    pids: dict[str, int] = {}
    for service in services:
        path = pid_file(settings, service.name)
        pid = running_pid(path)
        if pid:
            echo(f"{service.name} already running (pid {pid})")
            pids[service.name] = pid
            continue
        log_path = logs / f"{service.name}.log"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [airflow, *service.args],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**shared, **service.env},
            )
        path.write_text(str(process.pid))
        pids[service.name] = process.pid
        echo(f"started {service.name} (pid {process.pid}, log {log_path})")
    return pids


def stop(
    settings: Settings, *, echo: Callable[[str], None] = print, grace_seconds: float = 20.0
) -> list[str]:
    """Stop every service the last :func:`start` recorded (SIGTERM to its process group, SIGKILL
    after ``grace_seconds``); returns the names stopped."""
    stopped: list[str] = []
    for name in reversed(recorded(settings).services):  # workers first: they finish or hand back their tasks
        path = pid_file(settings, name)
        pid = running_pid(path)
        if pid is None:
            path.unlink(missing_ok=True)
            continue
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while running_pid(path) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if running_pid(path) is not None:
            os.killpg(pid, signal.SIGKILL)
        path.unlink(missing_ok=True)
        stopped.append(name)
        echo(f"stopped {name}")
    return stopped


def status(settings: Settings) -> dict[str, int | None]:
    """Service name → pid when running, else None (the services of the last start)."""
    return {name: running_pid(pid_file(settings, name)) for name in recorded(settings).services}
