"""The reconciliation section (比对结果): births, sex ratio at birth, registration gaps, programmes.

Built from the reconciliation marts (``mart.sex_ratio_at_birth``, ``mart.births``,
``mart.birth_dse``, ``mart.birth_registration_gaps``, ``mart.warning_villages``,
``mart.prenatal_check_progress``, ``mart.social_fee``), the *counts* of the ``ops`` work lists
(never their rows: ``audit.work_list_sizes``) and the names of the regions (``mart.region_names``,
the statistics bureau's reference: region names and codes are not personal data). Every query is
read-only.

Headline figures, by stable key (docs: ``WAREHOUSE.md`` definitions):

``srb_county``
    the county's sex ratio at birth (boys per 100 girls, all birth orders) in the latest
    complete year (one that ended by the reference date) with births of known sex, else the
    latest year with any (a half year would be over-read); status ``bad`` when the mart says
    high or low.
``births_total``
    consolidated births (``mart.births``) in that same year.
``dse_estimate``, ``dse_coverage_health``, ``dse_coverage_police``
    the dual-system estimate of births in the headline year of ``mart.birth_dse`` (the latest
    complete year, as for ``srb_county``) and each list's coverage (a lower bound: the lists are
    not independent).
``unregistered_births``, ``registrations_without_certificate``, ``deaths_not_cancelled``, ``paid_after_death``
    the sizes of the four work lists (``ops.*``).
``warning_villages``
    villages flagged by the three-year rule in the latest window of ``mart.warning_villages``.

The chart builders (``srb_interval_chart`` ...) take plain rows, so they can be drawn from
hand-made data (``tests/unit/test_dashboard_charts.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from popdata.dashboard.model import (
    SECTION_TITLES,
    Cell,
    Chart,
    Figure,
    Label,
    Section,
    SectionKey,
    Status,
    Table,
)
from popdata.dashboard.sections.published import region_names, work_list_sizes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

KEY: SectionKey = "reconciliation"

NORMAL_LOW = 103.0
"""Lower edge of the normal SRB band (boys per 100 girls)."""
NORMAL_HIGH = 107.0
"""Upper edge of the normal SRB band."""

SRB_STATUS: dict[str, tuple[Status, Label]] = {
    "normal": ("ok", Label("正常", "normal")),
    "high": ("bad", Label("偏高", "high")),
    "low": ("bad", Label("偏低", "low")),
    "insufficient": ("none", Label("出生数不足20", "fewer than 20 births")),
}
"""How each ``mart.sex_ratio_at_birth.status`` is shown."""

COVERAGE_WARN = 0.9
"""A list covering less than this share of the estimated births is shown in amber."""

EMPTY = Label(
    "尚未比对：比对结果表为空（数据报送并完成人员关联后，比对任务会生成这些结果）。",
    "Not reconciled yet: the reconciliation marts are empty (the reconciliation fills them "
    "once drops are loaded and linked).",
)


# --- rows the charts are drawn from --------------------------------------------------------------


@dataclass(frozen=True)
class SrbRow:
    """Sex ratio at birth of one region in one year (a row of ``mart.sex_ratio_at_birth``)."""

    name: str
    boys: int
    girls: int
    srb: float | None
    ci_low: float | None
    ci_high: float | None
    status: str

    @property
    def births(self) -> int:
        """Births of known sex."""
        return self.boys + self.girls


@dataclass(frozen=True)
class GapMonth:
    """Birth-registration gaps of one month of birth, county total."""

    year: int
    month: int
    births_health: int
    births_police: int
    unregistered_over_30d: int
    registered_without_certificate: int


@dataclass(frozen=True)
class DseYear:
    """The dual-system estimate of one year (a row of ``mart.birth_dse``)."""

    year: int
    n_health: int
    n_police: int
    n_both: int
    estimate: float
    ci_low: float
    ci_high: float
    coverage_health: float
    coverage_police: float
    county: str = ""
    """The county's name (empty when unknown)."""
    county_code: str | None = None


@dataclass(frozen=True)
class ProgressRow:
    """Progress of one town (or the county) against a programme target."""

    name: str
    value: float | None
    """The achieved fraction: checks over the target, or the fee collection rate."""
    target: float | None
    """The target as a fraction (1 for the pre-pregnancy checks, the target rate for fees)."""
    count: int
    """Couples checked, or fee cases."""
    is_county: bool = False


# --- formatting -----------------------------------------------------------------------------------


