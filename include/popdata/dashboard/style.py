"""One look for every chart of the view and the run report: fonts that carry Chinese, colours, sizes.

matplotlib is imported lazily (the plugin's module is imported by the API server at start; a
chart costs its import only when first drawn) and always with the non-interactive ``Agg`` backend.
Chinese labels need a CJK font: the Makefile installs Debian's ``fonts-wqy-microhei``; Noto CJK
and Source Han are used when present. Without any of them the charts still render, with the
Chinese glyphs missing, and :func:`cjk_font` says so (the run report notes it).
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CJK_FONTS = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans SC",
)
"""Fonts tried in order for Chinese text."""

WIDTH_IN = 7.2
"""Default chart width in inches (about 700 px at the page's 96 dpi: two charts side by side on a laptop)."""

HEIGHT_IN = 3.6

COLORS = {
    "ok": "#2e7d32",
    "warn": "#ef6c00",
    "bad": "#c62828",
    "none": "#546e7a",
    "primary": "#1565c0",
    "secondary": "#8e24aa",
    "muted": "#90a4ae",
    "band": "#bbdefb",
}
"""Status and series colours (the page's CSS uses the same values)."""


@cache
def cjk_font() -> str | None:
    """The first installed font of :data:`CJK_FONTS`, or ``None`` when none is installed."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), None)
    if found is None:  # matplotlib caches the font list: a font installed after that is not in it
        font_manager.fontManager = font_manager._load_fontmanager(try_read_cache=False)  # type: ignore[attr-defined]
        installed = {f.name for f in font_manager.fontManager.ttflist}
        found = next((name for name in CJK_FONTS if name in installed), None)
    return found


@cache
def _configure() -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import rcParams

    font = cjk_font()
    rcParams["font.family"] = "sans-serif"
    rcParams["font.sans-serif"] = [*([font] if font else []), "DejaVu Sans"]
    rcParams["axes.unicode_minus"] = False  # CJK fonts often lack U+2212
    rcParams["svg.fonttype"] = "none"  # text stays text in SVG: the browser draws it
    rcParams["svg.hashsalt"] = "popdata"  # stable ids: the same data gives the same SVG
    rcParams["axes.spines.top"] = False
    rcParams["axes.spines.right"] = False
    rcParams["axes.grid"] = True
    rcParams["grid.alpha"] = 0.3
    rcParams["font.size"] = 9
    if font is None:
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")


def new_figure(width: float = WIDTH_IN, height: float = HEIGHT_IN) -> Figure:
    """A fresh figure with the house style (not registered with pyplot's state machine... except for closing)."""
    _configure()
    from matplotlib import pyplot as plt

    return plt.figure(figsize=(width, height), layout="constrained")


NO_DATA = "暂无数据 / no data"
"""What an empty chart says."""


def no_data_figure(
    title: str, message: str = NO_DATA, width: float = WIDTH_IN, height: float = 1.6
) -> Figure:
    """A small figure saying there is nothing to draw yet (a chart's ``draw`` on empty data)."""
    figure = new_figure(width, height)
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, loc="left", fontsize=10)
    ax.text(0.5, 0.45, message, ha="center", va="center", color=COLORS["muted"], fontsize=11)
    return figure
