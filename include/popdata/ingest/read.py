"""Read an agency file into header + rows of text, with physical line numbers.

Decoding follows AGENCY_EXTRACTS.md §2: UTF-8 with or without BOM, GBK,
GB18030 and Big5, none declared in the file. A manifest's ``encoding`` is a
hint: when the bytes do not decode with it, that is reported and detection
goes on. Between GB18030 and Big5, which often both decode the same bytes, the
feed's own headers decide (a right decoding yields headers the contract
knows); the ``charset-normalizer`` library breaks any remaining tie.

A file that cannot be read raises :class:`FileRejected` with a reason code;
the caller quarantines it.

Hostile or broken input (恶意或损坏的文件) is refused before it can cost memory
or time:

- **Paths**: the file is opened with ``O_NOFOLLOW`` and must be a regular file
  (:data:`UNSAFE_PATH`); everything is read from that one open file.
- **Binary junk named .csv** (:data:`NOT_TEXT`): NUL bytes, or more than
  :data:`NOT_TEXT_CONTROL_SHARE` of the first 64 KiB in control characters.
  UTF-16/UTF-32 (BOM, or the NUL pattern of UTF-16 without one) is not junk but
  an encoding the contract does not have: :data:`UNDECODABLE`, saying so.
- **Mixed encodings** (:data:`MIXED_ENCODINGS`): a file that is not UTF-8 as a
  whole but has lines that are clean UTF-8 Chinese next to lines that are not
  (a UTF-8 row appended to a GBK extract) is quarantined: decoding it either way
  would load mojibake as if it were names.
- **XLSX zip bombs** (:data:`UNSAFE_XLSX`): before openpyxl opens a workbook,
  the zip's central directory is checked: at most :data:`XLSX_MAX_ENTRIES`
  entries, a total uncompressed size of at most
  ``min(XLSX_MAX_UNCOMPRESSED, XLSX_EXPANSION × max_bytes)``, and no entry over
  :data:`XLSX_RATIO_MIN_SIZE` that expands more than :data:`XLSX_MAX_RATIO`:1.
  Python's ``zipfile`` never inflates an entry beyond its declared size (it
  stops there and fails the CRC), so the declared sizes bound what openpyxl can
  inflate.
- **XML entity bombs** (:data:`UNSAFE_XLSX`): every entry's XML prolog is read
  (at most :data:`XML_PROLOG_MAX` characters) and a ``<!DOCTYPE``/``<!ENTITY``
  there refuses the workbook: OOXML never uses a DTD, so this costs no real
  file anything and holds whether or not openpyxl's defusedxml route is on
  (openpyxl 3.1 parses with ``defusedxml`` when it is installed and
  ``OPENPYXL_DEFUSEDXML`` is not ``False``; with ``lxml`` installed it parses
  part of the package with lxml instead). ``defusedxml``'s own refusal
  (``EntitiesForbidden``, ``DTDForbidden``, ``ExternalReferenceForbidden``) is
  mapped to the same reason as a second line of defence.
- **Sparse-sheet bombs**: a bogus ``<dimension ref="A1:XFD1048576">`` would make
  openpyxl pad every row to 16 384 cells and add a million empty rows; the
  dimension is ignored, and a row or column beyond Excel's limits
  (1 048 576 × 16 384) refuses the workbook.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import math
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, BinaryIO

from popdata.config.feeds import Feed, normalise_header
from popdata.ingest.arrive import open_regular

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
UNSAFE_XLSX = "file_unsafe_xlsx"
NOT_TEXT = "file_not_text"
MIXED_ENCODINGS = "file_mixed_encodings"
UNSAFE_PATH = "file_unsafe_path"
CHANGED_AFTER_REGISTRATION = "file_changed_after_registration"

# Irregularities reported on a file that still loads.
ENCODING_HINT_WRONG = "manifest_encoding_wrong"
ENCODING_UNEXPECTED = "encoding_unexpected"

_CANDIDATES = ("gb18030", "big5")

# Limits on XLSX containers (see the module docstring).
XLSX_MAX_ENTRIES = 10_000
XLSX_MAX_UNCOMPRESSED = 1 << 30  # 1 GiB
XLSX_EXPANSION = 100  # the total uncompressed size may be at most this many times the size limit
XLSX_MAX_RATIO = 200
XLSX_RATIO_MIN_SIZE = 1 << 20  # the ratio rule applies to entries over 1 MiB
XML_PROLOG_MAX = 64 * 1024
XLSX_MAX_ROWS = 1_048_576  # Excel's own limits
XLSX_MAX_COLUMNS = 16_384
XLSX_MAX_CELLS = 100_000_000  # rows × width actually streamed (1 048 576 rows × 95 columns)

# Binary junk named .csv.
NOT_TEXT_SAMPLE = 64 * 1024
NOT_TEXT_CONTROL_SHARE = 0.10
_TEXT_CONTROLS = frozenset(b"\t\n\r\x0c\x1a")  # tab, newlines, form feed, DOS end-of-file
_CONTROL_BYTES = bytes(b for b in [*range(0x20), 0x7F] if b not in _TEXT_CONTROLS)
_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP container (an XLSX workbook named .csv?)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 file (an old Excel .xls or WPS .et workbook?)"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
)
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


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


def read_file(
    path: Path,
    feed: Feed,
    *,
    encoding_hint: str | None = None,
    max_bytes: int,
    expected_sha256: str | None = None,
) -> RawTable:
    """Read ``path`` (CSV or XLSX) into a :class:`RawTable`, or raise :class:`FileRejected`.

    The file is opened once, without following a symbolic link, and everything
    (size, bytes, workbook) is read from that open file. With ``expected_sha256`` (the
    ledger's hash of the registered drop) the file is read into memory once and parsed from
    those bytes only after their hash matches: bytes that change while the file is read can
    never load under the registered file's hash (``file_changed_after_registration``).
    """
    try:
        handle = open_regular(path)
    except OSError as exc:
        if path.is_symlink():
            raise FileRejected(UNSAFE_PATH, "the file is a symbolic link; links are never followed") from exc
        raise FileRejected(UNSAFE_PATH, f"not a regular file that can be opened: {exc}") from exc
    with handle:
        size = _size_of(handle)
        if size > max_bytes:
            raise FileRejected(TOO_LARGE, f"{size} bytes is over the limit of {max_bytes}")
        if size == 0:
            raise FileRejected(EMPTY, "the file is empty")
        data: bytes | None = None
        if expected_sha256 is not None:
            data = handle.read(max_bytes + 1)
            if len(data) > max_bytes:  # grew after it was measured
                raise FileRejected(TOO_LARGE, f"more than {max_bytes} bytes (the limit)")
            if hashlib.sha256(data).hexdigest() != expected_sha256:
                raise FileRejected(
                    CHANGED_AFTER_REGISTRATION,
                    "the bytes changed after the file was registered; drop it again",
                )
        suffix = path.suffix.lower()
        if suffix == ".xlsx":
            table = read_xlsx(handle if data is None else io.BytesIO(data), max_bytes=max_bytes)
        elif suffix == ".csv":
            if data is None:
                data = handle.read(max_bytes + 1)
            if len(data) > max_bytes:  # grew after it was measured
                raise FileRejected(TOO_LARGE, f"more than {max_bytes} bytes (the limit)")
            check_text(data)
            table = read_csv_bytes(data, feed, encoding_hint=encoding_hint)
        else:
            raise FileRejected(UNSUPPORTED_FORMAT, f"{path.suffix or 'no suffix'} is neither .csv nor .xlsx")
    if not table.headers or all(not h for h in table.headers):
        raise FileRejected(EMPTY, "no header row")
    if not table.rows:
        raise FileRejected(NO_DATA_ROWS, "a header but no data rows")
    return table


def _size_of(handle: BinaryIO) -> int:
    """The size of an open file (from the open file, not from its name)."""
    return os.fstat(handle.fileno()).st_size


def check_text(data: bytes) -> None:
    """Refuse bytes that are not text at all (binary junk named ``.csv``) with :data:`NOT_TEXT`.

    UTF-16 and UTF-32 (with a BOM, or UTF-16 without one, recognised by its NULs
    at every other byte) are text in an encoding the contract does not have:
    :data:`UNDECODABLE`, with a detail that says which. Any other NUL byte, or more
    than :data:`NOT_TEXT_CONTROL_SHARE` control characters in the first
    :data:`NOT_TEXT_SAMPLE` bytes, is :data:`NOT_TEXT`. Tab, CR, LF, form feed
    and the DOS end-of-file mark are text.
    """
    _refuse_wide_encodings(data)
    sample = data[:NOT_TEXT_SAMPLE]
    what = next((label for magic, label in _SIGNATURES if data.startswith(magic)), None)
    nul = data.find(b"\x00")
    if nul >= 0:
        count = data.count(b"\x00")
        raise FileRejected(
            NOT_TEXT,
            f"binary data, not CSV text: {count} NUL byte(s), the first at byte {nul}"
            + (f"; it looks like {what}" if what else ""),
        )
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if sample and controls / len(sample) > NOT_TEXT_CONTROL_SHARE:
        raise FileRejected(
            NOT_TEXT,
            f"binary data, not CSV text: {controls} of the first {len(sample)} bytes are control characters"
            + (f"; it looks like {what}" if what else ""),
        )


def _refuse_wide_encodings(data: bytes) -> None:
    """UTF-16/UTF-32 text is undecodable here (not one of the contract's encodings): say which it is."""
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            raise FileRejected(
                UNDECODABLE,
                f"the file is {name} (byte order mark {bom.hex(' ').upper()}); the contract's encodings are "
                "UTF-8, GBK, GB18030 and Big5: save it as UTF-8 or GB18030",
            )
    sample = data[:NOT_TEXT_SAMPLE]
    pairs = len(sample) // 2
    if pairs < 8:
        return
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    for nuls, others, order in ((odd, even, "little-endian"), (even, odd, "big-endian")):
        if nuls >= 0.2 * pairs and others <= 0.01 * pairs:
            raise FileRejected(
                UNDECODABLE,
                f"the file looks like UTF-16 ({order}) without a byte order mark; the contract's encodings "
                "are UTF-8, GBK, GB18030 and Big5: save it as UTF-8 or GB18030",
            )


def decode(data: bytes, feed: Feed, *, encoding_hint: str | None = None) -> tuple[str, str, set[str]]:
    """Decode file bytes: returns (text, encoding name, irregularities).

    Raises :class:`FileRejected`: :data:`UNDECODABLE` when no contract encoding
    decodes the bytes (UTF-16/UTF-32 included, named in the detail),
    :data:`MIXED_ENCODINGS` when some lines are UTF-8 and others are not.
    """
    irregular: set[str] = set()
    _refuse_wide_encodings(data)
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig", irregular
        except UnicodeDecodeError as exc:
            _refuse_mixed(data[3:], bom=True)
            raise FileRejected(UNDECODABLE, f"starts with a UTF-8 BOM but is not UTF-8: {exc}") from exc
    hint = _canonical(encoding_hint) if encoding_hint else None
    if hint:
        try:
            text = data.decode(hint)
        except (UnicodeDecodeError, LookupError):
            irregular.add(ENCODING_HINT_WRONG)
        else:
            if hint not in ("gb18030", "big5") or _header_score(text, feed) > 0:
                if hint in ("gb18030", "big5"):
                    _refuse_mixed(data)
                return text, _report_name(hint, data), irregular
            irregular.add(ENCODING_HINT_WRONG)
    try:
        return data.decode("utf-8"), "utf-8", irregular
    except UnicodeDecodeError:
        pass
    _refuse_mixed(data)
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


# Characters a UTF-8 line of a Chinese extract is made of, besides ASCII: CJK ideographs
# (with extensions), CJK and full-width punctuation, general punctuation, the middle dot of
# transliterated names (阿卜杜·热合曼). A GBK/Big5 line that happens to be valid UTF-8 decodes
# to Latin, Greek or Cyrillic letters instead, almost never to ideographs only.
_UTF8_CHINESE_LINE = re.compile(
    "[\x00-\x7f\u00b7\u2000-\u206f\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f]*"
)
_IDEOGRAPH = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


def _refuse_mixed(data: bytes, *, bom: bool = False) -> None:
    """Raise :data:`MIXED_ENCODINGS` when clean UTF-8 Chinese lines sit next to lines that are not UTF-8.

    Called when the file as a whole is not UTF-8 (or has a UTF-8 BOM but is not
    UTF-8). A line counts as UTF-8 when it decodes as UTF-8 into ASCII plus
    Chinese text with at least one ideograph; a line with non-ASCII bytes that do
    not decode as UTF-8 counts as legacy. With ``bom`` (the file starts with a
    UTF-8 BOM) the other lines must decode as GB18030 for the file to count as
    mixed rather than undecodable. Line numbers are physical lines (1 = the
    header), as in rejected-row reports.
    """
    utf8_lines: list[int] = []
    other_lines: list[int] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.isascii():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            other_lines.append(number)
            continue
        if _UTF8_CHINESE_LINE.fullmatch(text) and _IDEOGRAPH.search(text):
            utf8_lines.append(number)
        else:
            other_lines.append(number)
    if not utf8_lines or not other_lines:
        return
    if bom:  # the BOM says UTF-8: the other lines must at least be GB18030 text
        lines = data.split(b"\n")
        if not all(_decodes(lines[n - 1], "gb18030") for n in other_lines[:50]):
            return
    raise FileRejected(
        MIXED_ENCODINGS,
        f"lines {_some(utf8_lines)} ({len(utf8_lines)} in all) are UTF-8, lines {_some(other_lines)} "
        f"({len(other_lines)} in all) are not (GBK/GB18030 or Big5); one file must use one encoding",
    )


def _decodes(data: bytes, encoding: str) -> bool:
    """True when ``data`` decodes strictly with ``encoding``."""
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _some(numbers: list[int], shown: int = 5) -> str:
    """The first few numbers of a list, for a readable detail (``2, 3, 4…``)."""
    head = ", ".join(str(n) for n in numbers[:shown])
    return head + ("…" if len(numbers) > shown else "")


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
    first = text.split("\n", 1)[0].split("\r", 1)[0]  # a lone CR ends a line too (old exports)
    known = feed.header_map()
    try:
        headers = [normalise_header(h) for h in next(csv.reader([first]), [])]
    except csv.Error:  # not CSV in this decoding: it knows no header
        return 0
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
    text = text.removesuffix("\x1a")  # the DOS end-of-file mark of old exports is not a row
    reader = csv.reader(io.StringIO(text, newline=""))
    headers: list[str] | None = None
    rows: list[list[str | None]] = []
    line_nos: list[int] = []
    previous_end = 0
    try:
        for record in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            # blank row: no field with anything but whitespace (the first field decides most rows)
            if not record or (not record[0].strip() and all(not v.strip() for v in record)):
                continue
            if headers is None:
                headers = [h.strip() for h in record]
                continue
            rows.append([v or None for v in record])
            line_nos.append(start)
    except csv.Error as exc:
        raise FileRejected(UNDECODABLE, f"not a readable CSV near line {reader.line_num}: {exc}") from exc
    return RawTable(headers or [], rows, line_nos, encoding, irregular)


def read_xlsx(source: Path | BinaryIO, *, max_bytes: int | None = None) -> RawTable:
    """Read the first worksheet of an XLSX; numbers, dates and serials become text as Excel shows them.

    ``source`` is a path or an open binary file. The container is checked for zip
    and XML entity bombs first (:func:`check_xlsx_container`); ``max_bytes`` (the
    configured size limit) scales the allowed total uncompressed size.
    """
    from openpyxl import load_workbook  # parses with defusedxml when it is installed

    handle = source.open("rb") if isinstance(source, Path) else source
    try:
        handle.seek(0)
        if not zipfile.is_zipfile(handle):
            raise FileRejected(NOT_XLSX, "the file is not an XLSX workbook (not a zip container)")
        handle.seek(0)
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise FileRejected(NOT_XLSX, f"the zip container cannot be read: {exc}") from exc
        with archive:
            check_xlsx_container(archive, max_bytes=max_bytes)
        handle.seek(0)
        try:
            workbook = load_workbook(handle, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken workbook
            _refuse_defused(exc)
            raise FileRejected(
                NOT_XLSX, f"the workbook cannot be opened: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            headers, rows, line_nos = _sheet_rows(workbook.worksheets[0])
        except FileRejected:
            raise
        except Exception as exc:  # a worksheet that breaks while it is streamed
            _refuse_defused(exc)
            raise FileRejected(
                NOT_XLSX, f"the worksheet cannot be read: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            workbook.close()
    finally:
        if isinstance(source, Path):
            handle.close()
    return RawTable(headers, rows, line_nos, "xlsx")


def _sheet_rows(sheet: object) -> tuple[list[str], list[list[str | None]], list[int]]:
    """Headers, data rows and their sheet row numbers, without the padding a bogus dimension asks for.

    The sheet's declared dimension is ignored (``reset_dimensions``): rows are as
    wide as their last cell, missing rows cost nothing. Data rows keep the cells
    under the header; of anything to the right only the first non-blank value is
    kept, which is all the row policy needs (too many fields). A row number over
    :data:`XLSX_MAX_ROWS`, a row wider than :data:`XLSX_MAX_COLUMNS`, or more
    than :data:`XLSX_MAX_CELLS` cells in all refuse the workbook.
    """
    reset = getattr(sheet, "reset_dimensions", None)
    if callable(reset):
        reset()
    headers: list[str] | None = None
    rows: list[list[str | None]] = []
    line_nos: list[int] = []
    cells_seen = 0
    iter_rows = sheet.iter_rows  # type: ignore[attr-defined]
    for index, values in enumerate(iter_rows(values_only=True), start=1):
        if index > XLSX_MAX_ROWS:
            raise FileRejected(UNSAFE_XLSX, f"the worksheet goes beyond Excel's last row ({XLSX_MAX_ROWS})")
        width = len(values)
        if width > XLSX_MAX_COLUMNS:
            raise FileRejected(
                UNSAFE_XLSX, f"row {index} goes beyond Excel's last column ({XLSX_MAX_COLUMNS})"
            )
        cells_seen += width
        if cells_seen > XLSX_MAX_CELLS:
            raise FileRejected(UNSAFE_XLSX, f"the worksheet spans more than {XLSX_MAX_CELLS} cells")
        if not width or values.count(None) == width:
            continue
        if headers is None:
            cells = [_cell_text(v) for v in values]
            if all(c is None for c in cells):
                continue
            headers = [c.strip() if c else "" for c in cells]
            while headers and not headers[-1]:
                headers.pop()
            continue
        cells = _data_cells(values, len(headers))
        if all(c is None for c in cells):
            continue
        rows.append(cells)
        line_nos.append(index)
    return headers or [], rows, line_nos


def _data_cells(values: tuple[object, ...], width: int) -> list[str | None]:
    """The text of the cells under the header, plus the first non-blank value to their right, if any."""
    cells = [_cell_text(v) for v in values[:width]]
    tail = values[width:]
    if tail and tail.count(None) != len(tail):
        last = _cell_text(tail[-1])
        if last is None:
            last = next((t for t in (_cell_text(v) for v in tail) if t is not None), None)
        if last is not None:
            cells.append(last)
    return cells


def check_xlsx_container(archive: zipfile.ZipFile, *, max_bytes: int | None = None) -> None:
    """Refuse a zip bomb or an XML entity bomb with :data:`UNSAFE_XLSX`, inflating nothing big.

    The sizes come from the central directory (Python's ``zipfile`` never inflates
    an entry beyond its declared size); each entry's XML prolog is then read, at
    most :data:`XML_PROLOG_MAX` characters of it, for a DTD.
    """
    infos = archive.infolist()
    if len(infos) > XLSX_MAX_ENTRIES:
        raise FileRejected(
            UNSAFE_XLSX, f"{len(infos)} entries in the zip container (at most {XLSX_MAX_ENTRIES})"
        )
    limit = (
        XLSX_MAX_UNCOMPRESSED if max_bytes is None else min(XLSX_MAX_UNCOMPRESSED, XLSX_EXPANSION * max_bytes)
    )
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > XLSX_RATIO_MIN_SIZE:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > XLSX_MAX_RATIO:
                raise FileRejected(
                    UNSAFE_XLSX,
                    f"zip bomb: entry {info.filename!r} expands {ratio:.0f}:1 "
                    f"({info.compress_size} → {info.file_size} bytes; at most {XLSX_MAX_RATIO}:1)",
                )
    if total > limit:
        raise FileRejected(
            UNSAFE_XLSX, f"zip bomb: the entries expand to {total} bytes in all (at most {limit})"
        )
    for info in infos:
        if info.is_dir() or info.file_size == 0:
            continue
        try:
            with archive.open(info) as entry:
                found = _xml_dtd(entry)
        except (
            zipfile.BadZipFile,
            zlib.error,  # a damaged deflate stream
            OSError,
            NotImplementedError,
            RuntimeError,
            ValueError,
            EOFError,
        ) as exc:
            raise FileRejected(NOT_XLSX, f"entry {info.filename!r} cannot be read: {exc}") from exc
        if found:
            raise FileRejected(
                UNSAFE_XLSX,
                f"entry {info.filename!r} {found}; XLSX parts never declare a DTD (XML entity bomb?)",
            )


_PROLOG_ITEMS = re.compile(r"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.S)


def _xml_dtd(entry: IO[bytes]) -> str | None:
    """What is wrong with an entry's XML prolog (a DTD, or a prolog too long to be one), or None.

    Reads 4 KiB at a time until the root element starts, at most
    :data:`XML_PROLOG_MAX` characters. An entry that is not XML (an image) is fine.
    """
    raw = b""
    decoder: codecs.IncrementalDecoder | None = None
    text = ""
    while True:
        chunk = entry.read(4096)
        complete = not chunk
        if decoder is None:
            raw += chunk
            if len(raw) < 4 and not complete:
                continue
            decoder = codecs.getincrementaldecoder(_xml_codec(raw))(errors="replace")
            text = decoder.decode(raw, final=complete)
        else:
            text += decoder.decode(chunk, final=complete)
        verdict = _prolog_verdict(text, complete=complete)
        if verdict != "undecided":
            return None if verdict == "ok" else verdict
        if len(text) > XML_PROLOG_MAX:
            return f"has an XML prolog longer than {XML_PROLOG_MAX} characters"


def _xml_codec(head: bytes) -> str:
    """The codec of an XML entity from its first bytes (XML 1.0 appendix F; UTF-8 otherwise)."""
    if head.startswith((b"\xff\xfe", b"<\x00")):
        return "utf-16-le"
    if head.startswith((b"\xfe\xff", b"\x00<")):
        return "utf-16-be"
    return "utf-8-sig"


def _prolog_verdict(text: str, *, complete: bool) -> str:
    """``ok`` (the root element or non-XML starts), ``undecided`` (read on) or what is wrong."""
    text = text.lstrip("\ufeff")
    match = _PROLOG_ITEMS.match(text)
    rest = text[match.end() if match else 0 :]
    if not complete and len(rest) < 16:
        return "undecided"  # a "<!DOCTYPE" may be split across reads
    if rest.startswith("<!--") or rest.startswith("<?"):
        return "ok" if complete else "undecided"  # unclosed so far; broken XML fails in openpyxl
    if rest.startswith("<!"):
        return "declares a DTD (" + rest[:9].replace("\n", " ") + "…)"
    return "ok"


def _refuse_defused(exc: BaseException) -> None:
    """Map defusedxml's refusals (entities, DTD, external references) to :data:`UNSAFE_XLSX`."""
    try:
        from defusedxml import DefusedXmlException
    except ImportError:  # pragma: no cover - defusedxml is a dependency
        return
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DefusedXmlException):
            raise FileRejected(UNSAFE_XLSX, f"the XML declares entities or a DTD: {seen!r}") from exc
        seen = seen.__cause__ or seen.__context__


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
