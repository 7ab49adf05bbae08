"""The linkage section (人员关联): how the records of every feed were linked to persons.

Built from ``mart.linkage_quality`` (feed × role: records, linked by ID, linked probabilistically,
new persons, record roles waiting for review) and the *counts* of the engineers' and agencies'
lists ``ops.clerical_review`` and ``ops.id_corrections`` (never their rows: ``audit.work_list_sizes``).
Read-only.

Headline figures, by stable key:

``records_linked``
    record roles in the person index (sum of ``records``).
``share_linked_by_id``, ``share_probabilistic``
    shares of them linked by an exact identity number, and probabilistically (or by the birth
    rules).
``new_persons``
    record roles that matched nobody and made a new person.
``clerical_review``
    record roles waiting for clerical review: distinct ``mention_id`` of ``ops.clerical_review``
    (``records`` of ``audit.work_list_sizes``),
    as ``mart.linkage_quality.review_queue`` counts them (the note gives the number of pairs).
``id_corrections``
    rows of ``ops.id_corrections``: identity numbers that failed validation, with a likely
    correct number proposed to the agency that sent them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from popdata.dashboard.model import SECTION_TITLES, Cell, Chart, Figure, Label, Section, SectionKey, Table
from popdata.dashboard.sections.published import ListSize, work_list_sizes

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

KEY: SectionKey = "linkage"

ROLES: dict[str, Label] = {
    "subject": Label("本人", "subject"),
    "child": Label("子女", "child"),
    "mother": Label("母亲", "mother"),
    "father": Label("父亲", "father"),
    "wife": Label("女方", "wife"),
    "husband": Label("男方", "husband"),
}
"""The person roles of ``core.record_link``, bilingual."""

EMPTY = Label(
    "尚无关联结果：人员关联质量表为空（人员关联与比对运行后生成）。",
    "No linkage figures yet: mart.linkage_quality is empty (filled once linkage and reconciliation have run).",
)

ID_SHARE_WARN = 0.9
"""A feed × role linked by ID less often than this is shown in amber in the table."""


@dataclass(frozen=True)
class LinkageRow:
    """One feed × role of ``mart.linkage_quality``."""

    feed: str
    role: str
    records: int
    linked_by_id: int
    linked_probabilistic: int
    new_persons: int
    review_queue: int
    feed_title: str = ""
    """The feed's Chinese title (from the feed config), when known."""

    @property
    def label(self) -> str:
        """``出生医学证明·母亲 / birth_certificates·mother``."""
        role = ROLES.get(self.role, Label(self.role, self.role))
        zh = f"{self.feed_title or self.feed}·{role.zh}"
        return f"{zh} / {self.feed}·{role.en}"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def linkage_methods_chart(rows: Sequence[LinkageRow]) -> Chart:
    """Stacked horizontal bars: the share of each feed × role linked by ID, probabilistically, or new."""
    title = Label("各数据项人员关联方式构成", "How records were linked, by feed and role")
    data = tuple(rows)
    total = sum(r.records for r in data)
    by_id = _share(sum(r.linked_by_id for r in data), total)
    description = Label(
        f"{len(data)}个数据项×角色的记录按关联方式（身份证号精确、概率或出生证规则、新建人员）所占比例；"
        f"合计{total:,}条，{_pct(by_id)}按身份证号关联。条形右侧为记录数。",
        f"Share of the records of {len(data)} feed × role pairs linked by exact ID, probabilistically "
        f"(or by the birth rules), or as a new person; {total:,} in all, {_pct(by_id)} by ID. "
        "Records at the right of each bar.",
    )

    def draw() -> MplFigure:
        from popdata.dashboard.style import COLORS, new_figure, no_data_figure

        if not data:
            return no_data_figure(str(title))
        figure = new_figure(height=max(2.4, 0.3 * len(data) + 1.6))
        ax = figure.add_subplot()
        y = [-i for i in range(len(data))]
        left = [0.0] * len(data)
        series = (
            ("linked_by_id", "身份证号精确 / exact ID", COLORS["primary"]),
            ("linked_probabilistic", "概率或出生证规则 / probabilistic", COLORS["secondary"]),
            ("new_persons", "新建人员 / new person", COLORS["warn"]),
        )
        for attribute, label, color in series:
            widths = [100.0 * getattr(r, attribute) / r.records if r.records else 0.0 for r in data]
            ax.barh(y, widths, left=left, height=0.66, color=color, label=label, zorder=2)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        for yi, r in zip(y, data, strict=True):
            ax.text(101, yi, f"{r.records:,}", va="center", fontsize=7.5, color=COLORS["none"])
        ax.set_yticks(y, [r.label for r in data], fontsize=8)
        ax.set_ylim(-len(data) + 0.4, 0.6)
        ax.set_xlim(0, 100)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel("记录占比（%）/ share of records, %")
        ax.set_title(str(title), loc="left", fontsize=10)
        handles, labels = ax.get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False, fontsize=8)
        return figure

    return Chart("linkage_methods", title, description, draw)