def _int(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _interval(low: float | None, high: float | None, digits: int = 1) -> str:
    lo = "—" if low is None else f"{low:,.{digits}f}"
    hi = "∞" if high is None else f"{high:,.{digits}f}"
    return f"{lo}–{hi}"


def _height(rows: int, per_row: float = 0.27, extra: float = 1.5) -> float:
    return max(2.4, per_row * rows + extra)


# --- region names ----------------------------------------------------------------------------------


def town_name(names: dict[str, str], town_code: str | None) -> str:
    """A town's name (its 9-digit code when the reference lacks it; 乡镇不详 when unknown)."""
    if not town_code:
        return "乡镇不详 / town unknown"
    return names.get(town_code.ljust(12, "0"), town_code)


def county_name(names: dict[str, str], county_code: str | None) -> str:
    """A county's name (its code when the reference lacks it)."""
    if not county_code:
        return "县不详 / county unknown"
    return names.get(county_code.ljust(12, "0"), county_code)


# --- charts ----------------------------------------------------------------------------------------


def _legend_below(figure: MplFigure, ax: Axes, ncol: int = 3) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False, fontsize=8)


def srb_interval_chart(towns: Sequence[SrbRow], county: SrbRow | None, year: int | None) -> Chart:
    """Sex ratio at birth by town with 95 % intervals, the 103–107 band and the county value.

    An interval (forest) plot: a small town's interval is wide, so it is not over-read; towns with
    fewer than 20 births (status ``insufficient``) are drawn muted with hollow points. Intervals
    running off the axis end in an arrow; a town without girls has no point (its ratio is unbounded).
    """
    year_zh = f"{year}年" if year else ""
    year_en = f" {year}" if year else ""
    title = Label(
        f"{year_zh}各乡镇出生人口性别比（95%置信区间）",
        f"Sex ratio at birth by town{year_en}, 95 % intervals",
    )
    flagged = sum(1 for t in towns if t.status in ("high", "low"))
    insufficient = sum(1 for t in towns if t.status == "insufficient")
    county_zh = f"全县{_ratio(county.srb)}（{county.births}例）" if county else "全县无数据"
    county_en = f"county {_ratio(county.srb)} ({county.births} births)" if county else "no county figure"
    description = Label(
        f"{year_zh}{len(towns)}个乡镇的出生人口性别比及95%置信区间，正常范围103–107；"
        f"{flagged}个偏高或偏低，{insufficient}个出生数不足20（灰色，不作判断）；{county_zh}。",
        f"Sex ratio at birth of {len(towns)} towns{year_en} with 95 % intervals against the normal "
        f"band 103–107; {flagged} high or low, {insufficient} with fewer than 20 births (grey, not "
        f"judged); {county_en}.",
    )
    rows = tuple(towns)

    def draw() -> MplFigure:
        from popdata.dashboard.style import COLORS, new_figure, no_data_figure

        if not rows and county is None:
            return no_data_figure(str(title))
        entries: list[tuple[SrbRow, bool]] = ([(county, True)] if county else []) + [(t, False) for t in rows]
        figure = new_figure(height=_height(len(entries), extra=1.9))
        ax = figure.add_subplot()
        lows = [r.ci_low for r, _ in entries if r.ci_low is not None]
        highs = [r.ci_high if r.ci_high is not None else math.inf for r, _ in entries]
        x_min = min(80.0, math.floor(min(lows, default=80.0) / 10) * 10)
        top = max(highs, default=140.0)
        x_max = max(140.0, 300.0 if math.isinf(top) else min(300.0, math.ceil(top / 10) * 10))
        ax.axvspan(
            NORMAL_LOW,
            NORMAL_HIGH,
            color=COLORS["band"],
            alpha=0.8,
            zorder=0,
            label="正常范围 / normal 103–107",
        )
        if county is not None and county.srb is not None:
            ax.axvline(
                county.srb,
                color=COLORS["primary"],
                linestyle="--",
                linewidth=1,
                zorder=1,
                label="全县 / county",
            )
        shown: set[str] = set()
        for index, (row, is_county) in enumerate(entries):
            y = -index
            muted = row.status == "insufficient"
            if is_county:
                color = COLORS["primary"]
            elif muted:
                color = COLORS["muted"]
            else:
                color = COLORS["bad"] if row.status in ("high", "low") else COLORS["ok"]
            low = x_min if row.ci_low is None else max(row.ci_low, x_min)
            high = x_max if row.ci_high is None else min(row.ci_high, x_max)
            ax.hlines(y, low, high, color=color, linewidth=1.2 if muted else 2.2, zorder=2)
            if row.ci_high is None or row.ci_high > x_max:
                ax.plot([x_max], [y], marker=">", color=color, markersize=5, zorder=3, clip_on=False)
            if row.ci_low is not None and row.ci_low < x_min:
                ax.plot([x_min], [y], marker="<", color=color, markersize=5, zorder=3, clip_on=False)
            key = "county" if is_county else row.status
            legend = {
                "county": None,
                "normal": "正常 / normal",
                "high": "偏高或偏低 / high or low",
                "low": "偏高或偏低 / high or low",
                "insufficient": "出生数<20 / fewer than 20 births",
            }.get(key)
            label = legend if legend and legend not in shown else None
            if label:
                shown.add(label)
            if row.srb is not None:
                ax.plot(
                    [min(max(row.srb, x_min), x_max)],
                    [y],
                    marker="o",
                    markersize=5 if muted else 6,
                    markerfacecolor="white" if muted else color,
                    markeredgecolor=color,
                    linestyle="none",
                    zorder=4,
                    clip_on=False,
                    label=label,
                )
            elif label:
                ax.plot([], [], marker="o", color=color, linestyle="none", label=label)
        ax.set_yticks(
            [-i for i in range(len(entries))],
            [f"{'全县 ' if c else ''}{r.name} ({r.births})" for r, c in entries],
        )
        for tick, (_, is_county) in zip(ax.get_yticklabels(), entries, strict=True):
            if is_county:
                tick.set_color(COLORS["primary"])
        ax.set_ylim(-len(entries) + 0.4, 0.6)
        ax.set_xlim(x_min, x_max)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel("性别比（每100女婴对应男婴数）/ sex ratio at birth (boys per 100 girls)")
        ax.set_ylabel("乡镇（出生数）/ town (births)")
        ax.set_title(str(title), loc="left", fontsize=10)
        _legend_below(figure, ax)
        return figure

    return Chart("srb_by_town", title, description, draw)


