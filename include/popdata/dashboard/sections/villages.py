"""Village reports (村级直报): reports per village per week, and the villages that have gone silent.

Built from the two views migration 0014 publishes for the view (counts only, never a report's
contents): ``audit.village_intake`` (one row per village that has ever had a token: active
tokens, first token, last report, reports waiting for a batch, refused submissions in the last
7 days) and ``audit.village_report_weeks`` (reports per village, Monday-based week in Beijing
time and report type), with the villages' names from ``mart.region_names``.

Shown:

``village_reports_week`` / ``village_reports_last_week``
    reports accepted this calendar week (since Monday 00:00, Beijing time) and the week before.
``silent_villages``
    villages with an active token whose last report is more than :data:`SILENT_AFTER_DAYS` days
    old, or which never reported though their first token was issued more than that ago. "Now" is
    the database's clock when the page is built (the same clock ``refused_last_7_days`` counts by).

A table of the silent villages, a table per village with a token (reports in each of the last
:data:`WEEKS_SHOWN` weeks, the last report, waiting, refused) and a chart of the county's
reports per week by report type. A warehouse without the views (migration 0014 not applied) gets
a message instead, not an error.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

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
from popdata.dashboard.sections.drops import LOCAL_TZ, local_time, number
from popdata.dashboard.sections.published import region_names
from popdata.intake.reports import REPORT_TYPES

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

KEY: SectionKey = "villages"

SILENT_AFTER_DAYS = 14
"""A village with an active token and no report for more than this many days has gone silent (已沉默)."""

WEEKS_SHOWN = 8
"""Weeks shown per village (this week and the seven before it)."""

REFUSED_DAYS = 7
"""The window of ``audit.village_intake.refused_last_7_days`` (fixed by the view)."""

VIEWS = ("audit.village_intake", "audit.village_report_weeks")
"""What the section reads (migration 0014); without them it says so instead of failing."""

EMPTY = Label(
    "尚未发放村级直报令牌：县里用 popdata village token new 为村（居）发放令牌后，"
    "这里显示各村每周的直报数和已沉默的村。",
    "No village token has been issued yet: once the county issues tokens "
    "(popdata village token new), this page shows each village's reports per week and the "
    "villages that have gone silent.",
)

NOT_MIGRATED = Label(
    "此数据仓库尚不支持村级直报（缺少 audit.village_intake 与 audit.village_report_weeks，"
    "迁移 0014 尚未执行）。",
    "This warehouse has no village direct reporting yet (audit.village_intake and "
    "audit.village_report_weeks are missing: migration 0014 has not been applied).",
)

REPORT_TYPE_LABELS: dict[str, Label] = {t.value: Label(t.value, t.label_en) for t in REPORT_TYPES}
"""``report_type`` as stored (出生…) → its bilingual name, in the intake app's order."""

TYPE_COLORS = ("primary", "secondary", "ok", "warn", "none")
"""Chart colours (``style.COLORS`` keys) of the report types, in :data:`REPORT_TYPE_LABELS` order."""

UNKNOWN_VILLAGE = "区划中无此村 / not in the region reference"


@dataclass(frozen=True)
class VillageRow:
    """One village that has ever had a token (a row of ``audit.village_intake``), with its names."""

    village_code: str
    name: str
    town: str
    active_tokens: int
    first_token_at: datetime
    last_report_at: datetime | None
    reports: int
    waiting_for_batch: int
    refused_last_7_days: int

    def quiet_since(self) -> datetime:
        """Since when nothing came: the last report, or the first token when it never reported."""
        return self.last_report_at or self.first_token_at

    def days_quiet(self, now: datetime) -> int:
        """Whole days since :meth:`quiet_since`."""
        return max(0, (now - self.quiet_since()).days)

    def is_silent(self, now: datetime) -> bool:
        """An active token, and no report for more than :data:`SILENT_AFTER_DAYS` days (or none since
        a first token issued more than that ago)."""
        return self.active_tokens > 0 and now - self.quiet_since() > timedelta(days=SILENT_AFTER_DAYS)


