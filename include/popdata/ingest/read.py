"""Read an agency file into header + rows of text, with physical line numbers.

Decoding follows AGENCY_EXTRACTS.md §2: UTF-8 with or without BOM, GBK,
GB18030 and Big5, none declared in the file. A manifest's ``encoding`` is a
hint: when the bytes do not decode with it, that is reported and detection
goes on. Between GB18030 and Big5, which often both decode the same bytes, the
feed's own headers decide (a right decoding yields headers the contract
knows); the ``charset-normalizer`` library breaks any remaining tie.

A file that cannot be read raises :class:`FileRejected` with a reason code;
the caller quarantines it.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from popdata.config.feeds import Feed, normalise_header

# Quarantine reason codes of files.
UNDECODABLE = "file_undecodable"
NOT_XLSX = "file_not_xlsx"
UNSUPPORTED_FORMAT = "file_unsupported_format"
TOO_LARGE = "file_too_large"
EMPTY = "file_empty"
NO_DATA_ROWS = "file_no_data_rows"
MISSING_COLUMNS = "file_missing_required_columns"
MANIFEST_ROWS = "manifest_rows_mismatch"
MANIFEST_SHA256 = "manifest_sha256_mismatch"
MANIFEST_UNREADABLE = "manifest_unreadable"
MANIFEST_FEED = "manifest_feed_mismatch"

# Irregularities reported on a file that still loads.
ENCODING_HINT_WRONG = "manifest_encoding_wrong"
ENCODING_UNEXPECTED = "encoding_unexpected"

_CANDIDATES = ("gb18030", "big5")


class FileRejected(Exception):
    """The file cannot be loaded at all; ``reason`` is a quarantine reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class RawTable:
    """A file as text: its headers, its data rows and where each row starts in the file."""

    headers: list[str]
    rows: list[list[str | None]]
    line_nos: list[int]
    encoding: str
    irregularities: set[str] = field(default_factory=set)


def read_file(path: Path, feed: Feed, *, encoding_hint: str | None = None, max_bytes: int) -> RawTable:
    """Read ``path`` (CSV or XLSX) into a :class:`RawTable`, or raise :class:`FileRejected`."""
    size = path.stat().st_size
    if size > max_bytes:
        raise FileRejected(TOO_LARGE, f"{size} bytes is over the limit of {max_bytes}")
    if size == 0:
        raise FileRejected(EMPTY, "the file is empty")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        table = read_xlsx(path)
    elif suffix == ".csv":
        table = read_csv_bytes(path.read_bytes(), feed, encoding_hint=encoding_hint)
    else:
        raise FileRejected(UNSUPPORTED_FORMAT, f"{path.suffix or 'no suffix'} is neither .csv nor .xlsx")
    if not table.headers or all(not h for h in table.headers):
        raise FileRejected(EMPTY, "no header row")
    if not table.rows:
        raise FileRejected(NO_DATA_ROWS, "a header but no data rows")
    return table


def decode(data: bytes, feed: Feed, *, encoding_hint: str | None = None) -> tuple[str, str, set[str]]:
    """Decode file bytes: returns (text, encoding name, irregularities)."""
    irregular: set[str] = set()
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig", irregular
        except UnicodeDecodeError as exc:
            raise FileRejected(UNDECODABLE, f"starts with a UTF-8 BOM but is not UTF-8: {exc}") from exc
    hint = _canonical(encoding_hint) if encoding_hint else None
    if hint:
        try:
            text = data.decode(hint)
        except (UnicodeDecodeError, LookupError):
            irregular.add(ENCODING_HINT_WRONG)
        else:
            if hint not in ("gb18030", "big5") or _header_score(text, feed) > 0:
                return text, _report_name(hint, data), irregular
            irregular.add(ENCODING_HINT_WRONG)
    try:
        return data.decode("utf-8"), "utf-8", irregular
    except UnicodeDecodeError:
        pass
    decoded: dict[str, str] = {}
    for name in _CANDIDATES:
        try:
            decoded[name] = data.decode(name)
        except UnicodeDecodeError:
            continue
    if not decoded:
        raise FileRejected(UNDECODABLE, "the bytes are not UTF-8, GBK, GB18030 or Big5")
    if len(decoded) == 1:
        name, text = next(iter(decoded.items()))
        return text, _report_name(name, data), irregular
    scores = {name: _header_score(text, feed) for name, text in decoded.items()}
    best = max(scores.values())
    leaders = [n for n, s in scores.items() if s == best]
    name = leaders[0] if len(leaders) == 1 else _charset_normalizer_choice(data, leaders)
    return decoded[name], _report_name(name, data), irregular