def registration_gaps_chart(months: Sequence[GapMonth]) -> Chart:
    """Births by month of birth on the health list and the police list, and those unregistered > 30 days."""
    title = Label("出生登记缺口（按出生月份，全县）", "Birth-registration gaps by month of birth, county")
    rows = tuple(sorted(months, key=lambda m: (m.year, m.month)))
    unregistered = sum(m.unregistered_over_30d for m in rows)
    span_zh = f"{rows[0].year}年{rows[0].month}月至{rows[-1].year}年{rows[-1].month}月" if rows else "无数据"
    span_en = (
        f"{rows[0].year}-{rows[0].month:02d} to {rows[-1].year}-{rows[-1].month:02d}" if rows else "no data"
    )
    description = Label(
        f"{span_zh}每月出生数：有出生医学证明的（卫健）与有公安出生登记的，"
        f"以及出生超过30天仍未落户的（共{unregistered}例）。",
        f"Births per month of birth, {span_en}: with a health birth certificate, with a police "
        f"birth registration, and unregistered after more than 30 days ({unregistered} in all).",
    )

    def draw() -> MplFigure:
        from matplotlib.ticker import MaxNLocator

        from popdata.dashboard.style import COLORS, new_figure, no_data_figure

        if not rows:
            return no_data_figure(str(title))
        figure = new_figure()
        ax = figure.add_subplot()
        x = list(range(len(rows)))
        ax.bar(
            x,
            [m.unregistered_over_30d for m in rows],
            color=COLORS["bad"],
            alpha=0.75,
            width=0.8,
            label="超过30天未落户 / unregistered > 30 days",
            zorder=2,
        )
        ax.plot(
            x,
            [m.births_health for m in rows],
            color=COLORS["primary"],
            marker="o",
            markersize=3,
            linewidth=1.5,
            label="出生医学证明 / health certificates",
            zorder=3,
        )
        ax.plot(
            x,
            [m.births_police for m in rows],
            color=COLORS["secondary"],
            marker="s",
            markersize=3,
            linewidth=1.2,
            linestyle="--",
            label="公安出生登记 / police registrations",
            zorder=3,
        )
        step = max(1, math.ceil(len(rows) / 9))
        ax.set_xticks(x[::step], [f"{m.year}-{m.month:02d}" for m in rows][::step])
        ax.set_xlim(-0.7, len(rows) - 0.3)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("出生月份 / month of birth")
        ax.set_ylabel("出生数 / births")
        ax.set_title(str(title), loc="left", fontsize=10)
        _legend_below(figure, ax)
        return figure

    return Chart("registration_gaps", title, description, draw)