def week_start(moment: datetime) -> date:
    """The Monday (Beijing time) of the week ``moment`` falls in, as ``audit.village_report_weeks`` counts."""
    local = moment.astimezone(LOCAL_TZ).date() if moment.tzinfo else moment.date()
    return local - timedelta(days=local.weekday())


def weeks_shown(now: datetime) -> tuple[date, ...]:
    """The Mondays of the last :data:`WEEKS_SHOWN` weeks, oldest first, this week last."""
    this_week = week_start(now)
    return tuple(this_week - timedelta(weeks=n) for n in range(WEEKS_SHOWN - 1, -1, -1))


def views_present(conn: sa.Connection) -> bool:
    """Whether the warehouse has both views of :data:`VIEWS` (an older one has neither)."""
    found = conn.execute(
        sa.text("SELECT to_regclass(:a) IS NOT NULL AND to_regclass(:b) IS NOT NULL"),
        {"a": VIEWS[0], "b": VIEWS[1]},
    ).scalar_one()
    return bool(found)


_INTAKE = sa.text(
    """
    SELECT village_code, active_tokens, first_token_at, last_report_at, reports,
           waiting_for_batch, refused_last_7_days
    FROM audit.village_intake
    ORDER BY village_code
    """
)

_WEEKS = sa.text(
    """
    SELECT village_code, week_start, report_type, reports
    FROM audit.village_report_weeks
    WHERE week_start >= :first
    """
)


def village_rows(conn: sa.Connection) -> list[VillageRow]:
    """Every village that has ever had a token, by code, with its name and its town's."""
    intake = conn.execute(_INTAKE).all()
    if not intake:
        return []
    names = region_names(conn)
    rows = []
    for r in intake:
        code = str(r.village_code)
        town_code = code[:9] + "000"
        rows.append(
            VillageRow(
                village_code=code,
                name=names.get(code, UNKNOWN_VILLAGE),
                town=names.get(town_code, code[:9]),
                active_tokens=int(r.active_tokens),
                first_token_at=r.first_token_at,
                last_report_at=r.last_report_at,
                reports=int(r.reports),
                waiting_for_batch=int(r.waiting_for_batch),
                refused_last_7_days=int(r.refused_last_7_days),
            )
        )
    return rows


def weekly_counts(
    conn: sa.Connection, weeks: Sequence[date]
) -> tuple[dict[str, dict[date, int]], dict[date, dict[str, int]]]:
    """Reports in ``weeks``: per village and week, and per week and report type."""
    per_village: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    per_type: dict[date, dict[str, int]] = {w: defaultdict(int) for w in weeks}
    for r in conn.execute(_WEEKS, {"first": weeks[0]}):
        if r.week_start not in per_type:  # a week after this one (a clock ahead of the database's)
            continue
        per_village[str(r.village_code)][r.week_start] += int(r.reports)
        per_type[r.week_start][str(r.report_type)] += int(r.reports)
    return per_village, per_type


def _week_label(monday: date, this_week: date) -> Label:
    if monday == this_week:
        return Label(f"本周 {monday:%m-%d}", "this week")
    return Label(f"{monday:%m-%d}起", f"wk {monday:%m-%d}")


def village_status(row: VillageRow, now: datetime) -> tuple[Label, Status]:
    """A village's state in words and colour."""
    if row.active_tokens == 0:
        return Label("令牌均已吊销", "tokens revoked"), "none"
    if row.is_silent(now):
        if row.last_report_at is None:
            return Label(
                f"已沉默（{row.days_quiet(now)}天，从未报告）",
                f"silent ({row.days_quiet(now)} days, never reported)",
            ), "bad"
        return Label(f"已沉默（{row.days_quiet(now)}天）", f"silent ({row.days_quiet(now)} days)"), "bad"
    if row.last_report_at is None:
        return Label("新令牌，尚未报告", "new token, no report yet"), "none"
    return Label("正常", "reporting"), "ok"


