"""The bench-ingest helpers: phase timers add up and leave the wrapped function's result alone."""

from __future__ import annotations

from popdata import bench_ingest


def test_timing_wrapper_accumulates_and_returns() -> None:
    timings: dict[str, float] = {}
    wrapped = bench_ingest._timing("phase", timings, lambda x, *, y: x + y)
    assert wrapped(1, y=2) == 3
    assert wrapped(2, y=2) == 4
    assert timings["phase"] >= 0.0
    assert list(timings) == ["phase"]


def test_peak_rss_is_positive() -> None:
    assert bench_ingest._peak_rss_mib() > 0