def dse_chart(years: Sequence[DseYear]) -> Chart:
    """Births on each list and on both, with the dual-system estimate and its 95 % interval, by year."""
    title = Label("出生人数双系统估计（按年份）", "Dual-system estimate of births by year")
    rows = tuple(sorted(years, key=lambda y: y.year))
    latest = rows[-1] if rows else None
    latest_zh = (
        f"{latest.year}年估计{latest.estimate:,.0f}（95%区间{_interval(latest.ci_low, latest.ci_high, 0)}）"
        if latest
        else "无数据"
    )
    latest_en = (
        f"{latest.year}: estimate {latest.estimate:,.0f} (95 % {_interval(latest.ci_low, latest.ci_high, 0)})"
        if latest
        else "no data"
    )
    description = Label(
        f"每年卫健名单、公安名单及两名单共有的出生数，与Chapman双系统估计及95%区间（名单不独立，估计为下限）；{latest_zh}。",
        "Births on the health list, the police list and both, per year, with the Chapman dual-system "
        f"estimate and its 95 % interval (a lower bound: the lists are not independent); {latest_en}.",
    )

    def draw() -> MplFigure:
        from popdata.dashboard.style import COLORS, new_figure, no_data_figure

        if not rows:
            return no_data_figure(str(title))
        figure = new_figure()
        ax = figure.add_subplot()
        x = list(range(len(rows)))
        width = 0.22
        series = (
            ("n_health", "卫健名单 / health list", COLORS["primary"], -width),
            ("n_police", "公安名单 / police list", COLORS["secondary"], 0.0),
            ("n_both", "两名单均有 / on both", COLORS["muted"], width),
        )
        for attribute, label, color, offset in series:
            ax.bar(
                [i + offset for i in x],
                [getattr(r, attribute) for r in rows],
                width=width,
                color=color,
                label=label,
                zorder=2,
            )
        ax.errorbar(
            [i + 2 * width for i in x],
            [r.estimate for r in rows],
            yerr=[
                [max(0.0, r.estimate - r.ci_low) for r in rows],
                [max(0.0, r.ci_high - r.estimate) for r in rows],
            ],
            fmt="D",
            color="black",
            markersize=5,
            capsize=4,
            linewidth=1.2,
            label="估计出生数及95%区间 / estimate, 95 % interval",
            zorder=4,
        )
        top = max(max(r.ci_high, r.estimate, r.n_health, r.n_police) for r in rows)
        for i, r in zip(x, rows, strict=True):
            ax.annotate(
                f"{r.estimate:,.0f}",
                (i + 2 * width, r.ci_high),
                textcoords="offset points",
                xytext=(0, 4),
                ha="center",
                fontsize=8,
            )
        ax.set_xticks(x, [str(r.year) for r in rows])
        ax.set_ylim(0, top * 1.15 + 1)
        ax.set_xlim(-0.6, len(rows) - 0.4 + width)
        ax.grid(axis="x", visible=False)
        ax.set_xlabel("出生年份 / year of birth")
        ax.set_ylabel("出生数 / births")
        ax.set_title(str(title), loc="left", fontsize=10)
        _legend_below(figure, ax, ncol=2)
        return figure

    return Chart("birth_dse", title, description, draw)


def _progress_axes(
    rows: Sequence[ProgressRow],
    title: Label,
    xlabel: str,
    empty_text: str,
    elapsed: float | None,
    target_marker: bool,
) -> MplFigure:
    """Horizontal bars of achieved fractions per town, the county first, with the target(s)."""
    from popdata.dashboard.style import COLORS, new_figure, no_data_figure

    if not rows:
        return no_data_figure(str(title))
    figure = new_figure(height=_height(len(rows), extra=1.9))
    ax = figure.add_subplot()
    y = [-i for i in range(len(rows))]
    values = [(r.value or 0.0) * 100 for r in rows]
    x_max = max(
        110.0,
        max(values, default=0.0) * 1.18,
        max(((r.target or 0.0) * 100 for r in rows), default=0.0) * 1.1,
    )
    colors = []
    for r in rows:
        expected = (r.target or 0.0) * (elapsed if elapsed is not None else 1.0)
        if r.is_county:
            colors.append(COLORS["primary"])
        elif r.value is None:
            colors.append(COLORS["muted"])
        else:
            colors.append(COLORS["ok"] if r.value + 1e-9 >= expected else COLORS["warn"])
    ax.barh(y, values, color=colors, height=0.62, zorder=2)
    for yi, r, v in zip(y, rows, values, strict=True):
        text = empty_text if r.value is None else f"{v:.0f} %"
        ax.text(v + x_max * 0.01, yi, text, va="center", fontsize=7.5, color=COLORS["none"])
    if target_marker:
        ax.plot(
            [(r.target or math.nan) * 100 for r in rows],
            y,
            linestyle="none",
            marker="|",
            markersize=13,
            markeredgewidth=2,
            color="black",
            zorder=3,
            label="目标 / target",
        )
    else:
        ax.axvline(100, color="black", linewidth=1, zorder=3, label="年度任务 / annual target")
    if elapsed is not None:
        ax.axvline(
            elapsed * 100,
            color=COLORS["none"],
            linestyle=":",
            linewidth=1.2,
            zorder=3,
            label=f"时间进度 {elapsed * 100:.0f}% / time elapsed",
        )
    ax.set_yticks(y, [f"{'全县 ' if r.is_county else ''}{r.name} ({r.count})" for r in rows])
    for tick, r in zip(ax.get_yticklabels(), rows, strict=True):
        if r.is_county:
            tick.set_color(COLORS["primary"])
    ax.set_ylim(-len(rows) + 0.4, 0.6)
    ax.set_xlim(0, x_max)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(xlabel)
    ax.set_title(str(title), loc="left", fontsize=10)
    _legend_below(figure, ax)
    return figure