def village_table(
    rows: Sequence[VillageRow],
    per_village: Mapping[str, Mapping[date, int]],
    weeks: Sequence[date],
    now: datetime,
) -> Table:
    """A row per village that has ever had a token: tokens, reports per week, last report, state."""
    this_week = weeks[-1]
    body = []
    for row in sorted(rows, key=lambda r: r.village_code):
        counts = per_village.get(row.village_code, {})
        status_label, status = village_status(row, now)
        body.append(
            (
                Cell(row.town),
                Cell(row.name),
                Cell(row.village_code),
                Cell(number(row.active_tokens)),
                *(Cell(number(counts.get(w, 0))) for w in weeks),
                Cell(number(row.reports)),
                Cell(
                    local_time(row.last_report_at) if row.last_report_at else "从未 / never",
                    "bad" if status == "bad" else "none",
                ),
                Cell(number(row.waiting_for_batch)),
                Cell(number(row.refused_last_7_days), "warn" if row.refused_last_7_days else "none"),
                Cell(str(status_label), status),
            )
        )
    return Table(
        key="village_reports",
        title=Label(f"各村近{WEEKS_SHOWN}周直报数", f"Reports per village, last {WEEKS_SHOWN} weeks"),
        columns=(
            Label("乡镇", "Town"),
            Label("村（居）", "Village"),
            Label("区划代码", "Code"),
            Label("有效令牌", "Active tokens"),
            *(_week_label(w, this_week) for w in weeks),
            Label("累计", "All reports"),
            Label("最近报告", "Last report"),
            Label("待写入文件", "Waiting for batch"),
            Label(f"近{REFUSED_DAYS}天被拒", f"Refused, {REFUSED_DAYS} days"),
            Label("状态", "State"),
        ),
        rows=tuple(body),
        note=Label(
            f"每周从周一 0 时起算（北京时间），按受理时间计；“本周”截至 {local_time(now)}。"
            f"有效令牌但超过{SILENT_AFTER_DAYS}天没有报告（或首个令牌签发已超过{SILENT_AFTER_DAYS}天仍未报告）"
            "即为已沉默（红色）。待写入文件：已受理、尚未由批处理写成数据文件的报告。"
            f"近{REFUSED_DAYS}天被拒：校验不通过、超出频率或大小限制、令牌无效的提交。只显示数量，不显示报告内容。",
            f"Weeks start on Monday 00:00 Beijing time and count reports by when they were accepted; "
            f"'this week' is up to {local_time(now)}. A village with an active token and no report for "
            f"more than {SILENT_AFTER_DAYS} days (or none since its first token was issued more than "
            f"{SILENT_AFTER_DAYS} days ago) is silent (red). Waiting for batch: accepted, not yet written "
            f"to a file by the batch task. Refused: submissions in the last {REFUSED_DAYS} days that failed "
            "a check, a rate or size limit, or the token. Counts only, never a report's contents.",
        ),
    )


