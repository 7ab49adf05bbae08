"""The run report: every section of the view in one self-contained HTML file, and each chart as a PNG.

``write_run_report(engine, outbox, reference_date)`` writes::

    <outbox>/reports/<YYYY-MM-DD>/popdata_report_<YYYY-MM-DD>.html
    <outbox>/reports/<YYYY-MM-DD>/<section>__<chart>.png      (one per chart)

The HTML needs nothing else: its CSS is inline, every chart is embedded as a base64 PNG ``data:``
URI (its ``alt`` text is the chart's description), it loads no script, font or stylesheet and
links nowhere (cell links of the web view are dropped, their text kept). It is rendered by Jinja2
from ``templates/report.html`` with autoescaping on.

A report for a date that already has one replaces it as a whole: the files are written into a
temporary folder beside the target, which is then swapped in (the old folder is renamed aside
first and removed after), so no stale PNG of an earlier run stays behind and a reader never sees
a half-written folder.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from popdata.dashboard.model import Label, Section

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "report.html"
TIMEZONE = ZoneInfo("Asia/Shanghai")
"""The report's clock: when it was generated is shown in Beijing time."""

TITLE = Label("人口数据运行报告", "Population data run report")

_SAFE_NAME = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_run_report` wrote."""

    folder: Path
    """``<outbox>/reports/<YYYY-MM-DD>``."""
    html: Path
    """The self-contained HTML report."""
    pngs: tuple[Path, ...]
    """One PNG per chart, in the report's order."""


def report_folder(outbox: Path, reference_date: date) -> Path:
    """``<outbox>/reports/<YYYY-MM-DD>``: where the report of ``reference_date`` lives."""
    return Path(outbox) / "reports" / reference_date.isoformat()


def report_path(outbox: Path, reference_date: date) -> Path:
    """``<outbox>/reports/<YYYY-MM-DD>/popdata_report_<YYYY-MM-DD>.html``."""
    return report_folder(outbox, reference_date) / f"popdata_report_{reference_date.isoformat()}.html"


def png_name(section_key: str, chart_key: str) -> str:
    """``<section>__<chart>.png`` (keys are checked: lower-case letters, digits and ``_`` only)."""
    for key in (section_key, chart_key):
        if not _SAFE_NAME.match(key):
            raise ValueError(f"unsafe key for a file name: {key!r}")
    return f"{section_key}__{chart_key}.png"


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_report(
    sections: Sequence[Section],
    reference_date: date,
    generated_at: datetime,
    pngs: dict[tuple[str, str], bytes],
) -> str:
    """The report's HTML for ``sections``, with the PNG bytes of each (section, chart) embedded."""
    from popdata.dashboard.style import cjk_font

    view: list[dict[str, Any]] = []
    for section in sections:
        view.append(
            {
                "key": section.key,
                "title": section.title,
                "as_of": section.as_of.isoformat() if section.as_of else None,
                "empty": section.empty,
                "figures": [{"figure": f, "value": f.data_value} for f in section.figures],
                "charts": [
                    {
                        "chart": c,
                        "file": png_name(section.key, c.key),
                        "src": "data:image/png;base64,"
                        + base64.b64encode(pngs[(section.key, c.key)]).decode("ascii"),
                    }
                    for c in section.charts
                ],
                "tables": section.tables,
            }
        )
    template = _environment().get_template(TEMPLATE)
    html: str = template.render(
        title=TITLE,
        reference_date=reference_date.isoformat(),
        generated_at=generated_at.isoformat(timespec="seconds"),
        sections=view,
        missing_font=cjk_font() is None,
    )
    return html


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` (both folders of the same parent)."""
    old: Path | None = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _clear_leftovers(parent: Path, name: str) -> None:
    """Remove temporary folders a crashed earlier run of the same date left behind."""
    for leftover in parent.glob(f".{name}.*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


def write_run_report(
    engine: sa.Engine,
    outbox: Path,
    reference_date: date,
    sections: Sequence[Section] | None = None,
    *,
    generated_at: datetime | None = None,
) -> ReportFiles:
    """Write the run report of ``reference_date`` into ``<outbox>/reports/<YYYY-MM-DD>/``.

    ``sections`` defaults to every section built from ``engine``
    (:func:`popdata.dashboard.sections.build_sections`, read-only); pass them to report given
    sections. ``generated_at`` defaults to now (Beijing time). An existing report of the same date
    is replaced as a whole.
    """
    if sections is None:
        from popdata.dashboard.sections import build_sections

        with engine.connect() as conn:
            sections = build_sections(conn)
    generated = generated_at or datetime.now(TIMEZONE)
    target = report_folder(outbox, reference_date)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clear_leftovers(target.parent, target.name)
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        pngs: dict[tuple[str, str], bytes] = {}
        names: list[str] = []
        for section in sections:
            for chart in section.charts:
                name = png_name(section.key, chart.key)
                if (section.key, chart.key) in pngs:
                    raise ValueError(f"two charts would be written as {name}")
                data = chart.png()
                pngs[(section.key, chart.key)] = data
                (staging / name).write_bytes(data)
                names.append(name)
        html_name = report_path(outbox, reference_date).name
        html = render_report(sections, reference_date, generated, pngs)
        (staging / html_name).write_text(html, encoding="utf-8")
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ReportFiles(target, target / html_name, tuple(target / name for name in names))