def linkage_table(rows: Sequence[LinkageRow]) -> Table:
    """One row per feed × role: records, by ID, probabilistic, new, review queue."""
    cells: list[tuple[Cell, ...]] = []
    for r in rows:
        share = _share(r.linked_by_id, r.records)
        role = ROLES.get(r.role, Label(r.role, r.role))
        cells.append(
            (
                Cell(f"{r.feed_title} / {r.feed}" if r.feed_title else r.feed),
                Cell(str(role)),
                Cell(f"{r.records:,}"),
                Cell(
                    f"{r.linked_by_id:,} ({_pct(share)})",
                    "warn" if share is not None and share < ID_SHARE_WARN else "none",
                ),
                Cell(f"{r.linked_probabilistic:,}"),
                Cell(f"{r.new_persons:,}"),
                Cell(f"{r.review_queue:,}", "warn" if r.review_queue else "none"),
            )
        )
    return Table(
        "linkage_by_feed",
        Label("各数据项×角色的关联结果", "Linkage by feed and role"),
        (
            Label("数据项", "feed"),
            Label("角色", "role"),
            Label("记录数", "records"),
            Label("身份证号精确", "by ID"),
            Label("概率", "probabilistic"),
            Label("新建人员", "new persons"),
            Label("待复核", "review queue"),
        ),
        tuple(cells),
        Label(
            "概率含出生证规则（新生儿按出生医学证明关联）；待复核为 ops.clerical_review 中不同记录数",
            "probabilistic includes the birth rules (newborns linked by their certificate); review queue "
            "counts distinct record roles in ops.clerical_review",
        ),
    )


def _feed_titles() -> dict[str, str]:
    """Feed name → its Chinese title, from the packaged feed configs (empty if they cannot be read)."""
    try:
        from popdata.config.feeds import default_feeds

        return {f.feed: f.title_zh for f in default_feeds()}
    except Exception:  # a view must not fail for a label
        return {}


def _rows(conn: sa.Connection) -> list[LinkageRow]:
    titles = _feed_titles()
    result = conn.execute(
        sa.text(
            "SELECT feed, role, records, linked_by_id, linked_probabilistic, new_persons, review_queue"
            " FROM mart.linkage_quality ORDER BY records DESC, feed, role"
        )
    )
    return [
        LinkageRow(
            feed=str(r.feed),
            role=str(r.role),
            records=int(r.records),
            linked_by_id=int(r.linked_by_id),
            linked_probabilistic=int(r.linked_probabilistic),
            new_persons=int(r.new_persons),
            review_queue=int(r.review_queue),
            feed_title=titles.get(str(r.feed), ""),
        )
        for r in result
    ]


def build(conn: sa.Connection) -> Section:
    """The linkage section as of the latest reconciliation (empty before the first one)."""
    as_of = conn.execute(sa.text("SELECT max(reference_date) FROM mart.linkage_quality")).scalar()
    if as_of is None:
        return Section(KEY, SECTION_TITLES[KEY], None, empty=EMPTY)
    rows = _rows(conn)
    records = sum(r.records for r in rows)
    by_id = sum(r.linked_by_id for r in rows)
    probabilistic = sum(r.linked_probabilistic for r in rows)
    new = sum(r.new_persons for r in rows)
    sizes = work_list_sizes(conn)
    review = sizes.get("clerical_review", ListSize(0, 0))
    corrections = sizes.get("id_corrections", ListSize(0, 0)).rows
    share_id, share_prob = _share(by_id, records), _share(probabilistic, records)
    figures = (
        Figure(
            "records_linked",
            Label("已关联记录", "Records linked"),
            records,
            f"{records:,}",
            note=Label(
                "记录中的人员角色（core.record_link 行）",
                "person roles in records (rows of core.record_link)",
            ),
        ),
        Figure(
            "share_linked_by_id",
            Label("身份证号精确关联", "Linked by exact ID"),
            share_id,
            _pct(share_id),
            "none" if share_id is None else ("ok" if share_id >= ID_SHARE_WARN else "warn"),
            Label(f"{by_id:,}条", f"{by_id:,} records"),
        ),
        Figure(
            "share_probabilistic",
            Label("概率关联", "Linked probabilistically"),
            share_prob,
            _pct(share_prob),
            note=Label(
                f"{probabilistic:,}条（含出生证规则）", f"{probabilistic:,} records (birth rules included)"
            ),
        ),
        Figure(
            "new_persons",
            Label("新建人员", "New persons"),
            new,
            f"{new:,}",
            note=Label("未能关联到已有人员的记录", "records that matched nobody"),
        ),
        Figure(
            "clerical_review",
            Label("待人工复核", "Clerical review queue"),
            review.records,
            f"{review.records:,}",
            "warn" if review.records else "ok",
            Label(
                f"不确定匹配的记录（{review.rows:,}对）",
                f"record roles in doubt ({review.rows:,} pairs)",
            ),
        ),
        Figure(
            "id_corrections",
            Label("身份证号更正建议", "ID corrections proposed"),
            corrections,
            f"{corrections:,}",
            "warn" if corrections else "ok",
            Label(
                "未通过校验但高概率关联的号码（发报送机构）",
                "invalid IDs linked with high probability, for the sender",
            ),
        ),
    )
    return Section(
        KEY,
        SECTION_TITLES[KEY],
        as_of,
        figures,
        (linkage_methods_chart(rows),),
        (linkage_table(rows),),
    )
