"""The end-to-end benchmark's report: its table and the targets judged on hand-made results."""

from __future__ import annotations

from popdata.bench_e2e import E2EResult, report, target_lines
from popdata.progress import render_text


def _result(
    persons: int, executor: str, wall: float | None, peak: float = 1000.0, error: str | None = None
) -> E2EResult:
    return E2EResult(
        persons,
        executor,
        wall_seconds=wall,
        stage_seconds={"ingest": (wall or 0) / 2, "link": (wall or 0) / 4},
        files=80,
        rows_read=persons * 3,
        peak_airflow_mib=peak,
        peak_postgres_mib=500.0,
        error=error,
    )


def test_the_targets_are_judged_per_topology() -> None:
    results = [
        _result(100_000, "local", 100.0),
        _result(300_000, "local", 300.0),
        _result(1_000_000, "local", 1100.0),
        _result(100_000, "celery", 100.0),
        _result(300_000, "celery", 400.0, peak=8000.0),
        _result(1_000_000, "celery", None, error="not done after 3600 s (10/80 files)"),
    ]
    lines = target_lines(results)
    assert "local: 100,000 → 300,000 persons (3.00x): time 3.00x (target ≤ 3.5x per tripling: met)" in lines
    # 1 000 000 / 300 000 is 3.33x the persons: the allowance grows with it (3.5 × 3.33 / 3)
    assert "local: 300,000 → 1,000,000 persons (3.33x): time 3.67x (target ≤ 3.5x per tripling: met)" in lines
    assert "local: 1,000,000 persons end to end in 18.3 min (target < 20 min: met)" in lines
    assert "local: peak memory 1,500 MiB, Airflow + PostgreSQL (target < 8 GiB: met)" in lines
    assert (
        "celery: 100,000 → 300,000 persons (3.00x): time 4.00x (target ≤ 3.5x per tripling: NOT met)" in lines
    )
    assert "celery: peak memory 8,500 MiB, Airflow + PostgreSQL (target < 8 GiB: NOT met)" in lines
    assert not any(line.startswith("celery: 1,000,000 persons end to end") for line in lines)


def test_the_table_keeps_every_run_and_says_why_one_did_not_finish() -> None:
    text = render_text(
        report(
            [
                _result(100_000, "local", 120.0),
                _result(100_000, "celery", None, error="failed runs: link__persons"),
            ]
        )
    )
    rows = [line for line in text.splitlines() if line.strip().startswith("100,000")]
    assert len(rows) == 2
    assert rows[0].split()[:5] == ["100,000", "local", "80", "300,000", "120"]
    assert rows[0].rstrip().endswith("done")
    assert "failed runs:" in rows[1] and "link__persons" in text
