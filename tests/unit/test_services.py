"""The topologies of ``make up`` and ``make up-celery`` (popdata.services), without starting anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from popdata import services
from popdata.config.settings import load_settings


def test_the_local_topology_is_airflows_four_services() -> None:
    topology = services.Topology.from_env("local", 5)
    assert [s.name for s in topology.services()] == ["api-server", "scheduler", "dag-processor", "triggerer"]
    env = topology.environment("postgresql+psycopg://postgres@/airflow")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "popdata.executors.PreloadingLocalExecutor"
    assert not any(key.startswith("AIRFLOW__CELERY__") for key in env)


def test_the_celery_topology_adds_named_workers_on_one_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POPDATA_API_PORT", "8099")
    monkeypatch.setenv("POPDATA_CELERY_QUEUE", "county_a")
    monkeypatch.setenv("POPDATA_WORKER_CONCURRENCY", "3")
    monkeypatch.delenv("POPDATA_CELERY_BROKER_URL", raising=False)
    topology = services.Topology.from_env("celery", 2)
    listed = topology.services()
    assert [s.name for s in listed] == [
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
        "worker-1",
        "worker-2",
    ]
    assert listed[0].args == ("api-server", "--port", "8099")
    worker = listed[5]
    assert worker.args[:2] == ("celery", "worker")
    assert worker.args[worker.args.index("--queues") + 1] == "county_a"
    assert worker.args[worker.args.index("--concurrency") + 1] == "3"
    assert worker.args[worker.args.index("--celery-hostname") + 1] == "popdata-worker-2@%h"
    assert worker.env == {services.WORKER_NAME_ENV: "popdata-worker-2"}
    env = topology.environment("postgresql+psycopg://postgres@/airflow?host=/tmp/x")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/0"
    assert env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] == "popdata.executors.CELERY_CONFIG"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql+psycopg://postgres@/airflow?host=/tmp/x"
    assert env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "county_a"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:8099/execution/"
    assert env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == "popdata.services.worker_hostname"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"executor": "kubernetes"}, "executor must be one of"),
        ({"executor": "celery", "workers": 0}, "at least one worker"),
        ({"executor": "celery", "workers": 1, "concurrency": 0}, "concurrency"),
        ({"port": 70000}, "not a TCP port"),
    ],
)
def test_a_bad_topology_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        services.Topology(**kwargs)  # type: ignore[arg-type]


def test_the_worker_hostname_names_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(services.WORKER_NAME_ENV, "popdata-worker-7")
    assert services.worker_hostname() == "popdata-worker-7"
    monkeypatch.delenv(services.WORKER_NAME_ENV)
    assert services.worker_hostname() and not services.worker_hostname().startswith("popdata-worker-")


def test_airflow_resolves_the_hostname_callable() -> None:
    """Airflow imports ``[core] hostname_callable`` by its dotted path: the path must import."""
    code = "from airflow.sdk.api.client import get_hostname; print(get_hostname())"
    env = {
        **os.environ,
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "popdata.services.worker_hostname",
        services.WORKER_NAME_ENV: "popdata-worker-3",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "popdata-worker-3"


def test_stop_stops_what_start_recorded_and_refuses_to_mix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POPDATA_VAR", str(tmp_path))
    settings = load_settings()
    assert services.recorded(settings).executor == "local"  # nothing recorded yet
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        run_dir = services.run_dir(settings)
        run_dir.mkdir(parents=True)
        (run_dir / "services.json").write_text(json.dumps({"executor": "celery", "services": ["worker-1"]}))
        services.pid_file(settings, "worker-1").write_text(str(sleeper.pid))
        assert services.status(settings) == {"worker-1": sleeper.pid}
        with pytest.raises(RuntimeError, match="worker-1 running with the celery executor"):
            services.start(settings, services.Topology(), "postgresql://x/airflow", echo=lambda _: None)
        said: list[str] = []
        assert services.stop(settings, echo=said.append, grace_seconds=1) == ["worker-1"]
        assert sleeper.wait(timeout=10) is not None
        assert said == ["stopped worker-1"]
        assert services.status(settings) == {"worker-1": None}
    finally:
        if sleeper.poll() is None:
            sleeper.kill()


def test_an_isolated_environment_drops_the_callers_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POPDATA_WAREHOUSE_URL", "postgresql://elsewhere/popdata")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "KubernetesExecutor")
    env = services.isolated_environment(
        Path("/repo"),
        tmp_path,
        warehouse_url="postgresql+psycopg://postgres@127.0.0.1/w",
        metadata_url="postgresql+psycopg://postgres@127.0.0.1/a",
        queue="q1",
        extra={"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"},
    )
    assert env["POPDATA_WAREHOUSE_URL"] == "postgresql+psycopg://postgres@127.0.0.1/w"
    assert "AIRFLOW__CORE__EXECUTOR" not in env  # the topology sets it, not the caller
    assert (
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == "postgresql+psycopg_async://postgres@127.0.0.1/a"
    )
    assert env["POPDATA_LANDING"] == str(tmp_path / "landing") and env["AIRFLOW_HOME"] == str(
        tmp_path / "var" / "airflow"
    )
    assert env["POPDATA_CELERY_QUEUE"] == "q1" and int(env["POPDATA_API_PORT"]) > 0
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"