def silent_table(rows: Sequence[VillageRow], now: datetime) -> Table:
    """The silent villages, longest silent first (a single "none" row when there is none)."""
    silent = sorted((r for r in rows if r.is_silent(now)), key=lambda r: (-r.days_quiet(now), r.village_code))
    body: list[tuple[Cell, ...]] = [
        (
            Cell(r.town),
            Cell(r.name),
            Cell(r.village_code),
            Cell(number(r.active_tokens)),
            Cell(local_time(r.first_token_at)),
            Cell(local_time(r.last_report_at) if r.last_report_at else "从未 / never", "bad"),
            Cell(number(r.days_quiet(now)), "bad"),
        )
        for r in silent
    ]
    if not body:
        body = [
            (
                Cell(
                    f"没有已沉默的村：有有效令牌的村在近{SILENT_AFTER_DAYS}天内都有报告 / "
                    f"no silent village: every village with an active token reported in the last "
                    f"{SILENT_AFTER_DAYS} days",
                    "ok",
                ),
            )
        ]
    return Table(
        key="silent_villages",
        title=Label(
            f"已沉默的村（超过{SILENT_AFTER_DAYS}天没有报告）",
            f"Silent villages (no report for more than {SILENT_AFTER_DAYS} days)",
        ),
        columns=(
            Label("乡镇", "Town"),
            Label("村（居）", "Village"),
            Label("区划代码", "Code"),
            Label("有效令牌", "Active tokens"),
            Label("首个令牌签发", "First token"),
            Label("最近报告", "Last report"),
            Label("无报告天数", "Days without a report"),
        ),
        rows=tuple(body),
        note=Label(
            f"有有效令牌、最近一次报告在{SILENT_AFTER_DAYS}天以前的村，以及首个令牌签发已超过"
            f"{SILENT_AFTER_DAYS}天却从未报告的村；以 {local_time(now)}（北京时间）为准。"
            "无报告天数从最近一次报告（从未报告的从首个令牌签发）算起。请联系这些村的填报人。",
            f"Villages with an active token whose last report is more than {SILENT_AFTER_DAYS} days old, "
            f"and those that never reported though their first token was issued more than {SILENT_AFTER_DAYS} "
            f"days ago; as of {local_time(now)} Beijing time. Days are counted from the last report (from the "
            "first token when there was none). Worth a call to the village's clerk.",
        ),
    )


def weekly_chart(per_type: Mapping[date, Mapping[str, int]]) -> Chart:
    """The county's reports per week, stacked by report type."""
    weeks = sorted(per_type)
    known = list(REPORT_TYPE_LABELS)
    types = known + sorted({t for counts in per_type.values() for t in counts} - set(known))
    totals = [sum(per_type[w].values()) for w in weeks]
    this_week = weeks[-1] if weeks else None

    def draw() -> MplFigure:
        from matplotlib.ticker import MaxNLocator

        from popdata.dashboard.style import COLORS, new_figure, no_data_figure

        if not any(totals):
            return no_data_figure(
                "各周直报数 / Reports per week",
                f"近{WEEKS_SHOWN}周没有直报 / no reports in {WEEKS_SHOWN} weeks",
            )
        figure = new_figure(height=3.2)
        ax = figure.add_subplot()
        positions = list(range(len(weeks)))
        bottom = [0] * len(weeks)
        for index, kind in enumerate(types):
            values = [per_type[w].get(kind, 0) for w in weeks]
            if not any(values):
                continue
            label = REPORT_TYPE_LABELS.get(kind, Label(kind, kind))
            color = COLORS[TYPE_COLORS[index]] if index < len(TYPE_COLORS) else COLORS["muted"]
            ax.bar(positions, values, bottom=bottom, color=color, label=str(label), width=0.65)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        for position, total in zip(positions, totals, strict=True):
            ax.annotate(
                f"{total:,}", (position, total), xytext=(0, 2), textcoords="offset points", ha="center"
            )
        ax.set_xticks(positions, [("本周\n" if w == this_week else "") + f"{w:%m-%d}" for w in weeks])
        ax.set_ylim(0, max(totals) * 1.15)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("报告数 / reports")
        ax.grid(axis="x", visible=False)
        handles, labels = ax.get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncol=5, frameon=False, fontsize=8)
        return figure

    total = sum(totals)
    return Chart(
        key="village_reports_by_week",
        title=Label(f"近{WEEKS_SHOWN}周各周直报数", f"Village reports per week, last {WEEKS_SHOWN} weeks"),
        description=Label(
            f"堆叠柱状图：近{WEEKS_SHOWN}周（周一起算，北京时间，最后一根为本周）全县每周受理的村级直报数，"
            f"按报告类型分色；合计{total:,}份。",
            f"Stacked bars: village reports accepted in the county per week over the last {WEEKS_SHOWN} "
            f"weeks (Monday to Sunday, Beijing time; the last bar is this week), coloured by report "
            f"type; {total:,} in all.",
        ),
        draw=draw,
    )