def _elapsed(year: int | None, as_of: date | None) -> float | None:
    """Share of ``year`` elapsed by ``as_of`` when ``as_of`` falls in it (else None: the year is over)."""
    if year is None or as_of is None or as_of.year != year:
        return None
    start = date(year, 1, 1)
    return ((as_of - start).days + 1) / ((date(year + 1, 1, 1) - start).days)


def prenatal_chart(rows: Sequence[ProgressRow], year: int | None, as_of: date | None = None) -> Chart:
    """Free pre-pregnancy checks against the annual target, by town and for the county."""
    year_zh = f"{year}年" if year else ""
    year_en = f" {year}" if year else ""
    title = Label(
        f"{year_zh}免费孕前优生健康检查任务完成率", f"Pre-pregnancy checks against the target{year_en}"
    )
    county = next((r for r in rows if r.is_county), None)
    towns = [r for r in rows if not r.is_county]
    behind = sum(1 for r in towns if r.value is not None and r.value < 1)
    description = Label(
        f"{year_zh}各乡镇及全县已检查夫妇数占年度任务的比例（全县{_pct(county.value) if county else '—'}）；"
        f"{behind}个乡镇未达年度任务。括号内为已检查夫妇数。",
        f"Couples checked over the annual target{year_en}, by town and for the county "
        f"(county {_pct(county.value) if county else '—'}); {behind} towns below the target. "
        "Couples checked in brackets.",
    )
    data = tuple(rows)
    elapsed = _elapsed(year, as_of)

    def draw() -> MplFigure:
        return _progress_axes(
            data,
            title,
            "任务完成率（%）/ couples checked, % of the annual target",
            "无任务 / no target",
            elapsed,
            target_marker=False,
        )

    return Chart("prenatal_progress", title, description, draw)


def social_fee_chart(rows: Sequence[ProgressRow], year: int | None) -> Chart:
    """Social maintenance fee collection rate against the target rate, by town."""
    year_zh = f"{year}年" if year else ""
    year_en = f" {year}" if year else ""
    title = Label(
        f"{year_zh}社会抚养费征收到位率与目标", f"Social maintenance fee collection vs target{year_en}"
    )
    with_cases = [r for r in rows if r.value is not None]
    below = sum(1 for r in with_cases if r.target is not None and r.value is not None and r.value < r.target)
    description = Label(
        f"{year_zh}各乡镇社会抚养费征收到位率（已征/应征）与到位率目标；{len(with_cases)}个乡镇有案件，"
        f"其中{below}个低于目标。括号内为案件数。",
        f"Collection rate (collected over assessed) of the social maintenance fee against the target "
        f"rate, by town{year_en}; {len(with_cases)} towns with cases, {below} below target. Cases in brackets.",
    )
    data = tuple(rows)

    def draw() -> MplFigure:
        return _progress_axes(
            data,
            title,
            "到位率（%）/ collection rate, %",
            "无案件 / no cases",
            None,
            target_marker=True,
        )

    return Chart("social_fee", title, description, draw)


# --- queries ---------------------------------------------------------------------------------------

_AS_OF = sa.text(
    """
    SELECT max(d) FROM (
        SELECT max(reference_date) AS d FROM mart.sex_ratio_at_birth
        UNION ALL SELECT max(reference_date) FROM mart.births
        UNION ALL SELECT max(reference_date) FROM mart.birth_dse
        UNION ALL SELECT max(reference_date) FROM mart.birth_registration_gaps
        UNION ALL SELECT max(reference_date) FROM mart.warning_villages
        UNION ALL SELECT max(reference_date) FROM mart.death_reconciliation
        UNION ALL SELECT max(reference_date) FROM mart.prenatal_check_progress
        UNION ALL SELECT max(reference_date) FROM mart.social_fee
    ) AS dates
    """
)

WORK_LISTS: tuple[tuple[str, Label, Label], ...] = (
    (
        "unregistered_births",
        Label("未落户出生", "Unregistered births"),
        Label(
            "有出生医学证明、出生超过30天无公安出生登记（发公安）",
            "health births with no police registration after 30 days, for the police",
        ),
    ),
    (
        "registrations_without_certificate",
        Label("无出生证的出生登记", "Registrations without a certificate"),
        Label(
            "公安出生登记无对应出生医学证明（发卫健）",
            "police registrations matching no birth certificate, for health",
        ),
    ),
    (
        "deaths_not_cancelled",
        Label("死亡未注销户口", "Deaths not cancelled"),
        Label(
            "死亡超过30天仍未注销户口（发公安）", "deaths over 30 days ago still registered, for the police"
        ),
    ),
    (
        "paid_after_death",
        Label("死亡后仍发放扶助", "Paid after death"),
        Label(
            "扶助名册年度始于死亡之后（发计生）",
            "assistance for a year starting after the death, for family planning",
        ),
    ),
)
"""The ``ops`` work lists counted as figures: (table = figure key, label, note)."""


