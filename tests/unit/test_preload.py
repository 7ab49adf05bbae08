"""Preloading (popdata.preload, popdata.executors): task processes are forked with the heavy imports done."""

from __future__ import annotations

import json
import subprocess
import sys

from popdata import services


def _in_a_fresh_interpreter(code: str) -> dict[str, object]:
    """Run ``code`` in a new Python (this test process has imported everything already); it prints JSON."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_preload_imports_gx_with_popdatas_expectations_and_the_pipeline() -> None:
    found = _in_a_fresh_interpreter(
        "import json, sys\n"
        "before = sorted(m for m in ('great_expectations', 'popdata.ingest.pipeline') if m in sys.modules)\n"
        "from popdata.preload import MODULES, preload\n"
        "first, second = preload(), preload()\n"
        "from great_expectations.expectations.registry import get_expectation_impl\n"
        "get_expectation_impl('expect_column_values_to_be_valid_resident_id')\n"
        "print(json.dumps({'before': before, 'missing': [m for m in MODULES if m not in sys.modules],\n"
        "  'gx': 'great_expectations' in sys.modules, 'splink': 'splink' in sys.modules,\n"
        "  'second_faster': second < first / 10}))"
    )
    assert found == {"before": [], "missing": [], "gx": True, "splink": False, "second_faster": True}


def test_the_local_executor_preloads_before_it_forks_its_workers() -> None:
    found = _in_a_fresh_interpreter(
        "import json, sys\n"
        "from popdata import executors\n"
        "from airflow.executors.local_executor import LocalExecutor\n"
        "calls = []\n"
        "executors.preload = lambda: calls.append('preload') or 0.0\n"
        "LocalExecutor.start = lambda self: calls.append('fork workers')\n"
        "executors.PreloadingLocalExecutor(parallelism=1).start()\n"
        "print(json.dumps({'calls': calls, 'gx_on_import': 'great_expectations' in sys.modules}))"
    )
    # importing the executor (the api-server and the CLI do) preloads nothing; starting it does, first
    assert found == {"calls": ["preload", "fork workers"], "gx_on_import": False}


def test_celery_workers_preload_on_worker_init_with_airflows_default_settings() -> None:
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
    from celery.signals import worker_init

    from popdata import executors

    assert executors.CELERY_CONFIG == DEFAULT_CELERY_CONFIG
    assert any(receiver() is executors.preload_in_worker for _, receiver in worker_init.receivers)
    assert services.CELERY_CONFIG_OPTIONS == "popdata.executors.CELERY_CONFIG"
    module, _, name = services.EXECUTORS["local"].rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name) is executors.PreloadingLocalExecutor
