"""Quality (数据质量): reject rates and failed expectations over time, gates, cross-feed checks.

Built from ``audit.file_ledger`` (rows read and rejected per file), ``audit.dq_results`` (one row
per expectation per validated batch) and the Great Expectations Data Docs site
(:mod:`popdata.quality.docs`): every failed expectation links to the Data Docs page of its batch,
``data-docs/validations/<suite>/<run>/<time>/<batch>.html``, found through the site builder's
bookkeeping (``.data_docs_state.json``) or, failing that, by its place in the site.

Counts only: no value of a row is read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from popdata.config.feeds import Feed
from popdata.config.settings import load_settings
from popdata.dashboard.model import SECTION_TITLES, Cell, Chart, Figure, Label, Section, Status, Table
from popdata.dashboard.sections.drops import (
    day,
    english_words,
    feed_label,
    feeds_by_name,
    number,
    safe_file_name,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

GATES: dict[str, tuple[Label, Status]] = {
    "warn": (Label("仅记录", "warn"), "warn"),
    "reject_rows": (Label("拒收不合格行", "reject rows"), "warn"),
    "quarantine_file": (Label("隔离整个文件", "quarantine file"), "bad"),
}
"""The gate (``meta.severity``) of an expectation in words, and how a failure of it reads."""

EXPECTATIONS: dict[str, Label] = {
    "expect_column_values_to_be_in_set": Label("取值在允许范围内", "values in the allowed set"),
    "expect_column_values_to_be_known_region_code": Label("区划代码有效", "known region code"),
    "expect_column_values_to_be_plausible_chinese_name": Label("姓名合理", "plausible Chinese name"),
    "expect_column_values_to_be_plausible_date": Label("日期合理", "plausible date"),
    "expect_column_values_to_be_unique": Label("取值唯一", "values unique"),
    "expect_column_values_to_be_valid_resident_id": Label("身份证号有效", "valid resident ID"),
    "expect_column_values_to_match_regex": Label("格式正确", "values match the pattern"),
    "expect_column_values_to_not_be_null": Label("不为空", "not blank"),
    "expect_compound_columns_to_be_unique": Label("组合取值唯一", "combination unique"),
    "expect_resident_id_to_match_birth_date_and_sex": Label(
        "身份证号与出生日期、性别一致", "ID agrees with date of birth and sex"
    ),
    "expect_table_row_count_to_be_between": Label("行数在范围内", "row count in range"),
}
"""Expectation types in words."""

CROSS_FEED_CHECKS: dict[str, Label] = {
    "assistance_not_paid_after_death": Label("死亡后不再发放扶助", "no assistance paid after death"),
    "birth_registration_certificate_found": Label(
        "出生登记有对应出生医学证明", "birth registration has its certificate"
    ),
    "birth_sex_agrees": Label("出生证与公安登记性别一致", "health and police agree on the sex"),
    "registry_id_one_person": Label("户籍一号一人", "one ID number, one person in the registry"),
}
"""The reviewed cross-feed checks (``expectations/cross_feed/``) in words."""

CROSS_FEED_PREFIX = "cross_feed__"


def expectation_label(expectation: str) -> Label:
    """An expectation type in words (its name without ``expect_`` when unknown)."""
    known = EXPECTATIONS.get(expectation)
    if known:
        return known
    words = english_words(expectation.removeprefix("expect_"))
    return Label(words, words)


def column_label(feed: Feed | None, column: str | None) -> str:
    """A column (or a comma-separated list) as ``中文表头 / column words``; ``—`` for the table."""
    if not column:
        return "表 / table"
    headers = {c.name: c.headers[0] for c in feed.columns} if feed else {}
    parts = []
    for name in column.split(","):
        name = name.strip()
        base = name.removesuffix("_valid")
        zh = headers.get(name) or headers.get(base) or name
        if name != base and base in headers:
            zh = f"{zh}（有效性）"
        parts.append(f"{zh} / {english_words(name)}")
    return "；".join(parts)


def cross_feed_label(suite: str) -> Label:
    """A cross-feed suite in words."""
    name = suite.removeprefix(CROSS_FEED_PREFIX)
    return CROSS_FEED_CHECKS.get(name, Label(english_words(name), english_words(name)))


def gate(severity: str) -> tuple[Label, Status]:
    """The gate in words and the colour of a failure of it."""
    return GATES.get(severity, (Label(severity, severity), "warn"))


# --- Data Docs pages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataDocsPages:
    """Where the validation page of each batch is in the Data Docs site (paths relative to ``site/``)."""

    site: Path
    pages: dict[tuple[str, str, str], tuple[str, str]]
    """(suite, run name, batch) → (run time, relative path), the latest run time kept."""

    def find(self, suite: str, batch: str, run_name: str | None = None) -> str | None:
        """The page of ``batch`` (``file_<id>`` or ``table``) validated with ``suite``, latest run."""
        found = [
            value
            for (s, run, b), value in self.pages.items()
            if s == suite and b == batch and (run_name is None or run == run_name)
        ]
        if found:
            return max(found)[1]
        pattern = f"validations/{suite}/{run_name or '*'}/*/{batch}.html"
        matches = sorted(self.site.glob(pattern))
        return matches[-1].relative_to(self.site).as_posix() if matches else None

    def href(self, suite: str, batch: str, run_name: str | None = None) -> str | None:
        """The view's link to that page (``data-docs/<path>``), or ``None`` without one."""
        page = self.find(suite, batch, run_name)
        return f"data-docs/{page}" if page else None


