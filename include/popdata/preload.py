"""Heavy imports done once in the long-lived process that forks popdata's task processes.

Every Airflow task runs in a process forked from a long-lived one (a LocalExecutor worker, forked
from the scheduler; a Celery pool process, forked from the worker). What that process has imported,
the task process has too: without preloading, each task paid Great Expectations' import (~10 s
of CPU on the development machine), Airflow's SDK and popdata's pipeline again, which was most
of the time of a small file's validation (docs/performance.md: "Per-task cost").

:func:`preload` imports the modules the per-file and per-run tasks need and reads the feed configs
(both cached in the process), so a task process starts with them. It runs in the scheduler before
the LocalExecutor forks its workers (:class:`popdata.executors.PreloadingLocalExecutor`) and in a
Celery worker's main process before its pool starts (:data:`popdata.executors.CELERY_CONFIG`).

Nothing here opens a connection, a file for writing or a thread: a fork after it is safe.
Linkage (Splink, DuckDB) and the run report (matplotlib) are not preloaded: they run once per
chain, and their imports would only add to the memory every worker shares.
"""

from __future__ import annotations

import importlib
import logging
import time

log = logging.getLogger(__name__)

#: What the per-file and per-run tasks import, in the order they are imported.
MODULES: tuple[str, ...] = (
    "popdata.orchestration",
    "popdata.ingest.pipeline",
    "popdata.quality.expectations",
    "popdata.quality.docs",
    "popdata.quality.cross_feed",
    "popdata.quality.alerts",
    "popdata.monitor.arrivals",
    "popdata.warehouse.migrate",
)


def preload() -> float:
    """Import :data:`MODULES`, Great Expectations with popdata's expectation types, and read the
    feed configs; returns the seconds it took (nothing happens the second time)."""
    started = time.perf_counter()
    from popdata.quality import gx

    gx.import_gx()  # analytics off and its loggers quiet first; MODULES registers popdata's expectations
    for name in MODULES:
        importlib.import_module(name)
    from popdata.config.feeds import default_feeds

    default_feeds()
    seconds = time.perf_counter() - started
    log.info("popdata preloaded %d modules in %.1f s", len(MODULES), seconds)
    return seconds
