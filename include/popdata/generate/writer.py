"""Turn feed tables into files in the drop zone, injecting and logging defects.

A builder (``health.py``, ``police.py``, ``fp.py``, ``stats.py``) gives a
:class:`FeedTable`: canonical values per contract column plus bookkeeping columns
(``_extract`` date, ``_period``, ``_group``, ``_key``, ``_p_<role>`` person indexes,
``_pre`` defects the builder already applied). :class:`FeedWriter` splits it into files
per extract period and office, chooses each file's style (headers, column order, extra
column, date and sex style, line ending, encoding, name), renders every value with its
defects, writes the file (and a manifest, a resend…) and reports ground truth.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from popdata.generate import formats
from popdata.generate.feeds import EXTRA_COLUMNS, ColumnSpec, FeedSpec
from popdata.generate.ids import wrong_check
from popdata.generate.names import damage, homophone_variant, to_traditional
from popdata.generate.rates import DefectRates
from popdata.generate.reference import region_names
from popdata.generate.regions import County
from popdata.generate.truth import TruthSink

PLACEHOLDER_TEXT = ("不详", "无", "-")
PLACEHOLDER_DATE = ("19000101", "1900-01-01")
ORDER_WORDS = {1: ("第一胎", "一孩"), 2: ("第二胎", "二孩"), 3: ("第三胎", "三孩"), 4: ("第四胎", "四孩")}
REJECTING_KINDS = {"damaged_text", "encoding_loss"}
ENCODING_LABEL = {"utf-8-sig": "utf-8", "utf-8": "utf-8", "gb18030": "gb18030", "gbk": "gbk", "big5": "big5"}


@dataclass(frozen=True)
class Period:
    """One extract: its date and the period it covers."""

    extract: dt.date
    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class Group:
    """One sending office's file series within a feed (format, encoding, name suffix)."""

    seq: int | None
    fmt: Literal["csv", "xlsx"]
    encoding: str
    office: str = "county"
    traditional: bool = False
    excel: bool = False
    always: bool = True


@dataclass
class FeedTable:
    """A feed's records with bookkeeping columns, ready to be written."""

    spec: FeedSpec
    frame: pd.DataFrame
    periods: list[Period]
    groups: dict[int, Group]
    incremental: bool = True
    value_defects: bool = True


@dataclass
class FileStyle:
    """The choices an office makes for one file."""

    headers: dict[str, str]
    order: list[str]
    extra: str | None
    extra_pos: int
    date_style: str
    sex_style: str
    crlf: bool
    drop_required: str | None


@dataclass
class _Cells:
    """Rendered cells of one file and the defects logged while rendering."""

    columns: dict[str, list[Any]]
    defects: list[tuple[int, str, str, str]] = field(default_factory=list)


def period_index(extract: npt.NDArray[np.datetime64], periods: list[Period]) -> npt.NDArray[np.int64]:
    """Index of the period whose end is the first on or after each date (-1 beyond the last)."""
    ends = np.array([np.datetime64(p.end, "D") for p in periods])
    idx = np.searchsorted(ends, extract.astype("datetime64[D]"), side="left").astype(np.int64)
    return np.where(idx >= len(periods), -1, idx)


