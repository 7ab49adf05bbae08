"""Drops (数据报送): per agency and feed, the last file, how it went, and whether the next one is late.

One table row per configured feed: the last file received (its name, when, its outcome and rows
read / loaded / rejected, a link to its receipt) and the feed's arrival state against its
cadence (:mod:`popdata.monitor.arrivals`). The arrival state is the *latest recorded check*
(``audit.feed_arrival_checks``, what the overdue alert was based on), so the page shows the same
state the alert did; when no check was recorded yet it is computed from the ledger as of the
latest extract date received.

Shown: file names (agencies name files by feed and date; any run of 17+ digits is masked all the
same), counts, dates. Never a row of data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from popdata.config.feeds import Feed, default_feeds
from popdata.dashboard.model import SECTION_TITLES, Cell, Chart, Figure, Label, Section, Status, Table
from popdata.monitor.arrivals import STATUS_LABELS, ArrivalState, arrival_states, latest_states

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
"""Times are shown in Beijing time, the agencies' clock."""

AGENCY_LABELS: dict[str, Label] = {
    "health": Label("卫生健康", "Health"),
    "police": Label("公安", "Police"),
    "fp": Label("计划生育", "Family planning"),
    "stats": Label("统计", "Statistics"),
}
"""Bilingual names of the sending agencies."""

FILE_STATUS: dict[str | None, tuple[Label, Status]] = {
    "loaded": (Label("已入库", "loaded"), "ok"),
    "loaded_with_rejections": (Label("已入库（部分行拒收）", "loaded with rejections"), "warn"),
    "quarantined": (Label("已隔离", "quarantined"), "bad"),
    "duplicate": (Label("重复文件", "duplicate"), "none"),
    None: (Label("处理中", "in progress"), "none"),
}
"""A ledger status in words and how it reads."""

ARRIVAL_STATUS: dict[str, Status] = {
    "on_time": "ok",
    "grace": "warn",
    "overdue": "bad",
    "no_file": "none",
    "irregular": "none",
}
"""An arrival state's colour: overdue is red, within grace amber, on time green."""

_LONG_DIGITS = re.compile(r"\d{17}[\dXx]?|\d{15,}")


def agency_label(agency: str) -> Label:
    """The bilingual name of an agency (its code, capitalised, when unknown)."""
    return AGENCY_LABELS.get(agency, Label(agency, agency.capitalize()))


def english_words(name: str) -> str:
    """``birth_certificates`` → ``Birth certificates``."""
    words = " ".join("ID" if w == "id" else w for w in name.replace("_", " ").split())
    return words[:1].upper() + words[1:]


def feed_label(feed: str, feeds: dict[str, Feed] | None = None) -> Label:
    """The bilingual name of a feed: the contract's Chinese title and the feed name in words."""
    known = feeds if feeds is not None else feeds_by_name()
    config = known.get(feed)
    return Label(config.title_zh if config else feed, english_words(feed))


def feeds_by_name() -> dict[str, Feed]:
    """The configured feeds by feed name."""
    return {f.feed: f for f in default_feeds()}


def safe_file_name(name: str) -> str:
    """A file name as shown: any long run of digits (an identity number) masked."""
    return _LONG_DIGITS.sub(lambda m: m.group(0)[:6] + "*" * (len(m.group(0)) - 6), name)