def figures(
    rows: Sequence[VillageRow],
    per_type: Mapping[date, Mapping[str, int]],
    weeks: Sequence[date],
    now: datetime,
) -> tuple[Figure, ...]:
    """The headline figures: villages with a token, reports this and last week, silent, waiting, refused."""
    this_week, last_week = weeks[-1], weeks[-2]
    active = sum(r.active_tokens > 0 for r in rows)
    this_count = sum(per_type.get(this_week, {}).values())
    last_count = sum(per_type.get(last_week, {}).values())
    silent = sum(r.is_silent(now) for r in rows)
    waiting = sum(r.waiting_for_batch for r in rows)
    refused = sum(r.refused_last_7_days for r in rows)
    return (
        Figure(
            "villages_with_token",
            Label("有有效令牌的村", "Villages with a token"),
            active,
            number(active),
            note=Label(f"曾发放令牌的村共{len(rows)}个", f"{len(rows)} ever issued one"),
        ),
        Figure(
            "village_reports_week",
            Label("本周直报", "Reports this week"),
            this_count,
            number(this_count),
            note=Label(
                f"自 {this_week.isoformat()}（周一，北京时间）起",
                f"since Monday {this_week.isoformat()}, Beijing time",
            ),
        ),
        Figure(
            "village_reports_last_week",
            Label("上周直报", "Reports last week"),
            last_count,
            number(last_count),
            note=Label(f"{last_week.isoformat()} 起的一周", f"week of {last_week.isoformat()}"),
        ),
        Figure(
            "silent_villages",
            Label("已沉默的村", "Silent villages"),
            silent,
            number(silent),
            "bad" if silent else "ok",
            Label(
                f"有有效令牌、超过{SILENT_AFTER_DAYS}天没有报告",
                f"active token, no report for more than {SILENT_AFTER_DAYS} days",
            ),
        ),
        Figure(
            "village_reports_waiting",
            Label("待写入文件的直报", "Reports waiting for a batch"),
            waiting,
            number(waiting),
            note=Label("已受理，批处理尚未写成文件", "accepted, not yet written to a file"),
        ),
        Figure(
            "village_submissions_refused",
            Label(f"近{REFUSED_DAYS}天被拒提交", f"Refused, last {REFUSED_DAYS} days"),
            refused,
            number(refused),
            "warn" if refused else "ok",
        ),
    )


def database_now(conn: sa.Connection) -> datetime:
    """The database's clock (the transaction's start), the "now" silence is judged against."""
    moment: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
    return moment


def build(conn: sa.Connection, now: datetime | None = None) -> Section:
    """The village reports section as of ``now`` (default: the database's clock).

    Empty (with a message, no figures) before any token is issued, and on a warehouse without the
    views of migration 0014.
    """
    if not views_present(conn):
        return Section(KEY, SECTION_TITLES[KEY], None, empty=NOT_MIGRATED)
    rows = village_rows(conn)
    if not rows:
        return Section(KEY, SECTION_TITLES[KEY], None, empty=EMPTY)
    moment = now or database_now(conn)
    weeks = weeks_shown(moment)
    per_village, per_type = weekly_counts(conn, weeks)
    return Section(
        KEY,
        SECTION_TITLES[KEY],
        moment.astimezone(LOCAL_TZ).date(),
        figures=figures(rows, per_type, weeks, moment),
        charts=(weekly_chart(per_type),),
        tables=(silent_table(rows, moment), village_table(rows, per_village, weeks, moment)),
    )