class FeedWriter:
    """Writes feed tables into ``<out>/landing`` and reports truth to a :class:`TruthSink`."""

    def __init__(
        self,
        out: Path,
        county: County,
        persons: pd.DataFrame,
        rates: DefectRates,
        seed: int,
        truth: TruthSink,
        end: dt.date,
        tick: Callable[[int], None] | None = None,
    ) -> None:
        """Prepare lookups (region names, person ids) shared by all feeds."""
        self.out = out
        self.county = county
        self.rates = rates
        self.seed = seed
        self.truth = truth
        self.end = end
        self.tick = tick
        self.person_ids = persons["person_id"].to_numpy()
        v = county.villages
        self.region_name: dict[str, tuple[str, str]] = {
            str(c): (str(t), str(n)) for c, t, n in zip(v["code"], v["town_name"], v["name"], strict=True)
        }
        for c, n in zip(county.towns["code"], county.towns["name"], strict=True):
            self.region_name[str(c)] = (str(n), "")
        ref = region_names()
        self.origin_name = dict(zip(ref.origin_codes, ref.origin_names, strict=True))
        self.clerks = ref.clerks
        self.files = 0
        self.rows_by_feed: dict[str, int] = {}
        self.first_file: dict[str, dict[int, str]] = {}
        self._value_defects = True

    # ------------------------------------------------------------------ orchestration
    def write(self, table: FeedTable, feed_index: int) -> None:
        """Write every file of one feed."""
        spec = table.spec
        rng = np.random.default_rng([self.seed, 1000 + feed_index])
        frame = table.frame
        self._value_defects = table.value_defects
        if table.incremental and self.rates.correction > 0 and len(spec.key) == 1 and len(frame):
            frame = self._add_corrections(table, frame, rng)
        if "_period" not in frame.columns:
            frame = frame.assign(_period=period_index(frame["_extract"].to_numpy(), table.periods))
        if "_group" not in frame.columns:
            frame = frame.assign(_group=0)
        frame = frame[frame["_period"].to_numpy() >= 0]
        order = np.lexsort((np.arange(len(frame)), frame["_extract"].to_numpy().astype("datetime64[D]")))
        frame = frame.iloc[order]
        periods = frame["_period"].to_numpy()
        groups = frame["_group"].to_numpy()
        self.rows_by_feed.setdefault(spec.feed, 0)
        # name stems taken (any extension); the offices' own sequence numbers are reserved
        used_names: set[str] = set()
        for period in table.periods:
            for group in table.groups.values():
                if group.seq is not None:
                    used_names.add(
                        _stem(formats.regular_file_name(spec.feed, period.extract, group.seq, "x"))
                    )
        for p_idx, period in enumerate(table.periods):
            in_period = periods == p_idx
            for g_id in sorted(table.groups):
                group = table.groups[g_id]
                sel = np.flatnonzero(in_period & (groups == g_id))
                if len(sel) == 0 and not group.always:
                    continue
                rows = frame.iloc[sel]
                self._write_file(table, rows, period, group, rng, used_names)
                if self.tick is not None:
                    self.tick(len(rows))

    # ------------------------------------------------------------------ corrections
    def _add_corrections(
        self, table: FeedTable, frame: pd.DataFrame, rng: np.random.Generator
    ) -> pd.DataFrame:
        """Send some records with an error and correct them in a later extract (same key)."""
        spec = table.spec
        n = len(frame)
        extract = frame["_extract"].to_numpy().astype("datetime64[D]")
        later = extract + rng.integers(30, 120, n).astype("timedelta64[D]")
        p_now = period_index(extract, table.periods)
        p_later = period_index(later, table.periods)
        chosen = np.flatnonzero((rng.random(n) < self.rates.correction) & (p_now >= 0) & (p_later > p_now))
        if len(chosen) == 0:
            return frame
        candidates = [c for c in spec.columns if c.kind in ("name", "date", "int") and c.name not in spec.key]
        if not candidates:
            return frame
        original = frame.copy()
        pre = list(original["_pre"]) if "_pre" in original.columns else [None] * n
        columns = {c.name: original[c.name].to_numpy().copy() for c in candidates}
        fixes: list[int] = []
        for i in chosen.tolist():
            col = candidates[int(rng.integers(len(candidates)))]
            value = columns[col.name][i]
            wrong: Any = None
            if col.kind == "name" and isinstance(value, str) and value:
                wrong = homophone_variant(value, rng) or value[:-1] + value[-1] * 2
            elif col.kind == "date" and not np.isnat(np.datetime64(value, "D")):
                wrong = np.datetime64(value, "D") + np.timedelta64(int(rng.integers(1, 10)), "D")
            elif col.kind == "int" and int(value) >= 0:
                wrong = int(value) + int(rng.choice([-200, -100, 100, 200]))
            if wrong is None:
                continue
            fixes.append(i)
            columns[col.name][i] = wrong
            pre[i] = [*(pre[i] or []), (col.name, "corrected_later")]
        if not fixes:
            return frame
        extra = frame.iloc[fixes].copy()
        extra["_extract"] = later[fixes]
        extra_pre = np.empty(len(fixes), dtype=object)
        for k in range(len(fixes)):
            extra_pre[k] = [("", "correction")]
        extra["_pre"] = extra_pre
        if "_period" in extra.columns:
            extra["_period"] = p_later[fixes]
        for name, values in columns.items():
            original[name] = values
        pre_arr = np.empty(n, dtype=object)
        for k, item in enumerate(pre):
            pre_arr[k] = item
        original["_pre"] = pre_arr
        return pd.concat([original, extra], ignore_index=True)

    # ------------------------------------------------------------------ styles
    def _choose_style(self, spec: FeedSpec, group: Group, rng: np.random.Generator) -> FileStyle:
        """Headers, column order, extra column, date/sex style, line ending of one file."""
        r = self.rates
        headers: dict[str, str] = {}
        synonyms = rng.random() < r.header_synonyms
        for c in spec.columns:
            headers[c.name] = c.headers[int(rng.integers(len(c.headers)))] if synonyms else c.headers[0]
        order = list(spec.column_names)
        if rng.random() < r.shuffled_columns:
            order = [order[i] for i in rng.permutation(len(order))]
        extra = (
            EXTRA_COLUMNS[int(rng.integers(len(EXTRA_COLUMNS)))] if rng.random() < r.extra_column else None
        )
        extra_pos = int(rng.integers(len(order) + 1))
        date_style = "iso"
        if rng.random() < r.nonstandard_date_style:
            date_style = formats.DATE_STYLES[1 + int(rng.integers(len(formats.DATE_STYLES) - 1))]
        sex_style = "zh"
        if rng.random() < r.sex_code_variant:
            sex_style = ("num", "mf")[int(rng.integers(2))]
        crlf = bool(rng.random() < r.crlf)
        required = [c.name for c in spec.columns if c.required and c.name not in spec.key]
        drop = None
        if required and rng.random() < r.missing_required_column:
            drop = required[int(rng.integers(len(required)))]
        return FileStyle(headers, order, extra, extra_pos, date_style, sex_style, crlf, drop)

    # ------------------------------------------------------------------ one file
    def _write_file(
        self,
        table: FeedTable,
        rows: pd.DataFrame,
        period: Period,
        group: Group,
        rng: np.random.Generator,
        used_names: set[str],
    ) -> None:
        """Render, serialise and write one data file (plus manifest, resend, fix-up)."""
        spec = table.spec
        r = self.rates
        style = self._choose_style(spec, group, rng)
        cells = self._render(spec, rows, style, group, rng)
        ext = group.fmt
        name = self._file_name(spec.feed, period.extract, group.seq, ext, rng, used_names)
        n_rows = len(rows)
        keys = rows["_key"].to_numpy() if "_key" in rows.columns else np.full(n_rows, "", dtype=object)

        files_to_write: list[tuple[str, FileStyle, str]] = []
        if style.drop_required is not None and n_rows > 0:
            broken = FileStyle(**{**style.__dict__})
            files_to_write.append((name, broken, "missing_required_column"))
            fixed_style = FileStyle(**{**style.__dict__, "drop_required": None})
            fix_name = self._next_seq_name(spec.feed, period.extract, group.seq, ext, used_names)
            files_to_write.append((fix_name, fixed_style, "resend_complete"))
        else:
            style.drop_required = None
            files_to_write.append((name, style, ""))

        for file_name, fstyle, role in files_to_write:
            header, columns = self._assemble(spec, cells, fstyle, group, rows, rng)
            data = self._serialise(header, columns, group, fstyle)
            self._emit(spec, file_name, data)
            sha = formats.sha256_hex(data)
            manifest = False
            mismatch = False
            if rng.random() < r.manifest:
                manifest = True
                m_rows, m_sha = n_rows, sha
                if rng.random() < r.manifest_mismatch:
                    mismatch = True
                    if rng.random() < 0.5:
                        m_rows = n_rows + int(rng.integers(1, 5))
                    else:
                        m_sha = formats.sha256_hex(data + b"\n")
                self._emit(
                    spec,
                    file_name + ".manifest.json",
                    formats.manifest_json(
                        agency=spec.agency,
                        feed=spec.feed,
                        extract_date=period.extract,
                        rows=m_rows,
                        sha256=m_sha,
                        encoding=self._encoding_label(group),
                        period_start=period.start,
                        period_end=period.end,
                    ),
                )
            status = "loaded"
            file_defects: list[tuple[int, str, str, str]] = []
            if role == "missing_required_column":
                status = "quarantined"
                assert fstyle.drop_required is not None
                file_defects.append((0, fstyle.drop_required, "missing_required_column", ""))
            if mismatch:
                status = "quarantined"
                file_defects.append((0, "", "manifest_mismatch", ""))
            if n_rows == 0:
                status = "quarantined"
                file_defects.append((0, "", "no_data_rows", ""))
            if status == "loaded" and any(self._rejects(spec, d) for d in cells.defects):
                status = "loaded_with_rejections"
            for d in file_defects:
                self.truth.defect(spec.agency, spec.feed, file_name, d[0], d[1], d[2], d[3], False)
            if role != "missing_required_column" or n_rows:
                self._log_cells(spec, file_name, cells, fstyle, _physical_lines(spec, cells, group))
            self.truth.records(spec, file_name, rows, keys, self.person_ids)
            if "_ref" in rows.columns and status != "quarantined":
                seen = self.first_file.setdefault(spec.feed, {})
                for ref in rows["_ref"].to_numpy().tolist():
                    seen.setdefault(int(ref), file_name)
            self.truth.file(
                agency=spec.agency,
                feed=spec.feed,
                file_name=file_name,
                fmt=group.fmt,
                encoding=self._encoding_label(group),
                bom=group.encoding == "utf-8-sig",
                crlf=fstyle.crlf if group.fmt == "csv" else False,
                rows=n_rows,
                sha256=sha,
                manifest=manifest,
                extract_date=period.extract,
                period_start=period.start,
                period_end=period.end,
                date_style=fstyle.date_style,
                sex_style=fstyle.sex_style,
                headers=[fstyle.headers.get(c, c) for c in fstyle.order if c != fstyle.drop_required],
                extra_column=fstyle.extra or "",
                office=group.office,
                traditional=group.traditional,
                irregular_name=file_name
                != formats.regular_file_name(
                    spec.feed, period.extract, _seq_of(file_name, spec.feed, period.extract, ext), ext
                ),
                resend_of="",
                expected_status=status,
            )
            self.files += 1
            self.rows_by_feed[spec.feed] = self.rows_by_feed.get(spec.feed, 0) + n_rows
            if role == "" and rng.random() < r.resend:
                again = self._next_seq_name(spec.feed, period.extract, group.seq, ext, used_names)
                self._emit(spec, again, data)
                self.truth.defect(spec.agency, spec.feed, again, 0, "", "resend", file_name, False)
                self.truth.file(
                    agency=spec.agency,
                    feed=spec.feed,
                    file_name=again,
                    fmt=group.fmt,
                    encoding=self._encoding_label(group),
                    bom=group.encoding == "utf-8-sig",
                    crlf=fstyle.crlf if group.fmt == "csv" else False,
                    rows=n_rows,
                    sha256=sha,
                    manifest=False,
                    extract_date=period.extract,
                    period_start=period.start,
                    period_end=period.end,
                    date_style=fstyle.date_style,
                    sex_style=fstyle.sex_style,
                    headers=[fstyle.headers.get(c, c) for c in fstyle.order],
                    extra_column=fstyle.extra or "",
                    office=group.office,
                    traditional=group.traditional,
                    irregular_name=False,
                    resend_of=file_name,
                    expected_status="duplicate",
                )
                self.files += 1
                self.rows_by_feed[spec.feed] += n_rows

    def _rejects(self, spec: FeedSpec, defect: tuple[int, str, str, str]) -> bool:
        """Does this defect make the platform reject the row?

        Damaged text and impossible dates reject a row in a required column; in an
        optional column the value loads as null with a warning (AGENCY_EXTRACTS.md §2).
        """
        _, column, kind, _ = defect
        if kind in REJECTING_KINDS or kind == "impossible_date":
            return column in spec.column_names and spec.column(column).required
        return False

    def _log_cells(
        self, spec: FeedSpec, file_name: str, cells: _Cells, style: FileStyle, physical: npt.NDArray[np.int64]
    ) -> None:
        """Report the value-level defects of one file (skipping a dropped column)."""
        for pos, column, kind, value in cells.defects:
            if column and column == style.drop_required:
                continue
            self.truth.defect(
                spec.agency,
                spec.feed,
                file_name,
                pos + 2,
                column,
                kind,
                value,
                self._rejects(spec, (pos, column, kind, value)),
                int(physical[pos]),
            )

    def _encoding_label(self, group: Group) -> str:
        """The encoding as a manifest names it (XLSX is UTF-8 XML)."""
        return "utf-8" if group.fmt == "xlsx" else ENCODING_LABEL[group.encoding]

    def _file_name(
        self, feed: str, extract: dt.date, seq: int | None, ext: str, rng: np.random.Generator, used: set[str]
    ) -> str:
        """The file's name: regular, or (rarely) irregular; unique within the folder."""
        name = formats.regular_file_name(feed, extract, seq, ext)
        if rng.random() < self.rates.irregular_file_name:
            style = int(rng.integers(formats.IRREGULAR_NAME_STYLES))
            candidate = formats.irregular_file_name(feed, extract, seq, ext, style)
            if _stem(candidate) not in used:
                name = candidate
        used.add(_stem(name))
        return name

    def _next_seq_name(self, feed: str, extract: dt.date, seq: int | None, ext: str, used: set[str]) -> str:
        """The next free ``<feed>_<date>_<n>.<ext>`` name (resends and fix-ups)."""
        n = (seq or 1) + 1
        while True:
            name = formats.regular_file_name(feed, extract, n, ext)
            if _stem(name) not in used:
                used.add(_stem(name))
                return name
            n += 1

    def _emit(self, spec: FeedSpec, name: str, data: bytes) -> None:
        """Write bytes to ``landing/<agency>/<feed>/<name>``."""
        folder = self.out / "landing" / spec.agency / spec.feed
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)

    # ------------------------------------------------------------------ assembling
    def _assemble(
        self,
        spec: FeedSpec,
        cells: _Cells,
        style: FileStyle,
        group: Group,
        rows: pd.DataFrame,
        rng: np.random.Generator,
    ) -> tuple[list[str], list[list[Any]]]:
        """Header and columns in the file's order, with the extra column."""
        header: list[str] = []
        columns: list[list[Any]] = []
        for name in style.order:
            if name == style.drop_required:
                continue
            header.append(style.headers[name])
            columns.append(cells.columns[name])
        if style.extra is not None:
            pos = min(style.extra_pos, len(header))
            header.insert(pos, style.extra)
            columns.insert(pos, cells.columns["__extra__"])
        if group.traditional:
            header = to_traditional(header)
        return header, columns

    def _serialise(
        self, header: list[str], columns: list[list[Any]], group: Group, style: FileStyle
    ) -> bytes:
        """CSV or XLSX bytes of one file."""
        if group.fmt == "xlsx":
            xl_cols = [[None if v == "" else v for v in col] for col in columns]
            return formats.xlsx_bytes(header, xl_cols)
        return formats.csv_bytes(header, columns, encoding=group.encoding, crlf=style.crlf)

    # ------------------------------------------------------------------ rendering
    def _render(
        self, spec: FeedSpec, rows: pd.DataFrame, style: FileStyle, group: Group, rng: np.random.Generator
    ) -> _Cells:
        """Render every column's values with the file's style and the value defects."""
        cells = _Cells(columns={})
        n = len(rows)
        for col in spec.columns:
            if not self._value_defects:
                cells.columns[col.name] = self._plain_column(col, rows, style, group)
                continue
            cells.columns[col.name] = self._render_column(col, rows, style, group, rng, cells)
        if style.extra is not None:
            cells.columns["__extra__"] = self._extra_values(style.extra, n, style, group, rng)
        pre = rows["_pre"].to_numpy() if "_pre" in rows.columns else None
        if pre is not None:
            for pos, items in enumerate(pre):
                if not items:
                    continue
                for column, kind in items:
                    value = cells.columns[column][pos] if column else ""
                    cells.defects.append((pos, column, kind, _text(value)))
        if group.traditional:
            self._traditional_file(cells)
        if group.encoding in ("gbk", "big5") and group.fmt == "csv":
            self._encoding_loss(cells, group.encoding)
        return cells

    def _plain_column(self, col: ColumnSpec, rows: pd.DataFrame, style: FileStyle, group: Group) -> list[Any]:
        """A column of a reference feed: the file's formats, no value defects."""
        values = rows[col.name].to_numpy()
        xlsx = group.fmt == "xlsx"
        if col.kind in ("int", "year", "order"):
            return [int(v) if xlsx else str(int(v)) for v in values]
        if col.kind == "date":
            days = pd.to_datetime(pd.Series(values)).to_numpy().astype("datetime64[D]")
            return list(formats.format_dates(days, style.date_style))
        return ["" if v is None else str(v) for v in values]

    def _render_column(
        self,
        col: ColumnSpec,
        rows: pd.DataFrame,
        style: FileStyle,
        group: Group,
        rng: np.random.Generator,
        cells: _Cells,
    ) -> list[Any]:
        """Render one column (dispatch on the column's kind)."""
        values = rows[col.name].to_numpy()
        log = cells.defects
        xlsx = group.fmt == "xlsx"
        if col.kind in ("date", "birth_datetime"):
            minutes = rows[col.name + "__minute"].to_numpy() if col.kind == "birth_datetime" else None
            return self._dates(col, values, minutes, style, xlsx, rng, log)
        if col.kind == "id":
            return self._ids(col, values, group, rng, log)
        if col.kind == "name":
            return self._names(col, values, rng, log)
        if col.kind == "sex":
            male_txt, female_txt = formats.SEX_STYLES[style.sex_style]
            return [male_txt if v == "M" else female_txt if v == "F" else "" for v in values]
        if col.kind == "region":
            return self._regions(col, values, rng, log)
        if col.kind == "hukou_region":
            return self._hukou_regions(values, rng)
        if col.kind == "address":
            return self._addresses(col, values, rng, log)
        if col.kind in ("int", "year", "order"):
            return self._ints(col, values, xlsx, rng, log)
        if col.kind == "money":
            return self._money(col, values, xlsx, rng, log)
        if col.kind in ("text", "code") and not col.required:
            return self._optional_text(col, values, rng, log)
        return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]

    def _mask(self, rng: np.random.Generator, n: int, rate: float) -> npt.NDArray[np.bool_]:
        """Which of ``n`` values get a defect of probability ``rate``."""
        if rate <= 0 or n == 0:
            return np.zeros(n, dtype=bool)
        return rng.random(n) < rate

    def _dates(
        self,
        col: ColumnSpec,
        values: npt.NDArray[Any],
        minutes: npt.NDArray[Any] | None,
        style: FileStyle,
        xlsx: bool,
        rng: np.random.Generator,
        log: list[tuple[int, str, str, str]],
    ) -> list[Any]:
        """Dates in the file's style; mixed styles, Excel cells, times, impossible dates, placeholders."""
        r = self.rates
        days = pd.to_datetime(pd.Series(values)).to_numpy().astype("datetime64[D]")
        n = len(days)
        out: list[Any] = list(formats.format_dates(days, style.date_style))
        nat = np.isnat(days)
        mixed = self._mask(rng, n, r.mixed_date_style) & ~nat
        for i in np.flatnonzero(mixed).tolist():
            other = formats.DATE_STYLES[int(rng.integers(len(formats.DATE_STYLES)))]
            out[i] = formats.format_dates(days[i : i + 1], other)[0]
        if minutes is not None:
            timed = self._mask(rng, n, r.birth_time) & ~nat & (minutes >= 0)
            for i in np.flatnonzero(timed).tolist():
                m = int(minutes[i])
                out[i] = f"{out[i]} {m // 60:02d}:{m % 60:02d}"
        if xlsx:
            u = rng.random(n)
            for i in np.flatnonzero(~nat).tolist():
                if u[i] < r.excel_date_cell:
                    out[i] = formats.to_datetime(days[i])
                elif u[i] < r.excel_date_cell + r.excel_serial_date:
                    out[i] = formats.excel_serial(days[i])
        impossible = self._mask(rng, n, r.impossible_date) & ~nat
        for i in np.flatnonzero(impossible).tolist():
            y = int(days[i].astype("datetime64[Y]").astype(np.int64)) + 1970
            m, d = ((2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31), (13, 1))[int(rng.integers(7))]
            out[i] = formats.date_parts_to_text(y, m, d, style.date_style)
            log.append((i, col.name, "impossible_date", out[i]))
        if not col.required:
            ph = self._mask(rng, n, r.placeholder) & ~impossible
            for i in np.flatnonzero(ph).tolist():
                out[i] = PLACEHOLDER_DATE[int(rng.integers(2))] if rng.random() < 0.6 else "不详"
                log.append((i, col.name, "placeholder", out[i]))
        return out

    def _ids(
        self,
        col: ColumnSpec,
        values: npt.NDArray[Any],
        group: Group,
        rng: np.random.Generator,
        log: list[tuple[int, str, str, str]],
    ) -> list[Any]:
        """Identity numbers with wrong checks, Excel mangling, blanks, width and spacing defects."""
        r = self.rates
        out: list[Any] = ["" if v is None else str(v) for v in values]
        n = len(out)
        present = np.array([len(v) > 0 for v in out], dtype=bool)
        full18 = np.array([len(v) == 18 for v in out], dtype=bool)
        for i in np.flatnonzero(self._mask(rng, n, r.wrong_check_character) & full18).tolist():
            out[i] = wrong_check(out[i], rng)
            log.append((i, col.name, "wrong_check_character", out[i]))
        if group.excel:
            sci = self._mask(rng, n, r.scientific_notation_id) & full18
            for i in np.flatnonzero(sci).tolist():
                if not out[i][-1].isdigit():
                    continue
                out[i] = float(out[i]) if group.fmt == "xlsx" else formats.scientific(out[i])
                log.append((i, col.name, "scientific_notation_id", _text(out[i])))
        if not col.required:
            for i in np.flatnonzero(self._mask(rng, n, r.missing_id) & present).tolist():
                log.append((i, col.name, "missing_id", ""))
                out[i] = ""
        self._decorate(col, out, rng, log, digits=True)
        return out

    def _decorate(
        self,
        col: ColumnSpec,
        out: list[Any],
        rng: np.random.Generator,
        log: list[tuple[int, str, str, str]],
        *,
        digits: bool,
    ) -> None:
        """Full-width digits, leading apostrophe, ideographic and stray spaces (in place)."""
        r = self.rates
        n = len(out)
        textual = np.array([isinstance(v, str) and len(v) > 0 for v in out], dtype=bool)
        if digits:
            for i in np.flatnonzero(self._mask(rng, n, r.fullwidth_digits) & textual).tolist():
                out[i] = formats.fullwidth(out[i])
                log.append((i, col.name, "fullwidth_digits", out[i]))
            for i in np.flatnonzero(self._mask(rng, n, r.leading_apostrophe) & textual).tolist():
                out[i] = "'" + out[i]
                log.append((i, col.name, "leading_apostrophe", out[i]))
        for i in np.flatnonzero(self._mask(rng, n, r.ideographic_space) & textual).tolist():
            out[i] = "\u3000" + out[i] if rng.random() < 0.5 else out[i] + "\u3000"
            log.append((i, col.name, "ideographic_space", out[i]))
        for i in np.flatnonzero(self._mask(rng, n, r.stray_space) & textual).tolist():
            out[i] = " " + out[i] if rng.random() < 0.5 else out[i] + " "
            log.append((i, col.name, "stray_space", out[i]))

    def _names(
        self,
        col: ColumnSpec,
        values: npt.NDArray[Any],
        rng: np.random.Generator,
        log: list[tuple[int, str, str, str]],
    ) -> list[Any]:
        """Names with homophone spellings, Traditional script, damage and spacing."""
        r = self.rates
        out: list[Any] = ["" if v is None else str(v) for v in values]
        n = len(out)
        present = np.array([len(v) > 0 for v in out], dtype=bool)
        for i in np.flatnonzero(self._mask(rng, n, r.name_variant) & present).tolist():
            variant = homophone_variant(out[i], rng)
            if variant is not None:
                out[i] = variant
                log.append((i, col.name, "name_variant", variant))
        trad = np.flatnonzero(self._mask(rng, n, r.traditional_script) & present).tolist()
        if trad:
            converted = to_traditional([out[i] for i in trad])
            for i, t in zip(trad, converted, strict=True):
                if t != out[i]:
                    out[i] = t
                    log.append((i, col.name, "traditional_script", t))
        for i in np.flatnonzero(self._mask(rng, n, r.damaged_text) & present).tolist():
            out[i] = damage(out[i], rng, allow_fffd=True)
            log.append((i, col.name, "damaged_text", out[i]))
        self._decorate(col, out, rng, log, digits=False)
        return out

    def _addresses(
        self,
        col: ColumnSpec,
        values: npt.NDArray[Any],
        rng: np.random.Generator,
        log: list[tuple[int, str, str, str]],
    ) -> list[Any]:
        """Addresses with commas, quotes or newlines inside, and Traditional script."""
        r = self.rates
        out: list[Any] = ["" if v is None else str(v) for v in values]
        n = len(out)
        present = np.array([len(v) > 0 for v in out], dtype=bool)
        for i in np.flatnonzero(self._mask(rng, n, r.quoted_address) & present).tolist():
            kind = int(rng.integers(3))
            value = out[i]
            if kind == 0:
                out[i] = value + ", 前街"
            elif kind == 1:
                cut = max(value.find("村"), value.find("社区") + 1, 6)
                out[i] = value[: cut + 1] + '"老宅"' + value[cut + 1 :]
            else:
                out[i] = value + "\n(东头)"
            log.append((i, col.name, ("address_comma", "address_quote", "address_newline")[kind], out[i]))
        trad = np.flatnonzero(self._mask(rng, n, r.traditional_script) & present).tolist()
        if trad:
            converted = to_traditional([out[i] for i in trad])
            for i, t in zip(trad, converted, strict=True):
                if t != out[i]:
                    out[i] = t
                    log.append((i, col.name, "traditional_script", t))
        return out

    def _regions(
        self,
        col: ColumnSpec,
        values: npt.NDArray[Any],
        rng: np.random.Generator,
        log: list[tuple[int, str, str, str]],
    ) -> list[Any]:
        """12-digit region codes, sometimes a 6/9-digit prefix or a name (maybe Traditional)."""
        r = self.rates
        out: list[Any] = ["" if v is None else str(v) for v in values]
        n = len(out)
        u = rng.random(n)
        present = np.array([len(v) == 12 for v in out], dtype=bool)
        named: list[int] = []
        for i in np.flatnonzero(present & (u < r.region_name)).tolist():
            town, village = self.region_name.get(out[i], ("", ""))
            if not town:
                continue
            form = int(rng.integers(3))
            if form == 0 or not village:
                text = town
            elif form == 1:
                text = town + village
            else:
                text = self.county.name + town + village
            out[i] = text
            named.append(i)
            log.append((i, col.name, "region_name", text))
        prefix = present & (u >= r.region_name) & (u < r.region_name + r.region_prefix)
        for i in np.flatnonzero(prefix).tolist():
            out[i] = out[i][:6] if rng.random() < 0.3 else out[i][:9]
            log.append((i, col.name, "region_prefix", out[i]))
        if named:
            trad = [i for i in named if rng.random() < r.traditional_script * 5]
            converted = to_traditional([out[i] for i in trad])
            for i, t in zip(trad, converted, strict=True):
                if t != out[i]:
                    out[i] = t
                    log.append((i, col.name, "traditional_script", t))
        codes = np.array([isinstance(v, str) and v.isdigit() for v in out], dtype=bool)
        for i in np.flatnonzero(self._mask(rng, n, r.fullwidth_digits) & codes).tolist():
            out[i] = formats.fullwidth(out[i])
            log.append((i, col.name, "fullwidth_digits", out[i]))
        return out

    def _hukou_regions(self, values: npt.NDArray[Any], rng: np.random.Generator) -> list[Any]:
        """Migrants' home county: 6 digits, 12 digits or the full name (as offices vary)."""
        out: list[Any] = []
        u = rng.random(len(values))
        for v, x in zip(values, u, strict=True):
            code = "" if v is None else str(v)
            if not code:
                out.append("")
            elif x < 0.4:
                out.append(code)
            elif x < 0.7:
                out.append(code + "000000")
            else:
                out.append(self.origin_name.get(code, code))
        return out

    def _ints(
        self,
        col: ColumnSpec,
        values: npt.NDArray[Any],
        xlsx: bool,
        rng: np.random.Generator,
        log: list[tuple[int, str, str, str]],
    ) -> list[Any]:
        """Integers (-1 blank); birth orders sometimes in words (第二胎, 二孩)."""
        out: list[Any] = []
        for v in values:
            iv = int(v)
            out.append("" if iv < 0 else (iv if xlsx else str(iv)))
        if col.kind == "order":
            for i in np.flatnonzero(self._mask(rng, len(out), self.rates.birth_order_words)).tolist():
                iv = int(values[i])
                if iv in ORDER_WORDS:
                    out[i] = ORDER_WORDS[iv][int(rng.integers(2))]
                    log.append((i, col.name, "birth_order_words", out[i]))
        return out

    def _money(
        self,
        col: ColumnSpec,
        values: npt.NDArray[Any],
        xlsx: bool,
        rng: np.random.Generator,
        log: list[tuple[int, str, str, str]],
    ) -> list[Any]:
        """Amounts: numbers, or text with separators or 元."""
        out: list[Any] = []
        fancy = self._mask(rng, len(values), self.rates.money_format)
        for i, v in enumerate(values):
            if v is None or np.isnan(v):
                out.append("")
                continue
            amount = float(v)
            if fancy[i]:
                style = ("thousands", "yuan", "decimal")[int(rng.integers(3))]
                text = formats.money_text(amount, style)
                out.append(text)
                log.append((i, col.name, "money_format", text))
            elif xlsx:
                out.append(int(amount) if amount.is_integer() else amount)
            else:
                out.append(formats.money_text(amount, "plain"))
        return out

    def _optional_text(
        self,
        col: ColumnSpec,
        values: npt.NDArray[Any],
        rng: np.random.Generator,
        log: list[tuple[int, str, str, str]],
    ) -> list[Any]:
        """Optional text and codes; a few placeholders (不详, 无, -)."""
        out: list[Any] = ["" if v is None else str(v) for v in values]
        present = np.array([len(v) > 0 for v in out], dtype=bool)
        for i in np.flatnonzero(self._mask(rng, len(out), self.rates.placeholder) & present).tolist():
            out[i] = PLACEHOLDER_TEXT[int(rng.integers(len(PLACEHOLDER_TEXT)))]
            log.append((i, col.name, "placeholder", out[i]))
        return out

    def _extra_values(
        self, header: str, n: int, style: FileStyle, group: Group, rng: np.random.Generator
    ) -> list[Any]:
        """Values of an office's extra column."""
        if header == "序号":
            return [str(i + 1) if group.fmt == "csv" else i + 1 for i in range(n)]
        if header == "备注":
            notes = ("", "", "", "已核实", "待核实", "补录", "更正, 见附件")
            return [notes[int(k)] for k in rng.integers(len(notes), size=n)]
        if header in ("经办人", "录入人"):
            return [self.clerks[int(k)] for k in rng.integers(len(self.clerks), size=n)]
        if header == "数据来源":
            src = ("系统导出", "乡镇上报", "手工录入")
            return [src[int(k)] for k in rng.integers(len(src), size=n)]
        if header == "更新标志":
            flags = ("0", "1", "")
            return [flags[int(k)] for k in rng.integers(len(flags), size=n)]
        base = np.datetime64(self.end, "D") - rng.integers(0, 900, size=n).astype("timedelta64[D]")
        return list(formats.format_dates(base, "iso"))

    def _traditional_file(self, cells: _Cells) -> None:
        """A Traditional-script office: every text cell goes through OpenCC ``s2t``."""
        for name, column in cells.columns.items():
            idx = [i for i, v in enumerate(column) if isinstance(v, str) and v and not v.isascii()]
            if not idx:
                continue
            converted = to_traditional([column[i] for i in idx])
            for i, t in zip(idx, converted, strict=True):
                if t != column[i]:
                    column[i] = t
                    if name != "__extra__":
                        cells.defects.append((i, name, "traditional_script", t))

    def _encoding_loss(self, cells: _Cells, encoding: str) -> None:
        """Characters the file's encoding lacks become ``?`` (GBK lacks 生僻字, Big5 more)."""
        for name, column in cells.columns.items():
            for i, v in enumerate(column):
                if not isinstance(v, str) or v.isascii():
                    continue
                try:
                    v.encode(encoding)
                except UnicodeEncodeError:
                    lossy = v.encode(encoding, errors="replace").decode(encoding)
                    column[i] = lossy
                    if name != "__extra__":
                        cells.defects.append((i, name, "encoding_loss", lossy))