def _srb_row(row: Any, name: str) -> SrbRow:
    return SrbRow(
        name=name,
        boys=int(row.boys),
        girls=int(row.girls),
        srb=row.srb,
        ci_low=row.ci_low,
        ci_high=row.ci_high,
        status=str(row.status),
    )


def _srb(
    conn: sa.Connection, names: dict[str, str]
) -> tuple[int | None, SrbRow | None, str | None, list[SrbRow]]:
    """The headline year (see ``srb_county``), the county row, its code and the town rows."""
    year = conn.execute(
        sa.text(
            "SELECT coalesce(max(year) FILTER (WHERE make_date(year, 12, 31) <= reference_date), max(year))"
            " FROM mart.sex_ratio_at_birth"
            " WHERE level = 'county' AND birth_order = 'all' AND boys + girls > 0"
        )
    ).scalar()
    if year is None:
        return None, None, None, []
    county = conn.execute(
        sa.text(
            "SELECT county_code, boys, girls, srb, ci_low, ci_high, status FROM mart.sex_ratio_at_birth"
            " WHERE level = 'county' AND birth_order = 'all' AND year = :year"
            " ORDER BY boys + girls DESC, region_code LIMIT 1"
        ),
        {"year": year},
    ).one()
    towns = conn.execute(
        sa.text(
            "SELECT town_code, boys, girls, srb, ci_low, ci_high, status FROM mart.sex_ratio_at_birth"
            " WHERE level = 'town' AND birth_order = 'all' AND year = :year AND county_code = :county"
            " ORDER BY boys + girls DESC, region_code"
        ),
        {"year": year, "county": county.county_code},
    ).all()
    return (
        int(year),
        _srb_row(county, county_name(names, county.county_code)),
        str(county.county_code),
        [_srb_row(t, town_name(names, t.town_code)) for t in towns],
    )


def _dse(conn: sa.Connection, names: dict[str, str]) -> list[DseYear]:
    rows = conn.execute(
        sa.text(
            "SELECT county_code, year, n_health, n_police, n_both, estimate, ci_low, ci_high,"
            " coverage_health, coverage_police FROM mart.birth_dse ORDER BY year, county_code NULLS LAST"
        )
    ).all()
    return [
        DseYear(
            year=int(r.year),
            n_health=int(r.n_health),
            n_police=int(r.n_police),
            n_both=int(r.n_both),
            estimate=float(r.estimate),
            ci_low=float(r.ci_low),
            ci_high=float(r.ci_high),
            coverage_health=float(r.coverage_health),
            coverage_police=float(r.coverage_police),
            county=county_name(names, r.county_code) if r.county_code else "",
            county_code=r.county_code,
        )
        for r in rows
    ]


def _dse_headline(conn: sa.Connection) -> Any:
    """The ``mart.birth_dse`` row of the headline: the latest complete year (else the latest), the
    county with the most births (the same year rule as ``srb_county``)."""
    return conn.execute(
        sa.text(
            "SELECT county_code, year, estimate, ci_low, ci_high, coverage_health, coverage_police"
            " FROM mart.birth_dse WHERE county_code IS NOT NULL"
            " ORDER BY make_date(year, 12, 31) <= reference_date DESC, year DESC,"
            " n_health + n_police DESC, county_code LIMIT 1"
        )
    ).one_or_none()


def _gaps(conn: sa.Connection) -> list[GapMonth]:
    rows = conn.execute(
        sa.text(
            "SELECT year, month, sum(births_health) AS h, sum(births_police) AS p,"
            " sum(unregistered_over_30d) AS u, sum(registered_without_certificate) AS w"
            " FROM mart.birth_registration_gaps WHERE year IS NOT NULL AND month IS NOT NULL"
            " GROUP BY year, month ORDER BY year, month"
        )
    ).all()
    return [GapMonth(int(r.year), int(r.month), int(r.h), int(r.p), int(r.u), int(r.w)) for r in rows]


def _prenatal(conn: sa.Connection, names: dict[str, str]) -> tuple[int | None, list[ProgressRow]]:
    year = conn.execute(sa.text("SELECT max(year) FROM mart.prenatal_check_progress")).scalar()
    if year is None:
        return None, []
    rows = conn.execute(
        sa.text(
            "SELECT level, county_code, town_code, couples_checked, pct_of_target"
            " FROM mart.prenatal_check_progress WHERE year = :year"
            " ORDER BY level = 'town', county_code NULLS LAST, town_code NULLS LAST"
        ),
        {"year": year},
    ).all()
    return int(year), [
        ProgressRow(
            name=county_name(names, r.county_code) if r.level == "county" else town_name(names, r.town_code),
            value=r.pct_of_target,
            target=1.0,
            count=int(r.couples_checked),
            is_county=r.level == "county",
        )
        for r in rows
    ]


