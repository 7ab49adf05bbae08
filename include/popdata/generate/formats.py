"""How values, files and manifests are written: dates, sex codes, money, CSV and XLSX.

The formats are the ones the agency extract contract lists: dates as ``2014-04-01``,
``20140401``, ``2014/4/1``, ``2014.4.1``, ``2014年4月1日`` (and real dates or serial
numbers in XLSX), sex as 男/女, 1/2 or M/F, money with separators or 元, CSV with LF or
CRLF and minimal quoting, XLSX written by openpyxl in write-only mode and made
byte-for-byte reproducible (fixed ZIP timestamps and document properties).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from openpyxl import Workbook

from popdata.generate.ids import ymd

DATE_STYLES: tuple[str, ...] = ("iso", "compact", "slash", "dot", "chinese")
SEX_STYLES: dict[str, tuple[str, str]] = {"zh": ("男", "女"), "num": ("1", "2"), "mf": ("M", "F")}
EXCEL_EPOCH = np.datetime64("1899-12-30", "D")
FIXED_ZIP_TIME = (2014, 1, 1, 0, 0, 0)
_FULLWIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")


def date_parts_to_text(y: int, m: int, d: int, style: str) -> str:
    """One date in a style (no validation: impossible dates are written as given)."""
    if style == "iso":
        return f"{y:04d}-{m:02d}-{d:02d}"
    if style == "compact":
        return f"{y:04d}{m:02d}{d:02d}"
    if style == "slash":
        return f"{y}/{m}/{d}"
    if style == "dot":
        return f"{y}.{m}.{d}"
    if style == "chinese":
        return f"{y}年{m}月{d}日"
    raise ValueError(style)


def format_dates(days: npt.NDArray[np.datetime64], style: str) -> list[str]:
    """Dates (``datetime64``; NaT gives '') as text in one style."""
    d = days.astype("datetime64[D]")
    nat = np.isnat(d)
    if style == "iso":
        txt = np.datetime_as_string(np.where(nat, np.datetime64("2000-01-01"), d), unit="D")
        return ["" if n else str(t) for t, n in zip(txt.tolist(), nat.tolist(), strict=True)]
    safe = np.where(nat, np.datetime64("2000-01-01"), d)
    y, m, dd = ymd(safe)
    return [
        "" if n else date_parts_to_text(a, b, c, style)
        for a, b, c, n in zip(y.tolist(), m.tolist(), dd.tolist(), nat.tolist(), strict=True)
    ]


def excel_serial(day: np.datetime64) -> int:
    """The Excel serial number of a date (1900 date system)."""
    return int((day.astype("datetime64[D]") - EXCEL_EPOCH).astype(np.int64))


def to_datetime(day: np.datetime64) -> dt.datetime:
    """A ``datetime`` for an XLSX date cell."""
    as_date: dt.date = day.astype("datetime64[D]").astype(dt.date)
    return dt.datetime(as_date.year, as_date.month, as_date.day)


def fullwidth(text: str) -> str:
    """Digits (and X) as full-width characters (１２０１１５…)."""
    return text.translate(_FULLWIDTH)


def scientific(id_text: str) -> str:
    """An ID as Excel shows a large number: ``1.20115E+17``."""
    digits = re.sub(r"\D", "", id_text[:17])
    return f"{float(digits + '0'):.5E}" if digits else id_text


def money_text(amount: float, style: str) -> str:
    """An amount in yuan: ``plain`` (960), ``decimal`` (960.00), ``thousands`` (1,200.00), ``yuan`` (960元)."""
    whole = float(amount).is_integer()
    if style == "plain":
        return f"{int(amount)}" if whole else f"{amount:.2f}"
    if style == "decimal":
        return f"{amount:.2f}"
    if style == "thousands":
        return f"{amount:,.2f}"
    if style == "yuan":
        return (f"{int(amount)}" if whole else f"{amount:.2f}") + "元"
    raise ValueError(style)


def csv_bytes(header: Sequence[str], columns: Sequence[Sequence[Any]], *, encoding: str, crlf: bool) -> bytes:
    """Serialise a table as CSV (minimal quoting) in an encoding; ``utf-8-sig`` adds the BOM."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n" if crlf else "\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    if columns:
        writer.writerows(zip(*columns, strict=True))
    return buf.getvalue().encode(encoding)


def xlsx_bytes(header: Sequence[str], columns: Sequence[Sequence[Any]], *, sheet: str = "Sheet1") -> bytes:
    """Serialise a table as XLSX (openpyxl write-only), reproducible byte for byte."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(list(header))
    if columns:
        for row in zip(*columns, strict=True):
            ws.append(list(row))
    fixed = dt.datetime(2014, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    raw = io.BytesIO()
    wb.save(raw)
    return _normalise_zip(raw.getvalue())


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a ZIP with fixed timestamps and fixed document dates (determinism)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>2014-01-01T00:00:00Z\g<2>",
                    content,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, content)
    return out.getvalue()


def sha256_hex(data: bytes) -> str:
    """The sha256 of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def manifest_json(
    *,
    agency: str,
    feed: str,
    extract_date: dt.date,
    rows: int,
    sha256: str,
    encoding: str,
    period_start: dt.date,
    period_end: dt.date,
) -> bytes:
    """A manifest as the agencies write it (UTF-8 JSON)."""
    doc = {
        "agency": agency,
        "feed": feed,
        "extract_date": extract_date.isoformat(),
        "rows": rows,
        "sha256": sha256,
        "encoding": encoding,
        "period_start": period_start.isoformat(),
        "period_end": period_end.isoformat(),
    }
    return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def regular_file_name(feed: str, extract: dt.date, seq: int | None, ext: str) -> str:
    """``<feed>_<YYYYMMDD>[_<seq>].<ext>`` as the contract names files."""
    suffix = f"_{seq}" if seq is not None else ""
    return f"{feed}_{extract:%Y%m%d}{suffix}.{ext}"


def irregular_file_name(feed: str, extract: dt.date, seq: int | None, ext: str, style: int) -> str:
    """A name against the convention (other separators, upper case, a missing date)."""
    suffix = f"_{seq}" if seq is not None else ""
    camel = "_".join(part.capitalize() for part in feed.split("_"))
    if style == 0:
        return f"{camel}-{extract:%Y-%m-%d}{suffix}.{ext}"
    if style == 1:
        return f"{feed.upper()}_{extract:%Y%m%d}{suffix}.{ext}"
    if style == 2:
        return f"{feed} {extract:%Y%m%d}{suffix}.{ext}"
    if style == 3:
        return f"{feed}_{extract:%Y%m}{suffix}.{ext}"
    return f"{feed}{suffix}_new.{ext}"


IRREGULAR_NAME_STYLES = 5
"""Number of irregular name styles of :func:`irregular_file_name`."""