def _physical_lines(spec: FeedSpec, cells: _Cells, group: Group) -> npt.NDArray[np.int64]:
    """Physical line where each record starts (quoted addresses may span lines in a CSV)."""
    any_col = next(iter(cells.columns.values()), [])
    n = len(any_col)
    start = np.arange(n, dtype=np.int64) + 2
    if group.fmt != "csv" or n == 0:
        return start
    extra = np.zeros(n, dtype=np.int64)
    for c in spec.columns:
        if c.kind != "address":
            continue
        for i, v in enumerate(cells.columns[c.name]):
            if isinstance(v, str) and "\n" in v:
                extra[i] += v.count("\n")
    if not extra.any():
        return start
    return start + np.concatenate([[0], np.cumsum(extra)[:-1]])


def _stem(file_name: str) -> str:
    """A file name without its extension (names are unique per stem within a folder)."""
    return file_name.rsplit(".", 1)[0]


def _text(value: Any) -> str:
    """A cell value as text for the defect log."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return "" if value is None else str(value)


def _seq_of(file_name: str, feed: str, extract: dt.date, ext: str) -> int | None:
    """The ``_<seq>`` of a regular file name (None when absent or irregular)."""
    stem = f"{feed}_{extract:%Y%m%d}"
    if file_name == f"{stem}.{ext}":
        return None
    if file_name.startswith(stem + "_") and file_name.endswith("." + ext):
        middle = file_name[len(stem) + 1 : -len(ext) - 1]
        if middle.isdigit():
            return int(middle)
    return None