def data_docs_pages(root: Path | None = None) -> DataDocsPages:
    """Read the Data Docs site's bookkeeping under ``root`` (default: the configured Data Docs folder)."""
    from popdata.quality import docs

    root = Path(root) if root is not None else docs.docs_root(load_settings())
    site = docs.index_path(root).parent
    pages: dict[tuple[str, str, str], tuple[str, str]] = {}
    try:
        state: Any = json.loads((root / ".data_docs_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    records = state.get("records") if isinstance(state, dict) else None
    for entry in (records or {}).values():
        key = entry.get("key") if isinstance(entry, dict) else None
        if not (isinstance(key, list) and len(key) == 4 and all(isinstance(k, str) for k in key)):
            continue
        suite, run_name, run_time, batch = key
        relative = f"validations/{suite}/{run_name}/{run_time}/{batch}.html"
        if not (site / relative).is_file():
            continue
        current = pages.get((suite, run_name, batch))
        if current is None or current < (run_time, relative):
            pages[(suite, run_name, batch)] = (run_time, relative)
    return DataDocsPages(site=site, pages=pages)


# --- queries -----------------------------------------------------------------------------------

_TOTALS = sa.text(
    """
    SELECT coalesce(sum(rows_read), 0) AS rows_read, coalesce(sum(rows_rejected), 0) AS rows_rejected,
           count(*) FILTER (WHERE quarantine_reason LIKE 'dq_critical_failed%') AS gate_quarantines
    FROM audit.file_ledger
    """
)

_REJECT_RATES = sa.text(
    """
    SELECT feed, extract_date, sum(rows_read) AS rows_read, sum(rows_rejected) AS rows_rejected
    FROM audit.file_ledger
    WHERE extract_date IS NOT NULL AND rows_read > 0
    GROUP BY feed, extract_date ORDER BY feed, extract_date
    """
)

_FAILED_BY_MONTH = sa.text(
    """
    SELECT date_trunc('month', coalesce(l.extract_date, r.validated_at::date))::date AS month,
           r.severity, count(*) AS failed
    FROM audit.dq_results r JOIN audit.file_ledger l USING (file_id)
    WHERE NOT r.success
    GROUP BY 1, 2 ORDER BY 1, 2
    """
)

_FAILED_FILES = sa.text(
    """
    SELECT count(*) AS failed FROM audit.dq_results WHERE NOT success AND file_id IS NOT NULL
    """
)

_LATEST_FAILED = sa.text(
    """
    WITH latest AS (
        SELECT DISTINCT ON (l.feed) l.feed, l.file_id, l.file_name, l.extract_date
        FROM audit.file_ledger l
        WHERE EXISTS (SELECT 1 FROM audit.dq_results r WHERE r.file_id = l.file_id AND NOT r.success)
        ORDER BY l.feed, l.extract_date DESC NULLS LAST, l.file_id DESC
    )
    SELECT latest.feed, latest.file_id, latest.file_name, latest.extract_date, r.suite, r.expectation,
           r.column_name, r.unexpected_count, r.element_count, r.severity
    FROM latest JOIN audit.dq_results r ON r.file_id = latest.file_id AND NOT r.success
    ORDER BY latest.feed, r.severity DESC, r.expectation, r.column_name
    """
)

_GATE_QUARANTINES = sa.text(
    """
    SELECT l.file_id, l.feed, l.file_name, l.extract_date, l.receipt_path IS NOT NULL AS has_receipt,
           (SELECT r.suite FROM audit.dq_results r WHERE r.file_id = l.file_id LIMIT 1) AS suite,
           (SELECT count(*) FROM audit.dq_results r
             WHERE r.file_id = l.file_id AND NOT r.success AND r.severity = 'quarantine_file') AS failed,
           (SELECT string_agg(DISTINCT r.expectation || coalesce('(' || r.column_name || ')', ''), ', ')
              FROM audit.dq_results r
             WHERE r.file_id = l.file_id AND NOT r.success AND r.severity = 'quarantine_file') AS which
    FROM audit.file_ledger l
    WHERE l.quarantine_reason LIKE 'dq_critical_failed%'
    ORDER BY l.received_at DESC, l.file_id DESC
    LIMIT 50
    """
)

_CROSS_FEED = sa.text(
    """
    WITH latest AS (SELECT max(batch) AS batch FROM audit.dq_results WHERE batch LIKE 'cross_feed:%')
    SELECT r.batch, r.suite, r.expectation, r.column_name, r.success, r.unexpected_count, r.element_count
    FROM audit.dq_results r JOIN latest USING (batch)
    ORDER BY r.suite, r.expectation
    """
)


def _batch_date(batch: str) -> str:
    """``cross_feed:2014-06-30`` → ``2014-06-30``."""
    return batch.split(":", 1)[1] if ":" in batch else batch


def _unexpected(unexpected: int | None, total: int | None) -> str:
    """``3 / 120 (2.5%)``."""
    if unexpected is None:
        return "—"
    if not total:
        return number(unexpected)
    return f"{unexpected:,} / {total:,}（{unexpected / total:.1%}）"


# --- charts ------------------------------------------------------------------------------------


def _reject_rate_chart(series: dict[Label, list[tuple[date, float]]]) -> Chart:
    """Reject rate per feed by extract date, one line per feed."""

    def draw() -> MplFigure:
        from matplotlib.ticker import PercentFormatter

        from popdata.dashboard.style import new_figure

        figure = new_figure(height=3.6 + 0.18 * ((len(series) + 1) // 2))
        axis = figure.subplots()
        for label, points in series.items():
            days: Any = [p[0] for p in points]  # matplotlib plots dates (its stubs say numbers)
            axis.plot(days, [p[1] for p in points], marker="o", markersize=3, label=str(label))
        axis.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        axis.set_ylim(bottom=0)
        axis.set_xlabel("抽取日期 / extract date")
        axis.set_ylabel("拒收率 / reject rate")
        axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=2, fontsize=8, frameon=False)
        axis.tick_params(axis="x", labelrotation=30)
        return figure

    return Chart(
        key="reject_rate",
        title=Label("各数据项拒收率（按抽取日期）", "Reject rate per feed by extract date"),
        description=Label(
            "折线图：每条线为一个数据项，纵轴为拒收行占读取行的比例；没有任何拒收行的数据项不画线。",
            "Line chart: one line per feed, rows rejected over rows read by extract date; "
            "feeds that never had a rejected row are left out.",
        ),
        draw=draw,
    )


def _failed_chart(by_month: dict[date, dict[str, int]]) -> Chart:
    """Failed expectations per month of extract, stacked by gate."""

    def draw() -> MplFigure:
        from matplotlib.ticker import MaxNLocator

        from popdata.dashboard.style import COLORS, new_figure

        figure = new_figure()
        axis = figure.subplots()
        months = sorted(by_month)
        labels = [m.strftime("%Y-%m") for m in months]
        positions = list(range(len(months)))
        bottom = [0] * len(months)
        colours = {
            "warn": COLORS["warn"],
            "reject_rows": COLORS["secondary"],
            "quarantine_file": COLORS["bad"],
        }
        severities = sorted({s for counts in by_month.values() for s in counts}, key=list(GATES).index)
        for severity in severities:
            values = [by_month[m].get(severity, 0) for m in months]
            axis.bar(
                positions,
                values,
                bottom=bottom,
                color=colours.get(severity, COLORS["muted"]),
                label=str(gate(severity)[0]),
            )
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        axis.set_xticks(positions, labels, rotation=45, ha="right")
        axis.set_xlabel("文件抽取月份 / month of the file's extract")
        axis.set_ylabel("未通过的期望数 / failed expectations")
        axis.grid(axis="x", visible=False)
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))
        axis.legend(title="闸门 / gate", fontsize=8, frameon=False)
        return figure

    return Chart(
        key="failed_expectations",
        title=Label("未通过的数据质量期望（按月）", "Failed expectations per month"),
        description=Label(
            "堆叠柱状图：每月抽取的文件中未通过的期望数，按闸门（仅记录、拒收行、隔离文件）分色。",
            "Stacked bars: failed expectations of the files extracted each month, coloured by gate "
            "(warn, reject rows, quarantine file).",
        ),
        draw=draw,
    )


# --- the section -------------------------------------------------------------------------------


def build(conn: sa.Connection) -> Section:
    """The Quality section."""
    known = feeds_by_name()
    pages = data_docs_pages()
    totals = conn.execute(_TOTALS).one()

    series: dict[str, list[tuple[date, float]]] = defaultdict(list)
    any_rejected: set[str] = set()
    for r in conn.execute(_REJECT_RATES):
        series[r.feed].append((r.extract_date, r.rows_rejected / r.rows_read))
        if r.rows_rejected:
            any_rejected.add(r.feed)
    rate_series = {feed_label(f, known): series[f] for f in sorted(any_rejected)}

    by_month: dict[date, dict[str, int]] = defaultdict(dict)
    for r in conn.execute(_FAILED_BY_MONTH):
        by_month[r.month][r.severity] = int(r.failed)

    latest_rows = []
    for r in conn.execute(_LATEST_FAILED):
        gate_label, status = gate(r.severity)
        href = pages.href(r.suite, f"file_{r.file_id}")
        latest_rows.append(
            (
                Cell(str(feed_label(r.feed, known))),
                Cell(f"{safe_file_name(r.file_name)}（{day(r.extract_date)}）"),
                Cell(str(expectation_label(r.expectation))),
                Cell(column_label(known.get(r.feed), r.column_name)),
                Cell(_unexpected(r.unexpected_count, r.element_count), status),
                Cell(str(gate_label), status),
                Cell("打开 / open", href=href) if href else Cell("—"),
            )
        )

    gate_rows = []
    for r in conn.execute(_GATE_QUARANTINES):
        href = pages.href(r.suite, f"file_{r.file_id}") if r.suite else None
        which = ", ".join(
            str(expectation_label(part.split("(")[0])) + (f"（{part.split('(')[1]}" if "(" in part else "")
            for part in (r.which or "").split(", ")
            if part
        )
        gate_rows.append(
            (
                Cell(str(feed_label(r.feed, known))),
                Cell(safe_file_name(r.file_name)),
                Cell(day(r.extract_date)),
                Cell(f"{int(r.failed)}：{which}" if which else number(r.failed), "bad"),
                Cell("查看 / view", href=f"receipts/{r.file_id}") if r.has_receipt else Cell("—"),
                Cell("打开 / open", href=href) if href else Cell("—"),
            )
        )

    cross_rows = []
    cross_failed = 0
    cross_batch: str | None = None
    for r in conn.execute(_CROSS_FEED):
        cross_batch = r.batch
        cross_failed += not r.success
        href = pages.href(r.suite, "table", r.batch.replace(":", "_"))
        cross_rows.append(
            (
                Cell(str(cross_feed_label(r.suite))),
                Cell(_batch_date(r.batch)),
                Cell(str(expectation_label(r.expectation))),
                Cell("通过 / passed", "ok") if r.success else Cell("未通过 / failed", "warn"),
                Cell(_unexpected(r.unexpected_count, r.element_count), "none" if r.success else "warn"),
                Cell("打开 / open", href=href) if href else Cell("—"),
            )
        )

    failed_files = int(conn.execute(_FAILED_FILES).scalar_one())
    reject_rate = totals.rows_rejected / totals.rows_read if totals.rows_read else None
    figures = (
        Figure(
            "reject_rate",
            Label("总拒收率", "Overall reject rate"),
            reject_rate,
            f"{reject_rate:.2%}" if reject_rate is not None else "—",
            "none" if reject_rate is None else ("ok" if reject_rate < 0.01 else "warn"),
            note=Label(
                f"{int(totals.rows_rejected):,} / {int(totals.rows_read):,} 行",
                f"{int(totals.rows_rejected):,} of {int(totals.rows_read):,} rows",
            ),
        ),
        Figure(
            "failed_expectations",
            Label("未通过的期望", "Failed expectations"),
            failed_files,
            number(failed_files),
            "warn" if failed_files else "ok",
            note=Label("所有文件的检查", "over every file validated"),
        ),
        Figure(
            "gate_quarantines",
            Label("闸门隔离的文件", "Files stopped by a gate"),
            int(totals.gate_quarantines),
            number(totals.gate_quarantines),
            "bad" if totals.gate_quarantines else "ok",
        ),
        Figure(
            "cross_feed_failed",
            Label("未通过的跨部门检查", "Cross-feed checks failed"),
            cross_failed if cross_batch else None,
            f"{cross_failed} / {len(cross_rows)}" if cross_batch else "—",
            "none" if not cross_batch else ("warn" if cross_failed else "ok"),
            note=Label(f"批次 {_batch_date(cross_batch)}", f"batch {_batch_date(cross_batch)}")
            if cross_batch
            else None,
        ),
    )

    charts = []
    if rate_series:
        charts.append(_reject_rate_chart(rate_series))
    if by_month:
        charts.append(_failed_chart(by_month))

    none_row = (Cell("无 / none"),)
    tables = (
        Table(
            key="latest_failed",
            title=Label("各数据项最近未通过的期望", "Latest failed expectations per feed"),
            columns=(
                Label("数据项", "Feed"),
                Label("文件（抽取日期）", "File (extract date)"),
                Label("期望", "Expectation"),
                Label("列", "Column"),
                Label("不符合行数", "Unexpected"),
                Label("闸门", "Gate"),
                Label("数据文档", "Data Docs"),
            ),
            rows=tuple(latest_rows) or (none_row,),
            note=Label(
                "每个数据项取最近一个有未通过期望的文件；“打开”进入该批次的 Great Expectations 数据文档页面。",
                "Per feed, the latest file with a failed expectation; 'open' shows the Great "
                "Expectations Data Docs page of that batch.",
            ),
        ),
        Table(
            key="gate_quarantines",
            title=Label("被质量闸门隔离的文件", "Files quarantined by a quality gate"),
            columns=(
                Label("数据项", "Feed"),
                Label("文件", "File"),
                Label("抽取日期", "Extract date"),
                Label("未通过的关键期望", "Failed critical expectations"),
                Label("回执", "Receipt"),
                Label("数据文档", "Data Docs"),
            ),
            rows=tuple(gate_rows) or (none_row,),
            note=Label(
                "这些文件未入库，已发出告警，请报送部门修正后重报。",
                "These files were not loaded and an alert went out; the agency is asked to send them again.",
            ),
        ),
        Table(
            key="cross_feed",
            title=Label("跨部门检查（最近批次）", "Cross-feed checks (latest batch)"),
            columns=(
                Label("检查", "Check"),
                Label("批次日期", "Batch date"),
                Label("期望", "Expectation"),
                Label("结果", "Result"),
                Label("不符合行数", "Unexpected"),
                Label("数据文档", "Data Docs"),
            ),
            rows=tuple(cross_rows) or (none_row,),
            note=Label(
                "跨部门检查只告警，不阻止文件入库。", "Cross-feed checks only warn; they never stop a file."
            ),
        ),
    )
    has_results = bool(totals.rows_read) or bool(by_month) or bool(cross_rows)
    return Section(
        key="quality",
        title=SECTION_TITLES["quality"],
        as_of=date.fromisoformat(_batch_date(cross_batch)) if cross_batch else None,
        figures=figures,
        charts=tuple(charts),
        tables=tables,
        empty=None if has_results else Label("尚无数据质量检查结果。", "No quality results yet."),
    )