def _social_fee(conn: sa.Connection, names: dict[str, str]) -> tuple[int | None, list[ProgressRow]]:
    year = conn.execute(sa.text("SELECT max(year) FROM mart.social_fee")).scalar()
    if year is None:
        return None, []
    rows = conn.execute(
        sa.text(
            "SELECT town_code, cases, collection_rate, target_rate FROM mart.social_fee"
            " WHERE year = :year ORDER BY county_code NULLS LAST, town_code NULLS LAST"
        ),
        {"year": year},
    ).all()
    return int(year), [
        ProgressRow(
            name=town_name(names, r.town_code),
            value=r.collection_rate,
            target=r.target_rate,
            count=int(r.cases),
        )
        for r in rows
    ]


# --- figures and tables ----------------------------------------------------------------------------


def _figures(conn: sa.Connection, year: int | None, county: SrbRow | None) -> list[Figure]:
    figures: list[Figure] = []
    year_zh = f"（{year}年）" if year else ""
    year_en = f" ({year})" if year else ""
    if county is not None:
        status, status_label = SRB_STATUS.get(county.status, ("none", Label(county.status, county.status)))
        srb_note = Label(
            f"{county.name}，男{county.boys}女{county.girls}，95%区间{_interval(county.ci_low, county.ci_high)}，{status_label.zh}",
            f"{county.name}: {county.boys} boys, {county.girls} girls, 95 % interval "
            f"{_interval(county.ci_low, county.ci_high)}, {status_label.en}",
        )
        srb_text = _ratio(county.srb) if county.srb is not None else "∞"
    else:
        status, srb_note, srb_text = "none", Label("尚无已知性别的出生", "no births of known sex yet"), "—"
    figures.append(
        Figure(
            "srb_county",
            Label(f"出生人口性别比{year_zh}", f"Sex ratio at birth{year_en}"),
            county.srb if county else None,
            srb_text,
            status,
            srb_note,
        )
    )
    births = (
        conn.execute(sa.text("SELECT count(*) FROM mart.births WHERE year = :year"), {"year": year}).scalar()
        if year is not None
        else None
    )
    figures.append(
        Figure(
            "births_total",
            Label(f"出生数{year_zh}", f"Births{year_en}"),
            int(births) if births is not None else None,
            _int(int(births) if births is not None else None),
            note=Label(
                "整合出生（卫健与公安记录合并），含性别不详",
                "consolidated births (health and police), sex unknown included",
            ),
        )
    )
    dse = _dse_headline(conn)
    dse_year_zh = f"（{dse.year}年）" if dse is not None else ""
    dse_year_en = f" ({dse.year})" if dse is not None else ""
    figures.append(
        Figure(
            "dse_estimate",
            Label(f"估计出生数{dse_year_zh}", f"Estimated births{dse_year_en}"),
            dse.estimate if dse is not None else None,
            f"{dse.estimate:,.0f}" if dse is not None else "—",
            note=Label(
                f"双系统估计，95%区间{_interval(dse.ci_low, dse.ci_high, 0)}；名单不独立，为下限",
                f"dual-system estimate, 95 % interval {_interval(dse.ci_low, dse.ci_high, 0)}; a lower bound",
            )
            if dse is not None
            else Label("尚无出生超过30天的出生", "no births older than 30 days yet"),
        )
    )
    for key, attribute, label in (
        ("dse_coverage_health", "coverage_health", Label("卫健名单覆盖率", "Health list coverage")),
        ("dse_coverage_police", "coverage_police", Label("公安名单覆盖率", "Police list coverage")),
    ):
        value = getattr(dse, attribute) if dse is not None else None
        figures.append(
            Figure(
                key,
                Label(f"{label.zh}{dse_year_zh}", f"{label.en}{dse_year_en}"),
                value,
                _pct(value),
                "none" if value is None else ("warn" if value < COVERAGE_WARN else "ok"),
                Label("名单出生数/估计出生数", "births on the list over the estimate"),
            )
        )
    sizes = work_list_sizes(conn)
    for table, label, note in WORK_LISTS:
        count = sizes[table].rows
        figures.append(Figure(table, label, count, _int(count), "warn" if count else "ok", note))
    window = conn.execute(sa.text("SELECT max(year), max(window_start) FROM mart.warning_villages")).one()
    flagged = int(
        conn.execute(
            sa.text(
                "SELECT count(DISTINCT village_code) FROM mart.warning_villages WHERE flagged AND year = :year"
            ),
            {"year": window[0]},
        ).scalar_one()
    )
    window_zh = f"{window[1]}–{window[0]}年" if window[0] is not None else "尚无三年窗口"
    window_en = f"{window[1]}–{window[0]}" if window[0] is not None else "no three-year window yet"
    figures.append(
        Figure(
            "warning_villages",
            Label("重点警示村", "Warning villages"),
            flagged,
            _int(flagged),
            "warn" if flagged else "ok",
            Label(
                f"连续三年有二孩出生且均非女婴（{window_zh}）",
                f"second births in each of three years, none a girl ({window_en})",
            ),
        )
    )
    return figures


