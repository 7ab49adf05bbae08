"""The bench-link command line, result round trip and report formatting (no benchmark is run)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from popdata import bench_link
from popdata.bench_link import Phase, SizeResult


def _result(persons: int, seconds: float | None, peak: float | None = 1000.0, **kw: object) -> SizeResult:
    return SizeResult(
        persons=persons,
        mentions=persons * 3 // 2,
        link_seconds=seconds,
        peak_mib=peak,
        precision=0.99995,
        recall=0.9984,
        ingest_seconds=100.0,
        **kw,  # type: ignore[arg-type]
    )


def test_defaults_are_the_three_sizes_of_the_issue() -> None:
    args = bench_link.parse_args([])
    assert args.persons == [100_000, 300_000, 1_000_000]
    assert args.seed == 2014
    assert args.link_timeout is None
    assert not args.count_pairs
    assert not args.profile
    assert not args.prepare_only
    assert args.link_child is None


def test_sizes_accept_separators_and_drop_duplicates() -> None:
    args = bench_link.parse_args(["--persons", "1_000", "300,000", "1000", "--seed", "7"])
    assert args.persons == [1_000, 300_000]
    assert args.seed == 7


@pytest.mark.parametrize("bad", ["0", "-5", "many"])
def test_sizes_must_be_positive_integers(bad: str) -> None:
    with pytest.raises(SystemExit):
        bench_link.parse_args(["--persons", bad])


def test_cache_dir_names_persons_and_seed() -> None:
    path = bench_link.cache_dir(300_000, 2014)
    assert path.parts[-2:] == ("bench-link", "persons_300000_seed_2014")


def test_result_round_trips_through_json(tmp_path: Path) -> None:
    result = _result(100_000, 29.3, phases=[Phase("extract", 3.4, 487.0)], details={"scored": 1})
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result.to_dict()), encoding="utf-8")
    back = SizeResult.from_dict(json.loads(path.read_text(encoding="utf-8")) | {"unknown": 1})
    assert back == result
    assert back.phases[0].label == "extract"


def test_mentions_per_second() -> None:
    assert _result(100_000, 30.0).mentions_per_second == pytest.approx(5_000)
    assert _result(100_000, None).mentions_per_second is None


def test_table_has_one_row_per_size_and_shows_failures() -> None:
    failed = SizeResult(persons=1_000_000, status="killed by SIGKILL", last_phase="plan links")
    text = bench_link.format_table([_result(100_000, 29.3, 952.0), failed])
    lines = text.splitlines()
    assert len(lines) == 4
    assert "persons" in lines[0] and "mentions/s" in lines[0] and "peak MiB" in lines[0]
    assert "100,000" in lines[2] and "150,000" in lines[2] and "29.3" in lines[2]
    assert "5,119" in lines[2] and "952" in lines[2] and "99.995%" in lines[2] and "99.840%" in lines[2]
    assert lines[2].endswith("ok")
    assert "1,000,000" in lines[3] and "—" in lines[3]
    assert "killed by SIGKILL (in: plan links)" in lines[3]


def test_growth_compares_consecutive_finished_sizes() -> None:
    results = [
        _result(300_000, 90.0, 2000.0),
        _result(100_000, 30.0, 1000.0),
        SizeResult(persons=1_000_000, status="stopped after 1200s"),
    ]
    (line,) = bench_link.growth_lines(results)
    assert line.startswith("100,000 → 300,000 persons (×3.00): link time ×3.00")
    assert f"n^{math.log(3) / math.log(3):.2f}" in line
    assert "peak memory ×2.00" in line


def test_growth_needs_two_sizes() -> None:
    assert bench_link.growth_lines([_result(100_000, 30.0)]) == []


def test_phases_show_seconds_share_and_peak() -> None:
    result = _result(
        100_000, 10.0, phases=[Phase("extract", 2.5, 480.0), Phase("  of which scoring", 1.0, 950.0)]
    )
    text = bench_link.format_phases(result)
    assert "extract" in text and "25%" in text and "480" in text
    assert "  of which scoring" in text and "10%" in text


def test_report_lists_table_growth_phases_and_slow_sql() -> None:
    largest = _result(
        300_000,
        90.0,
        phases=[Phase("write plan", 30.0, 2000.0)],
        details={"slow_sql": {"INSERT INTO core.person": [1, 12.5]}, "scored_mentions": 3},
    )
    text = bench_link.report([_result(100_000, 30.0), largest], seed=2014)
    assert "seed 2014" in text
    assert "growth of the linkage time" in text
    assert "phases at 300,000 persons (ok)" in text
    assert '"scored_mentions": 3' in text and "slow_sql" not in text
    assert "12.50s  INSERT INTO core.person" in text


def test_describe_exit() -> None:
    assert bench_link._describe_exit(-9) == "killed by SIGKILL (out of memory?)"
    assert bench_link._describe_exit(1) == "exit status 1"


def test_peak_rss_is_positive() -> None:
    assert bench_link._peak_rss_mib() > 0
