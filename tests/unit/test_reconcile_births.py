"""The birth statistics on known numbers: Wilson, the SRB mapping and status, the warning rule
and its p-value, Chapman, and the 30-day boundary of an unregistered birth."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from popdata.reconcile import births
from popdata.warehouse import scripts


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (Wilson score, no correction)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_published_values(x: int, n: int, low: float, high: float) -> None:
    got_low, got_high = births.wilson_interval(x, n)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_wilson_interval_edges() -> None:
    assert births.wilson_interval(0, 10)[0] == 0.0
    assert births.wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert births.wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=5e-5)
    with pytest.raises(ValueError):
        births.wilson_interval(1, 0)
    with pytest.raises(ValueError):
        births.wilson_interval(5, 4)


def test_srb_interval_maps_the_share_of_boys_to_the_ratio() -> None:
    # 60 boys, 40 girls: p = 0.6, Wilson (0.50200, 0.69057) at z = 1.96
    p_low, p_high = births.wilson_interval(60, 100)
    assert (p_low, p_high) == pytest.approx((0.50200, 0.69057), abs=5e-5)
    ci_low, ci_high = births.srb_interval(60, 40)
    assert ci_low == pytest.approx(100 * p_low / (1 - p_low))
    assert ci_high == pytest.approx(100 * p_high / (1 - p_high))
    assert ci_low == pytest.approx(100.803, abs=5e-3)
    assert ci_high == pytest.approx(223.19, abs=5e-2)
    assert births.sex_ratio(60, 40) == 150.0
    # no girls: ratio and upper bound unbounded
    assert births.sex_ratio(5, 0) is None
    low, high = births.srb_interval(5, 0)
    assert high is None and low > 0
    # no boys: lower bound 0
    assert births.srb_interval(0, 5)[0] == 0.0


def test_srb_status_rule() -> None:
    assert births.srb_status(10, 9, 50.0, 200.0) == "insufficient"  # 19 births
    assert births.srb_status(10, 10, 50.0, 200.0) == "normal"  # 20 births
    assert births.srb_status(700, 500, 107.01, 160.0) == "high"
    assert births.srb_status(700, 500, 107.0, 160.0) == "normal"  # strictly above 107
    assert births.srb_status(400, 500, 70.0, 102.99) == "low"
    assert births.srb_status(400, 500, 70.0, 103.0) == "normal"  # strictly below 103
    assert births.srb_status(25, 0, 120.0, None) == "high"
    assert births.srb_status(20, 0, 90.0, None) == "normal"  # an unbounded upper bound is never low
    # with the intervals computed: 1 200 births at 140 → high; 1 000 at 90 → low; 106 → normal
    for boys, girls, status in ((700, 500, "high"), (450, 500, "low"), (530, 500, "normal")):
        assert births.srb_status(boys, girls, *births.srb_interval(boys, girls)) == status


def test_warning_village_rule() -> None:
    assert births.is_warning_village([(1, 0), (2, 0), (1, 0)])
    assert not births.is_warning_village([(1, 0), (0, 0), (3, 0)])  # a year without a second birth
    assert not births.is_warning_village([(1, 0), (2, 1), (1, 0)])  # one girl
    with pytest.raises(ValueError):
        births.is_warning_village([(1, 0), (1, 0)])


def test_warning_p_value_is_the_chance_of_no_girl() -> None:
    assert births.warning_p_value(4) == pytest.approx((106 / 206) ** 4)
    assert births.warning_p_value(4) == pytest.approx(0.070106, abs=1e-6)
    assert births.warning_p_value(3, 0) == pytest.approx(0.136244, abs=1e-6)
    assert births.warning_p_value(0) == 1.0
    # with girls: the binomial lower tail P(X <= girls)
    q = 100 / 206
    assert births.warning_p_value(3, 1) == pytest.approx((1 - q) ** 3 + 3 * q * (1 - q) ** 2)
    assert births.warning_p_value(5, 5) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        births.warning_p_value(2, 3)


def test_chapman_on_known_numbers() -> None:
    est = births.chapman(100, 80, 60)
    assert est.estimate == pytest.approx(101 * 81 / 61 - 1)  # 133.1148
    assert est.estimate == pytest.approx(133.1148, abs=1e-4)
    assert est.variance == pytest.approx(101 * 81 * 40 * 20 / (61**2 * 62))  # 28.3690
    assert est.variance == pytest.approx(28.3690, abs=1e-4)
    assert est.std_error == pytest.approx(math.sqrt(28.3690), abs=1e-4)
    assert est.ci_low == pytest.approx(133.1148 - 1.959964 * 5.32626, abs=1e-3)  # 122.675
    assert est.ci_high == pytest.approx(133.1148 + 1.959964 * 5.32626, abs=1e-3)  # 143.554
    perfect = births.chapman(50, 50, 50)  # identical lists: estimate n, no variance
    assert perfect.estimate == pytest.approx(50.0)
    assert perfect.variance == 0.0 and perfect.ci_low == perfect.ci_high == pytest.approx(50.0)
    assert births.chapman(1, 0, 0).estimate == pytest.approx(1.0)
    with pytest.raises(ValueError):
        births.chapman(5, 5, 6)


def test_unregistered_after_more_than_30_days() -> None:
    born = date(2014, 5, 1)
    assert not births.is_unregistered(born, born + timedelta(days=30), registered=False)  # exactly 30 days
    assert births.is_unregistered(born, born + timedelta(days=31), registered=False)
    assert not births.is_unregistered(born, born + timedelta(days=400), registered=True)
    assert date(2014, 5, 31) - born == timedelta(days=30)


def test_statements_split_and_drop_comments() -> None:
    script = (
        "-- header :reference_date\nSELECT 1;\n-- statement\n-- only a comment\n\n-- statement\nSELECT :x\n"
    )
    assert scripts.statements(script) == ["SELECT 1;", "SELECT :x"]