def local_time(moment: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM`` in Beijing time, or ``—``."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def day(value: date | None) -> str:
    """An ISO date, or ``—``."""
    return value.isoformat() if value else "—"


def number(value: int | float | None) -> str:
    """A count with thousands separators, or ``—``."""
    if value is None:
        return "—"
    return f"{value:,}"


@dataclass(frozen=True, slots=True)
class LastFile:
    """The last file received of one feed (a row of the ledger)."""

    file_id: int
    agency: str
    feed: str
    file_name: str
    received_at: datetime
    extract_date: date | None
    status: str | None
    rows_read: int | None
    rows_loaded: int | None
    rows_rejected: int | None
    has_receipt: bool


_LAST_FILES = sa.text(
    """
    SELECT DISTINCT ON (agency, feed)
           file_id, agency, feed, file_name, received_at, extract_date, status,
           rows_read, rows_loaded, rows_rejected, receipt_path IS NOT NULL AS has_receipt
    FROM audit.file_ledger
    ORDER BY agency, feed, received_at DESC, file_id DESC
    """
)

_TOTALS = sa.text(
    """
    SELECT count(*) AS files,
           count(*) FILTER (WHERE status = 'quarantined') AS quarantined,
           coalesce(sum(rows_loaded), 0) AS rows_loaded,
           coalesce(sum(rows_rejected), 0) AS rows_rejected,
           max(extract_date) FILTER (WHERE status IN ('loaded', 'loaded_with_rejections')) AS last_extract
    FROM audit.file_ledger
    """
)

_PER_FEED = sa.text(
    """
    SELECT agency, feed, coalesce(sum(rows_loaded), 0) AS loaded, coalesce(sum(rows_rejected), 0) AS rejected
    FROM audit.file_ledger GROUP BY agency, feed ORDER BY agency, feed
    """
)


def last_files(conn: sa.Connection) -> dict[str, LastFile]:
    """The last file received of every feed that received one, by feed."""
    return {r.feed: LastFile(**r._asdict()) for r in conn.execute(_LAST_FILES)}


def current_arrival_states(conn: sa.Connection, last_extract: date | None) -> tuple[list[ArrivalState], bool]:
    """The latest recorded arrival check, or (none recorded) the states as of the latest loaded extract date.

    Only loaded files count, as in :mod:`popdata.monitor.arrivals`: a quarantined file's extract
    date (an irregular name dates a file by the day it arrived) must not move the date the
    lateness is judged at.

    Returns the states and whether they are a recorded check (``False``: computed here).
    """
    states = latest_states(conn)
    if states:
        return states, True
    return arrival_states(conn, last_extract or date.today()), False


def arrival_label(status: str) -> Label:
    """The bilingual word of an arrival status."""
    zh, en = STATUS_LABELS.get(status, (status, status))
    return Label(zh, en)


def _rows_chart(per_feed: list[tuple[Label, int, int]]) -> Chart:
    """Rows loaded and rejected per feed, two panels sharing the feed axis."""

    def draw() -> MplFigure:
        from popdata.dashboard.style import COLORS, new_figure

        height = max(2.6, 0.32 * len(per_feed) + 1.0)
        figure = new_figure(height=height)
        left, right = figure.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
        labels = [str(label) for label, _, _ in per_feed]
        positions = list(range(len(per_feed)))
        loaded = [value for _, value, _ in per_feed]
        rejected = [value for _, _, value in per_feed]
        left.barh(positions, loaded, color=COLORS["primary"])
        right.barh(positions, rejected, color=COLORS["bad"])
        left.set_yticks(positions, labels)
        left.invert_yaxis()
        left.set_title("入库行数 / rows loaded")
        right.set_title("拒收行数 / rows rejected")
        for axis, values in ((left, loaded), (right, rejected)):
            axis.grid(axis="y", visible=False)
            top = max(values, default=0) or 1
            axis.set_xlim(0, top * 1.25)
            for position, value in zip(positions, values, strict=True):
                axis.annotate(
                    f"{value:,}", (value, position), xytext=(3, 0), textcoords="offset points", va="center"
                )
        return figure

    return Chart(
        key="rows_by_feed",
        title=Label("各数据项入库与拒收行数", "Rows loaded and rejected per feed"),
        description=Label(
            "横向条形图：左为每个数据项累计入库行数，右为累计拒收行数。",
            "Horizontal bars: rows loaded per feed on the left, rows rejected on the right, all files.",
        ),
        draw=draw,
    )


def build(conn: sa.Connection) -> Section:
    """The Drops section from ``audit.file_ledger`` and the latest arrival check."""
    feeds = default_feeds()
    known = {f.feed: f for f in feeds}
    totals = conn.execute(_TOTALS).one()
    files = last_files(conn)
    found, recorded = current_arrival_states(conn, totals.last_extract)
    states = {s.feed: s for s in found}
    as_of = next(iter(states.values())).as_of if states else None

    names: list[tuple[str, str]] = [(f.agency, f.feed) for f in feeds]
    names += sorted({(f.agency, f.feed) for f in files.values()} - set(names))
    rows = []
    for agency, feed in sorted(names):
        last = files.get(feed)
        state = states.get(feed)
        if last is not None:
            status_label, status = FILE_STATUS.get(
                last.status, (Label(str(last.status), str(last.status)), "none")
            )
            file_cells: tuple[Cell, ...] = (
                Cell(safe_file_name(last.file_name)),
                Cell(local_time(last.received_at)),
                Cell(day(last.extract_date)),
                Cell(str(status_label), status),
                Cell(number(last.rows_read)),
                Cell(number(last.rows_loaded)),
                Cell(number(last.rows_rejected), "warn" if last.rows_rejected else "none"),
                Cell("查看 / view", href=f"receipts/{last.file_id}") if last.has_receipt else Cell("—"),
            )
        else:
            file_cells = (Cell("未收到 / none received"), *(Cell("—") for _ in range(7)))
        if state is not None:
            state_cells = (
                Cell(str(arrival_label(state.status)), ARRIVAL_STATUS.get(state.status, "none")),
                Cell(day(state.due_date)),
                Cell(
                    str(state.days_overdue) if state.days_overdue is not None else "—",
                    "bad" if state.status == "overdue" else "none",
                ),
            )
        else:
            state_cells = (Cell("—"), Cell("—"), Cell("—"))
        rows.append(
            (Cell(str(agency_label(agency))), Cell(str(feed_label(feed, known))), *file_cells, *state_cells)
        )

    table = Table(
        key="last_files",
        title=Label("各数据项最新文件与报送状态", "Last file and arrival state per feed"),
        columns=(
            Label("部门", "Agency"),
            Label("数据项", "Feed"),
            Label("最新文件", "Last file"),
            Label("接收时间", "Received"),
            Label("抽取日期", "Extract date"),
            Label("处理结果", "Outcome"),
            Label("读取行", "Rows read"),
            Label("入库行", "Loaded"),
            Label("拒收行", "Rejected"),
            Label("回执", "Receipt"),
            Label("报送状态", "Arrival"),
            Label("应报日", "Due"),
            Label("逾期天数", "Days overdue"),
        ),
        rows=tuple(rows),
        note=Label(
            f"报送状态依据{'最近一次到报检查' if recorded else '已入库文件中最新的抽取日期'}（基准日 {day(as_of)}）；"
            "应报日 = 最新入库文件的抽取日期 + 报送周期，超过宽限期即为逾期（红色）。接收时间为北京时间。",
            f"Arrival state from the {'latest arrival check' if recorded else 'latest extract date loaded'} (as of {day(as_of)}); "
            "due = the last loaded file's extract date plus the feed's cadence; overdue (red) once past "
            "the grace days. Times are Beijing time.",
        ),
    )

    overdue = sum(s.status == "overdue" for s in states.values())
    figures = (
        Figure(
            "files_received", Label("收到文件", "Files received"), int(totals.files), number(totals.files)
        ),
        Figure(
            "files_quarantined",
            Label("隔离文件", "Files quarantined"),
            int(totals.quarantined),
            number(totals.quarantined),
            "warn" if totals.quarantined else "ok",
        ),
        Figure(
            "feeds_overdue",
            Label("逾期数据项", "Feeds overdue"),
            overdue,
            number(overdue),
            "bad" if overdue else "ok",
            note=Label(f"基准日 {day(as_of)}", f"as of {day(as_of)}") if as_of else None,
        ),
        Figure(
            "rows_loaded",
            Label("入库行数", "Rows loaded"),
            int(totals.rows_loaded),
            number(totals.rows_loaded),
        ),
        Figure(
            "rows_rejected",
            Label("拒收行数", "Rows rejected"),
            int(totals.rows_rejected),
            number(totals.rows_rejected),
            "warn" if totals.rows_rejected else "ok",
        ),
    )
    per_feed = [(feed_label(r.feed, known), int(r.loaded), int(r.rejected)) for r in conn.execute(_PER_FEED)]
    return Section(
        key="drops",
        title=SECTION_TITLES["drops"],
        as_of=as_of,
        figures=figures,
        charts=(_rows_chart(per_feed),) if per_feed else (),
        tables=(table,),
        empty=None if totals.files else Label("尚未收到任何文件。", "No file has been received yet."),
    )
