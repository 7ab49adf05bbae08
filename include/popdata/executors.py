"""popdata's Airflow executor settings: task processes start with the heavy imports done.

* :class:`PreloadingLocalExecutor` (``AIRFLOW__CORE__EXECUTOR =
  popdata.executors.PreloadingLocalExecutor``, what ``make up`` runs): Airflow's LocalExecutor,
  which :func:`popdata.preload.preload` first, in the scheduler, before it forks its worker
  processes; every task process is forked from one of them.
* :data:`CELERY_CONFIG` (``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS =
  popdata.executors.CELERY_CONFIG``, what ``make up-celery`` and docker-compose.yaml set): Airflow's
  default Celery settings; importing this module also connects :func:`preload_in_worker` to
  Celery's ``worker_init`` signal, which a worker sends in its main process before it starts its
  pool of task processes. The scheduler imports it too (it reads the same settings) but never
  sends the signal.

The measured effect is in docs/performance.md ("Per-task cost").
"""

from __future__ import annotations

from typing import Any

from airflow.executors.local_executor import LocalExecutor
from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

from popdata.preload import preload

#: The Celery settings of popdata's workers: Airflow's defaults (broker, result backend, queue).
CELERY_CONFIG: dict[str, Any] = dict(DEFAULT_CELERY_CONFIG)


class PreloadingLocalExecutor(LocalExecutor):
    """Airflow's LocalExecutor, whose workers (and so every task process) start preloaded."""

    def start(self) -> None:
        """Preload, then start the executor (which forks its workers)."""
        preload()
        super().start()


@worker_init.connect
def preload_in_worker(**_: Any) -> None:
    """Celery's ``worker_init``: preload in the worker's main process, before its pool forks."""
    preload()