def srb_table(towns: Sequence[SrbRow], county: SrbRow | None, year: int | None) -> Table:
    """Sex ratio at birth by town (the county first): boys, girls, SRB, interval, status."""
    rows: list[tuple[Cell, ...]] = []
    for row, is_county in ([(county, True)] if county else []) + [(t, False) for t in towns]:
        status, label = SRB_STATUS.get(row.status, ("none", Label(row.status, row.status)))
        rows.append(
            (
                Cell(f"全县 / county: {row.name}" if is_county else row.name),
                Cell(_int(row.boys)),
                Cell(_int(row.girls)),
                Cell(_ratio(row.srb) if row.srb is not None else "∞"),
                Cell(_interval(row.ci_low, row.ci_high)),
                Cell(str(label), status),
            )
        )
    return Table(
        "srb_by_town",
        Label(
            f"{year}年各乡镇出生人口性别比" if year else "各乡镇出生人口性别比",
            f"Sex ratio at birth by town {year or ''}".strip(),
        ),
        (
            Label("乡镇", "town"),
            Label("男婴", "boys"),
            Label("女婴", "girls"),
            Label("性别比", "SRB"),
            Label("95%区间", "95 % interval"),
            Label("判定", "status"),
        ),
        tuple(rows),
        Label(
            "出生数<20不作判断；下限>107为偏高，上限<103为偏低；无女婴时性别比与上限无界（∞）",
            "fewer than 20 births: not judged; high when the lower bound > 107, low when the upper bound < 103; "
            "unbounded (∞) without girls",
        ),
    )


def dse_table(years: Sequence[DseYear]) -> Table:
    """The dual-system estimate by year (and county)."""
    rows = tuple(
        (
            Cell(str(r.year)),
            Cell(r.county or "县不详 / county unknown"),
            Cell(_int(r.n_health)),
            Cell(_int(r.n_police)),
            Cell(_int(r.n_both)),
            Cell(f"{r.estimate:,.0f}"),
            Cell(_interval(r.ci_low, r.ci_high, 0)),
            Cell(_pct(r.coverage_health), "warn" if r.coverage_health < COVERAGE_WARN else "none"),
            Cell(_pct(r.coverage_police), "warn" if r.coverage_police < COVERAGE_WARN else "none"),
        )
        for r in years
    )
    return Table(
        "birth_dse",
        Label("出生人数双系统估计", "Dual-system estimate of births"),
        (
            Label("年份", "year"),
            Label("县", "county"),
            Label("卫健", "health"),
            Label("公安", "police"),
            Label("两者", "both"),
            Label("估计", "estimate"),
            Label("95%区间", "95 % interval"),
            Label("卫健覆盖率", "health coverage"),
            Label("公安覆盖率", "police coverage"),
        ),
        rows,
        Label(
            "只计出生超过30天的出生；两份名单不独立，估计为下限",
            "births more than 30 days before the reference date; the lists are not independent, "
            "so the estimate is a lower bound",
        ),
    )


def build(conn: sa.Connection) -> Section:
    """The reconciliation section as of the latest reconciliation (empty before the first one)."""
    as_of = conn.execute(_AS_OF).scalar()
    if as_of is None:
        return Section(KEY, SECTION_TITLES[KEY], None, empty=EMPTY)
    names = region_names(conn)
    year, county, _, towns = _srb(conn, names)
    figures = _figures(conn, year, county)
    years = _dse(conn, names)
    headline = _dse_headline(conn)
    chart_years = [y for y in years if headline is not None and y.county_code == headline.county_code]
    prenatal_year, prenatal = _prenatal(conn, names)
    fee_year, fees = _social_fee(conn, names)
    charts = (
        srb_interval_chart(towns, county, year),
        registration_gaps_chart(_gaps(conn)),
        dse_chart(chart_years),
        prenatal_chart(prenatal, prenatal_year, as_of),
        social_fee_chart(fees, fee_year),
    )
    tables = (srb_table(towns, county, year), dse_table(years))
    return Section(KEY, SECTION_TITLES[KEY], as_of, tuple(figures), charts, tables)
