"""The DAG folder imports cleanly on Airflow 3.3 and every DAG follows the house rules.

Airflow 3.3 moved DagBag to ``airflow.dag_processing.dagbag`` and removed its
``include_examples`` argument; examples are switched off by configuration.
Runs in a subprocess so that this test's Airflow configuration (a throwaway
AIRFLOW_HOME with SQLite) cannot leak into other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from popdata.config.feeds import default_feeds

REPO = Path(__file__).resolve().parents[2]

_PROBE = r"""
import json, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder="{dags}")
seconds = time.perf_counter() - started
out = {{"errors": {{k: str(v) for k, v in bag.import_errors.items()}}, "seconds": seconds, "dags": {{}}}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {{
        "tasks": sorted(t.task_id for t in dag.tasks),
        "doc_md": bool(dag.doc_md),
        "tags": sorted(dag.tags),
        "retries": [t.retries for t in dag.tasks],
        "catchup": dag.catchup,
        "schedule": str(dag.schedule),
        "sensors": {{t.task_id: {{"mode": t.mode, "soft_fail": t.soft_fail}} for t in dag.tasks if hasattr(t, "poke")}},
        "trigger_rules": {{t.task_id: getattr(t.trigger_rule, "value", t.trigger_rule) for t in dag.tasks}},
    }}
print("RESULT" + json.dumps(out))
"""


def _probe(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    }
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", None)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(dags=REPO / "dags")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])  # type: ignore[no-any-return]


def test_dag_folder_imports_without_errors_and_has_one_dag_per_feed(tmp_path: Path) -> None:
    result = _probe(tmp_path)
    assert result["errors"] == {}
    expected = {feed.dag_id for feed in default_feeds()}
    others = {
        "quality__cross_feed",
        "link__persons",
        "reconcile__agencies",
        "monitor__feed_arrivals",
        "intake__village_reports",
    }
    assert set(result["dags"]) == expected | others
    for dag_id, dag in result["dags"].items():
        assert dag["doc_md"], f"{dag_id} has no doc_md"
        assert all(r >= 1 for r in dag["retries"]), f"{dag_id} tasks must retry"
        assert dag["catchup"] is False
        if dag_id in others:
            continue
        assert dag["tasks"] == ["load_file", "register_drops", "summarize"], dag_id
        assert "ingest" in dag["tags"]


def test_feeds_with_region_codes_also_scan_when_the_region_reference_publishes(tmp_path: Path) -> None:
    """Their scans hold files back while a region reference loads; its asset rescans them at once."""
    result = _probe(tmp_path)
    for feed in default_feeds():
        schedule = result["dags"][feed.dag_id]["schedule"]
        assert feed.schedule is not None and feed.schedule in schedule, feed.feed_id
        assert ("x-popdata://core/regions" in schedule) == feed.resolves_regions, feed.feed_id
        assert ("AssetOrTimeSchedule" in schedule) == feed.resolves_regions, feed.feed_id


def test_cross_feed_dag_runs_when_any_feed_publishes(tmp_path: Path) -> None:
    """The cross-feed suites are scheduled on the assets every ingest DAG's load_file updates."""
    dag = _probe(tmp_path)["dags"]["quality__cross_feed"]
    assert dag["tasks"] == ["alert_failures", "build_data_docs", "list_checks", "run_check"]
    assert "quality" in dag["tags"]
    for feed in default_feeds():
        assert f"x-popdata://core/{feed.feed}" in dag["schedule"], feed.feed_id


def test_link_dag_runs_when_a_feed_with_persons_publishes(tmp_path: Path) -> None:
    """The linkage DAG is scheduled on the assets of the feeds whose records describe persons.

    It first waits for the loads (a sensor that frees its slot between pokes and, when it gives
    up, lets the linkage run anyway)."""
    dag = _probe(tmp_path)["dags"]["link__persons"]
    assert dag["tasks"] == ["link_persons", "wait_for_loads"]
    assert dag["sensors"] == {"wait_for_loads": {"mode": "reschedule", "soft_fail": True}}
    assert dag["trigger_rules"]["link_persons"] == "none_failed"
    assert "linkage" in dag["tags"]
    for feed in default_feeds():
        assert (f"x-popdata://core/{feed.feed}" in dag["schedule"]) == bool(feed.persons), feed.feed_id


def test_reconcile_dag_runs_after_each_linkage_run(tmp_path: Path) -> None:
    """Reconciliation is scheduled on the person-index asset the linkage task updates."""
    dag = _probe(tmp_path)["dags"]["reconcile__agencies"]
    assert dag["tasks"] == ["check_invariants", "reconcile", "write_run_report"]
    assert "x-popdata://core/record_link" in dag["schedule"]


def test_monitor_dag_checks_arrivals_daily(tmp_path: Path) -> None:
    """The arrival monitor runs every day on its own schedule, not on assets."""
    dag = _probe(tmp_path)["dags"]["monitor__feed_arrivals"]
    assert dag["tasks"] == ["check_arrivals"]
    assert "monitor" in dag["tags"]
    assert "0 0 * * *" in dag["schedule"] or "@daily" in dag["schedule"]


def test_dag_files_do_no_heavy_imports_at_parse_time(tmp_path: Path) -> None:
    """Parsing the DAG folder must not import pandas, GX, psycopg or the pipeline."""
    probe = (
        "import sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"DagBag(dag_folder={str(REPO / 'dags')!r})\n"
        "heavy = [m for m in ('pandas', 'great_expectations', 'psycopg', 'popdata.ingest.pipeline', 'openpyxl')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
    }
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", None)
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("HEAVY"))
    assert line == "HEAVY []", line


def test_village_batch_dag_writes_reports_every_five_minutes(tmp_path: Path) -> None:
    """Accepted village reports (村级直报) become landing files on a five-minute cron, one task."""
    dag = _probe(tmp_path)["dags"]["intake__village_reports"]
    assert dag["tasks"] == ["write_village_reports"]
    assert "*/5 * * * *" in dag["schedule"]
    assert "intake" in dag["tags"]