def _canonical(name: str) -> str | None:
    lowered = name.strip().lower().replace("_", "-")
    aliases = {
        "utf8": "utf-8",
        "utf-8": "utf-8",
        "utf-8-sig": "utf-8-sig",
        "gbk": "gb18030",
        "cp936": "gb18030",
        "gb2312": "gb18030",
        "gb18030": "gb18030",
        "big5": "big5",
        "cp950": "big5",
    }
    return aliases.get(lowered)


def _report_name(name: str, data: bytes) -> str:
    """GB18030 bytes that are also valid GBK are reported as GBK (what the office's system says)."""
    if name == "gb18030":
        try:
            data.decode("gbk")
        except UnicodeDecodeError:
            return "gb18030"
        return "gbk"
    return name


def _header_score(text: str, feed: Feed) -> int:
    """How many headers of the first line the feed knows (Traditional headers count after t2s)."""
    first = text.split("\n", 1)[0]
    known = feed.header_map()
    headers = [normalise_header(h) for h in next(csv.reader([first]), [])]
    score = sum(1 for h in headers if h in known)
    if score < len(headers):
        from popdata.normalize.text import to_simplified

        simplified = to_simplified(headers)
        score = max(score, sum(1 for h in simplified if h is not None and h in known))
    return score


def _charset_normalizer_choice(data: bytes, names: list[str]) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 1 << 16], cp_isolation=names).best()
    if best is not None and best.encoding in names:
        return best.encoding
    return names[0]


def read_csv_bytes(data: bytes, feed: Feed, *, encoding_hint: str | None = None) -> RawTable:
    """Decode and parse CSV bytes; rows keep the physical line number they start on (header = 1)."""
    text, encoding, irregular = decode(data, feed, encoding_hint=encoding_hint)
    reader = csv.reader(io.StringIO(text, newline=""))
    headers: list[str] | None = None
    rows: list[list[str | None]] = []
    line_nos: list[int] = []
    previous_end = 0
    try:
        for record in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if not record or all(not v.strip() for v in record):
                continue
            if headers is None:
                headers = [h.strip() for h in record]
                continue
            rows.append([v if v != "" else None for v in record])
            line_nos.append(start)
    except csv.Error as exc:
        raise FileRejected(UNDECODABLE, f"not a readable CSV near line {reader.line_num}: {exc}") from exc
    return RawTable(headers or [], rows, line_nos, encoding, irregular)


def read_xlsx(path: Path) -> RawTable:
    """Read the first worksheet of an XLSX; numbers, dates and serials become text as Excel shows them."""
    import zipfile

    from openpyxl import load_workbook  # uses defusedxml when it is installed

    if not zipfile.is_zipfile(path):
        raise FileRejected(NOT_XLSX, "the file is not an XLSX workbook (not a zip container)")
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise FileRejected(NOT_XLSX, f"the workbook cannot be opened: {type(exc).__name__}: {exc}") from exc
    try:
        sheet = workbook.worksheets[0]
        headers: list[str] | None = None
        rows: list[list[str | None]] = []
        line_nos: list[int] = []
        for index, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v) for v in values]
            if all(c is None for c in cells):
                continue
            if headers is None:
                headers = [c.strip() if c else "" for c in cells]
                while headers and not headers[-1]:
                    headers.pop()
                continue
            rows.append(cells)
            line_nos.append(index)
    finally:
        workbook.close()
    return RawTable(headers or [], rows, line_nos, "xlsx")


def _cell_text(value: object) -> str | None:
    """A cell as the text a clerk would see; big floats keep Excel's scientific notation."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        if abs(value) >= 1e15:
            return f"{value:.5E}"
        return repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="minutes")
    return str(value)
