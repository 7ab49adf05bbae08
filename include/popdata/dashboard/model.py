"""What the population-data view and the run report show: sections of figures, charts and tables.

One view model, two renderers. The Airflow plugin (``plugins/popdata_view.py``, served by
:mod:`popdata.dashboard.app`) renders a :class:`Section` as a web page with the charts as inline
SVG; the run report (:mod:`popdata.dashboard.report`) renders every section into one
self-contained HTML file with the charts embedded as PNG and writes each chart's PNG beside it.

Every label is bilingual (:class:`Label`: 中文 / English). Nothing here may hold a raw identifier:
sections are built from the ``mart`` schema and from counts in ``audit`` and ``ops``, never from
names or identity numbers (``tests/integration/test_dashboard*.py`` scan what is rendered).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # matplotlib is imported only when a chart is drawn
    from matplotlib.figure import Figure as MplFigure

Status = Literal["ok", "warn", "bad", "none"]
"""How a value should be read: ``ok`` (green), ``warn`` (amber), ``bad`` (red), ``none`` (no judgement)."""


@dataclass(frozen=True)
class Label:
    """A bilingual label: Chinese first, English second (``中文 / English``)."""

    zh: str
    en: str

    def __str__(self) -> str:
        return f"{self.zh} / {self.en}"


@dataclass(frozen=True)
class Figure:
    """A headline number, e.g. the county's sex ratio at birth.

    ``key`` is stable and machine-readable (the page puts it in ``data-figure``, the browser test
    and the report tests look figures up by it); ``value`` is the number as computed from the
    warehouse, ``text`` how it is shown (formatted, with its unit).
    """

    key: str
    label: Label
    value: float | int | str | None
    text: str
    status: Status = "none"
    note: Label | None = None

    @property
    def data_value(self) -> str:
        """``value`` for a ``data-value`` attribute: exact, and never a run of 17+ digits.

        A float's shortest form can hold 18 digits in a row (``0.015829941203075532``), which a
        scan for identity numbers would flag; ``%.16e`` round-trips exactly and never does.
        """
        if self.value is None:
            return ""
        if isinstance(self.value, float):
            return f"{self.value:.16e}"
        return str(self.value)


@dataclass(frozen=True)
class Cell:
    """One table cell: its shown text, an optional status colour and an optional link."""

    text: str
    status: Status = "none"
    href: str | None = None


@dataclass(frozen=True)
class Table:
    """A small table (a row per feed, per town...), never a list of persons."""

    key: str
    title: Label
    columns: tuple[Label, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: Label | None = None


@dataclass(frozen=True)
class Chart:
    """A chart, drawn on demand by ``draw`` (a function returning a matplotlib figure).

    ``svg()`` is what the web page inlines (text kept as text, so the browser renders the Chinese
    labels with its own fonts and the page stays searchable); ``png()`` is what the run report
    embeds and writes as a file. ``description`` says in words what the chart shows, for readers
    of the report who cannot see it and for the page's ``aria-label``.
    """

    key: str
    title: Label
    description: Label
    draw: Callable[[], MplFigure] = field(repr=False, compare=False)

    def svg(self) -> str:
        """The chart as an SVG document (text as text, no XML declaration)."""
        from matplotlib import pyplot as plt

        figure = self.draw()
        buffer = io.StringIO()
        try:
            figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
        finally:
            plt.close(figure)
        text = buffer.getvalue()
        return text[text.index("<svg") :]

    def png(self, dpi: int = 144) -> bytes:
        """The chart as PNG bytes."""
        from matplotlib import pyplot as plt

        figure = self.draw()
        buffer = io.BytesIO()
        try:
            figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        finally:
            plt.close(figure)
        return buffer.getvalue()


SectionKey = Literal["drops", "villages", "quality", "linkage", "reconciliation"]


@dataclass(frozen=True)
class Section:
    """One section of the view (a page of the plugin, a chapter of the run report)."""

    key: SectionKey
    title: Label
    as_of: date | None
    figures: tuple[Figure, ...] = ()
    charts: tuple[Chart, ...] = ()
    tables: tuple[Table, ...] = ()
    empty: Label | None = None
    """Shown instead of the content when the warehouse has nothing for this section yet."""

    def figure(self, key: str) -> Figure:
        """The figure with this key (KeyError when there is none)."""
        for figure in self.figures:
            if figure.key == key:
                return figure
        raise KeyError(key)


SECTION_TITLES: dict[SectionKey, Label] = {
    "drops": Label("数据报送", "Drops"),
    "villages": Label("村级直报", "Village reports"),
    "quality": Label("数据质量", "Quality"),
    "linkage": Label("人员关联", "Linkage"),
    "reconciliation": Label("比对结果", "Reconciliation"),
}
