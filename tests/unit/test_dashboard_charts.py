"""The reconciliation, linkage and village charts draw from tiny hand-made rows, and from none at all."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from popdata.dashboard.model import Chart
from popdata.dashboard.sections.linkage import LinkageRow, linkage_methods_chart, linkage_table
from popdata.dashboard.sections.reconciliation import (
    DseYear,
    GapMonth,
    ProgressRow,
    SrbRow,
    dse_chart,
    dse_table,
    prenatal_chart,
    registration_gaps_chart,
    social_fee_chart,
    srb_interval_chart,
    srb_table,
)
from popdata.dashboard.sections.villages import weekly_chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

COUNTY = SrbRow("宝坻区", boys=118, girls=100, srb=118.0, ci_low=108.2, ci_high=128.9, status="high")
TOWNS = (
    SrbRow("海滨街道", boys=60, girls=50, srb=120.0, ci_low=108.5, ci_high=133.1, status="high"),
    SrbRow("牛道口镇", boys=40, girls=38, srb=105.3, ci_low=80.1, ci_high=138.0, status="normal"),
    SrbRow("新安镇", boys=5, girls=0, srb=None, ci_low=52.1, ci_high=None, status="insufficient"),
)


def _assert_renders(chart: Chart, *texts: str) -> str:
    svg = chart.svg()
    assert svg.startswith("<svg")
    for text in texts:
        assert text in svg, text
    png = chart.png(dpi=60)
    assert png.startswith(PNG_SIGNATURE) and len(png) > 1000
    return svg


def test_srb_interval_plot_names_every_town_and_marks_the_band() -> None:
    chart = srb_interval_chart(TOWNS, COUNTY, 2013)
    svg = _assert_renders(chart, "海滨街道", "牛道口镇", "新安镇", "宝坻区", "103–107")
    assert "出生人口性别比" in svg and "Sex ratio at birth" in svg
    assert chart.key == "srb_by_town"
    assert "3个乡镇" in chart.description.zh and "1 high or low" in chart.description.en
    assert "1个出生数不足20" in chart.description.zh


def test_srb_interval_plot_survives_unbounded_and_huge_intervals() -> None:
    towns = (
        SrbRow("甲镇", boys=1, girls=0, srb=None, ci_low=26.0, ci_high=None, status="insufficient"),
        SrbRow("乙镇", boys=0, girls=1, srb=0.0, ci_low=0.0, ci_high=384.1, status="insufficient"),
        SrbRow("丙镇", boys=3, girls=1, srb=300.0, ci_low=43.0, ci_high=2093.6, status="insufficient"),
    )
    _assert_renders(srb_interval_chart(towns, None, 2014), "甲镇", "乙镇", "丙镇")


def test_srb_table_colours_high_and_low_bad_and_insufficient_none() -> None:
    table = srb_table(TOWNS, COUNTY, 2013)
    statuses = [row[-1].status for row in table.rows]
    assert statuses == ["bad", "bad", "ok", "none"]
    assert table.rows[0][0].text.endswith("宝坻区")
    assert table.rows[3][3].text == "∞" and table.rows[3][4].text == "52.1–∞"


def test_registration_gaps_and_dse_charts_draw() -> None:
    months = [
        GapMonth(2013, 12, 10, 9, 1, 0),
        GapMonth(2013, 11, 8, 8, 0, 1),
        GapMonth(2014, 1, 12, 7, 4, 0),
    ]
    chart = registration_gaps_chart(months)
    _assert_renders(chart, "2013-11", "出生登记缺口")
    assert "5" in chart.description.en  # unregistered in all
    years = [
        DseYear(2012, 153, 141, 140, 154.0, 153.2, 154.8, 0.993, 0.915, "宝坻区", "120115"),
        DseYear(2013, 156, 144, 141, 159.3, 157.6, 161.0, 0.979, 0.904, "宝坻区", "120115"),
    ]
    _assert_renders(dse_chart(years), "2012", "2013", "159")
    table = dse_table(years)
    assert [r[0].text for r in table.rows] == ["2012", "2013"]
    assert table.rows[1][5].text == "159"


def test_programme_charts_draw_with_missing_values() -> None:
    prenatal = [
        ProgressRow("宝坻区", 0.806, 1.0, 58, is_county=True),
        ProgressRow("海滨街道", 1.25, 1.0, 5),
        ProgressRow("新安镇", None, None, 0),
    ]
    _assert_renders(prenatal_chart(prenatal, 2014, date(2014, 6, 30)), "海滨街道", "无任务", "时间进度")
    fees = [ProgressRow("海滨街道", 0.51, 0.76, 2), ProgressRow("新安镇", None, 0.7, 0)]
    chart = social_fee_chart(fees, 2014)
    _assert_renders(chart, "新安镇", "无案件")
    assert "1 below target" in chart.description.en


def test_linkage_chart_and_table() -> None:
    rows = [
        LinkageRow("household_registry", "subject", 100, 95, 3, 2, 1, "户籍人口"),
        LinkageRow("birth_certificates", "child", 10, 0, 9, 1, 0, "出生医学证明"),
    ]
    _assert_renders(linkage_methods_chart(rows), "户籍人口·本人", "birth_certificates·child")
    table = linkage_table(rows)
    assert table.rows[0][3].text == "95 (95.0 %)"
    assert table.rows[1][3].status == "warn" and table.rows[0][6].status == "warn"


@pytest.mark.parametrize(
    "chart",
    [
        srb_interval_chart([], None, None),
        registration_gaps_chart([]),
        dse_chart([]),
        prenatal_chart([], None),
        social_fee_chart([], None),
        linkage_methods_chart([]),
    ],
    ids=lambda c: c.key,
)
def test_empty_data_draws_a_no_data_chart(chart: Chart) -> None:
    svg = _assert_renders(chart, "暂无数据")
    assert not re.search(r"\d{17}[\dXx]", svg)


def test_village_weekly_chart_stacks_the_report_types() -> None:
    weeks = [date(2024, 4, 15) + timedelta(weeks=n) for n in range(8)]
    per_type: dict[date, dict[str, int]] = {w: {} for w in weeks} | {
        weeks[0]: {"出生": 3, "死亡": 1},
        weeks[6]: {"迁入": 2, "婚姻变动": 1},
        weeks[7]: {"出生": 1, "迁出": 4},
    }
    chart = weekly_chart(per_type)
    assert chart.key == "village_reports_by_week"
    svg = _assert_renders(chart, "出生 / Birth", "迁出 / Move out", "婚姻变动", "本周", "06-03")
    assert "死亡 / Death" in svg
    assert "合计12份" in chart.description.zh and "12 in all" in chart.description.en
    assert not re.search(r"\d{17}[\dXx]", svg)


def test_village_weekly_chart_without_reports_says_so() -> None:
    weeks = [date(2024, 4, 15) + timedelta(weeks=n) for n in range(8)]
    nothing: dict[date, dict[str, int]] = {w: {} for w in weeks}
    chart = weekly_chart(nothing)
    _assert_renders(chart, "近8周没有直报")
    assert "合计0份" in chart.description.zh
