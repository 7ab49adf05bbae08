"""Hostile input: zip and XML entity bombs, binary junk named .csv, mixed encodings, links and odd names.

Every bomb here is a few KB on disk and is refused without being inflated: the
tests spy on what is opened and measure the memory and time a refusal takes.
"""

from __future__ import annotations

import io
import logging
import os
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from popdata.config.feeds import feed_by_id
from popdata.ingest import arrive, read

REGISTRY = feed_by_id("police__household_registry")
APPROVALS = feed_by_id("fp__birth_approvals")
CSV_HEADER = "公民身份号码,姓名,性别,出生日期,户号,户籍地区划代码"
CSV_ROW = "11010519491231002X,张伟,男,1949-12-31,100000001,120115115001"
XLSX_HEADER = ["申请编号", "女方姓名", "女方身份证号", "登记类别", "申请日期", "户籍地区划代码"]
XLSX_ROW = ["A1", "张三", "120115198001010016", "再生育", "2014-01-01", "120115001001"]

# --- a minimal XLSX, part by part, so that each part can be made hostile ---------------------------

_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CONTENT_TYPES = (
    _DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    _DECL + f'<Relationships xmlns="{_PKG_RELS}"><Relationship Id="rId1" '
    f'Type="{_DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    _DECL + f'<workbook xmlns="{_MAIN}" xmlns:r="{_DOC_RELS}">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    _DECL + f'<Relationships xmlns="{_PKG_RELS}">'
    f'<Relationship Id="rId1" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_DOC_RELS}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)

#: "Billion laughs": 10 levels of 10 references, 10^9 × "lol" (3 GB) once expanded; 1 KB here.
LAUGHS = (
    '<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % ("" if i == 1 else i - 1)) * 10}">\n' for i in range(1, 10))
    + "]>\n"
)


def xlsx_parts(
    rows: list[list[str]], *, sheet_prolog: str = "", strings_prolog: str = "", extra_sheet_xml: str = ""
) -> dict[str, bytes]:
    """The parts of a small workbook whose cells are shared strings (``&name;`` cells are left raw)."""
    strings: list[str] = []
    body = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            strings.append(value)
            cells.append(f'<c r="{"ABCDEFGH"[c]}{r}" t="s"><v>{len(strings) - 1}</v></c>')
        body.append(f'<row r="{r}">{"".join(cells)}</row>')
    sheet = (
        _DECL + sheet_prolog + f'<worksheet xmlns="{_MAIN}"><sheetData>'
        f"{''.join(body)}{extra_sheet_xml}</sheetData></worksheet>"
    )
    shared = "".join(f"<si><t>{s if s.startswith('&') else escape(s)}</t></si>" for s in strings)
    sst = (
        _DECL + strings_prolog + f'<sst xmlns="{_MAIN}" count="{len(strings)}" '
        f'uniqueCount="{len(strings)}">{shared}</sst>'
    )
    return {
        "[Content_Types].xml": _CONTENT_TYPES.encode(),
        "_rels/.rels": _ROOT_RELS.encode(),
        "xl/workbook.xml": _WORKBOOK.encode(),
        "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS.encode(),
        "xl/worksheets/sheet1.xml": sheet.encode(),
        "xl/sharedStrings.xml": sst.encode(),
    }


def zip_bytes(parts: dict[str, bytes], *, zeros: dict[str, int] | None = None) -> bytes:
    """A zip of ``parts``, plus entries of ``n`` zero bytes written in 1 MiB blocks (a bomb stays KB)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
        for name, size in (zeros or {}).items():
            with archive.open(name, "w", force_zip64=True) as entry:
                block = bytes(1 << 20)
                for _ in range(size >> 20):
                    entry.write(block)
    return out.getvalue()


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    """Write a file under ``tmp_path``."""
    path = tmp_path / name
    path.write_bytes(content)
    return path


def refused(path: Path, feed: object = APPROVALS, *, max_bytes: int = 1 << 20) -> read.FileRejected:
    """The refusal of reading ``path`` (the test fails when the file loads)."""
    with pytest.raises(read.FileRejected) as info:
        read.read_file(path, feed, max_bytes=max_bytes)  # type: ignore[arg-type]
    return info.value


class OpenSpy:
    """Records which zip entries are opened and whether openpyxl is ever asked to load the workbook."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import openpyxl

        self.entries: list[str] = []
        self.workbooks = 0
        original_open = zipfile.ZipFile.open
        original_load = openpyxl.load_workbook

        def spy_open(archive: zipfile.ZipFile, name: object, *args: object, **kwargs: object) -> object:
            self.entries.append(name.filename if isinstance(name, zipfile.ZipInfo) else str(name))
            return original_open(archive, name, *args, **kwargs)  # type: ignore[arg-type]

        def spy_load(*args: object, **kwargs: object) -> object:
            self.workbooks += 1
            return original_load(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(zipfile.ZipFile, "open", spy_open)
        monkeypatch.setattr(openpyxl, "load_workbook", spy_load)


def peak_memory(action: Callable[[], object]) -> tuple[int, float]:
    """Peak traced memory (bytes) and seconds while ``action`` runs (its FileRejected is swallowed)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        action()
    except read.FileRejected:
        pass
    finally:
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, elapsed


# --- XLSX: the builder makes real workbooks ----------------------------------------------------------


def test_the_minimal_workbook_reads(tmp_path: Path) -> None:
    path = write(tmp_path, "birth_approvals_20140101.xlsx", zip_bytes(xlsx_parts([XLSX_HEADER, XLSX_ROW])))
    table = read.read_file(path, APPROVALS, max_bytes=1 << 20)
    assert table.headers == XLSX_HEADER and table.rows == [XLSX_ROW] and table.line_nos == [2]


# --- XLSX zip bombs ----------------------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_zip_bomb_entry_is_refused_by_its_ratio_without_being_inflated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = zip_bytes(xlsx_parts([XLSX_HEADER, XLSX_ROW]), zeros={"xl/media/image1.png": 64 << 20})
    assert len(bomb) < 80_000  # 64 MiB of zeros in ~65 KB
    path = write(tmp_path, "birth_approvals_20140101.xlsx", bomb)
    spy = OpenSpy(monkeypatch)
    rejection = refused(path, max_bytes=1 << 30)
    assert rejection.reason == read.UNSAFE_XLSX
    assert "xl/media/image1.png" in rejection.detail and ":1" in rejection.detail
    assert "xl/media/image1.png" not in spy.entries and spy.workbooks == 0
    peak, seconds = peak_memory(lambda: read.read_file(path, APPROVALS, max_bytes=1 << 30))
    assert peak < 8 << 20 and seconds < 3


def test_many_small_entries_that_expand_too_much_in_all_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each entry is exactly 1 MiB (the ratio rule starts above that); 12 MiB in all from ~15 KB
    zeros = {f"xl/media/pad{i}.bin": 1 << 20 for i in range(12)}
    path = write(tmp_path, "birth_approvals_20140101.xlsx", zip_bytes(xlsx_parts([XLSX_HEADER]), zeros=zeros))
    spy = OpenSpy(monkeypatch)
    rejection = refused(path, max_bytes=64 * 1024)  # the total may be 100 × 64 KiB = 6.4 MiB
    assert rejection.reason == read.UNSAFE_XLSX and "in all" in rejection.detail
    assert spy.entries == [] and spy.workbooks == 0
    # the same workbook under a larger size limit is not a bomb (then it reads: header only)
    assert refused(path, max_bytes=1 << 20).reason == read.NO_DATA_ROWS


def test_too_many_entries_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read, "XLSX_MAX_ENTRIES", 20)
    parts = xlsx_parts([XLSX_HEADER, XLSX_ROW])
    parts.update({f"xl/media/p{i}.bin": b"x" for i in range(20)})
    rejection = refused(write(tmp_path, "birth_approvals_20140101.xlsx", zip_bytes(parts)))
    assert rejection.reason == read.UNSAFE_XLSX and "26 entries" in rejection.detail


def test_the_default_limits_are_the_documented_ones() -> None:
    assert read.XLSX_MAX_ENTRIES == 10_000
    assert read.XLSX_MAX_UNCOMPRESSED == 1 << 30
    assert (read.XLSX_MAX_RATIO, read.XLSX_RATIO_MIN_SIZE) == (200, 1 << 20)


def test_a_lying_central_directory_cannot_inflate_more_than_it_declares(tmp_path: Path) -> None:
    """Python's zipfile stops at the declared size: the size checks bound what openpyxl can inflate."""
    data = bytearray(zip_bytes({"a.xml": b"<a>" + b" " * 100_000 + b"</a>"}))
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = archive.getinfo("a.xml")
    central = data.rfind(b"PK\x01\x02")
    declared = central + 24  # uncompressed size field of the central directory entry
    assert int.from_bytes(data[declared : declared + 4], "little") == info.file_size
    data[declared : declared + 4] = (1000).to_bytes(4, "little")
    got = 0
    with (
        zipfile.ZipFile(io.BytesIO(bytes(data))) as lying,
        lying.open("a.xml") as entry,
        pytest.raises(zipfile.BadZipFile, match="CRC"),
    ):
        while chunk := entry.read(100):
            got += len(chunk)
    assert got <= 1000


# --- XML entity bombs --------------------------------------------------------------------------------


def _entity_bomb_in_sheet() -> bytes:
    bomb_row = '<row r="2"><c r="A2" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
    return zip_bytes(xlsx_parts([XLSX_HEADER], sheet_prolog=LAUGHS, extra_sheet_xml=bomb_row))


def _entity_bomb_in_shared_strings() -> bytes:
    return zip_bytes(xlsx_parts([XLSX_HEADER, ["&lol9;", *XLSX_ROW[1:]]], strings_prolog=LAUGHS))


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("build", "part"),
    [
        (_entity_bomb_in_sheet, "xl/worksheets/sheet1.xml"),
        (_entity_bomb_in_shared_strings, "xl/sharedStrings.xml"),
    ],
)
def test_xml_entity_bomb_is_refused_without_expanding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build: Callable[[], bytes], part: str
) -> None:
    data = build()
    assert len(data) < 5_000
    path = write(tmp_path, "birth_approvals_20140101.xlsx", data)
    spy = OpenSpy(monkeypatch)
    rejection = refused(path)
    assert rejection.reason == read.UNSAFE_XLSX
    assert part in rejection.detail and "DTD" in rejection.detail
    assert spy.workbooks == 0  # refused before openpyxl ever parses it
    peak, seconds = peak_memory(lambda: read.read_file(path, APPROVALS, max_bytes=1 << 20))
    assert peak < 4 << 20 and seconds < 2  # 10^9 "lol"s would be 3 GB


def test_openpyxl_parses_through_defusedxml_in_this_installation() -> None:
    import defusedxml.ElementTree
    import openpyxl.xml
    import openpyxl.xml.functions

    assert openpyxl.xml.DEFUSEDXML is True
    assert openpyxl.xml.functions.iterparse is defusedxml.ElementTree.iterparse
    if not openpyxl.xml.LXML:  # without lxml, fromstring is defusedxml's too
        assert openpyxl.xml.functions.fromstring is defusedxml.ElementTree.fromstring


@pytest.mark.timeout(20)
@pytest.mark.parametrize("build", [_entity_bomb_in_sheet, _entity_bomb_in_shared_strings])
def test_defusedxml_refuses_the_bomb_as_a_second_line_of_defence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build: Callable[[], bytes]
) -> None:
    from defusedxml import EntitiesForbidden
    from openpyxl import load_workbook

    path = write(tmp_path, "birth_approvals_20140101.xlsx", build())
    with pytest.raises(Exception) as info:  # openpyxl itself, with no popdata check in front
        workbook = load_workbook(path, read_only=True, data_only=True)
        list(workbook.worksheets[0].iter_rows(values_only=True))
    chain: list[BaseException] = []
    seen: BaseException | None = info.value
    while seen is not None:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    assert any(isinstance(e, EntitiesForbidden) for e in chain)
    # and with the prolog check switched off, popdata maps defusedxml's refusal to the same reason
    monkeypatch.setattr(read, "_xml_dtd", lambda entry: None)
    rejection = refused(path)
    assert rejection.reason == read.UNSAFE_XLSX and "EntitiesForbidden" in rejection.detail


def test_a_dtd_is_found_across_reads_in_utf16_and_after_long_comments(tmp_path: Path) -> None:
    padded = "<!--" + "x" * 5000 + "-->\n" + '<!DOCTYPE x [<!ENTITY a "b">]>\n'  # crosses the 4 KiB reads
    cases = {
        "padded": zip_bytes(xlsx_parts([XLSX_HEADER, XLSX_ROW], sheet_prolog=padded)),
        "utf16": _with_part(
            xlsx_parts([XLSX_HEADER, XLSX_ROW]),
            "xl/workbook.xml",
            (
                '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE w SYSTEM "http://example.invalid/x.dtd">'
                + _WORKBOOK.split("\n", 1)[1]
            ).encode("utf-16"),
        ),
        "external": zip_bytes(
            xlsx_parts([XLSX_HEADER, XLSX_ROW], sheet_prolog='<!DOCTYPE x SYSTEM "file:///etc/passwd">\n')
        ),
    }
    for name, data in cases.items():
        rejection = refused(write(tmp_path, f"{name}.xlsx", data))
        assert rejection.reason == read.UNSAFE_XLSX and "DTD" in rejection.detail, name


def test_a_prolog_too_long_to_be_real_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read, "XML_PROLOG_MAX", 2000)
    prolog = "<!--" + "x" * 10_000 + "-->\n"
    rejection = refused(write(tmp_path, "a.xlsx", zip_bytes(xlsx_parts([XLSX_HEADER], sheet_prolog=prolog))))
    assert rejection.reason == read.UNSAFE_XLSX and "prolog longer" in rejection.detail


def _with_part(parts: dict[str, bytes], name: str, content: bytes) -> bytes:
    return zip_bytes({**parts, name: content})


# --- sheets that would make openpyxl pad rows to Excel's limits ----------------------------------------


@pytest.mark.timeout(20)
def test_a_bogus_dimension_costs_nothing(tmp_path: Path) -> None:
    parts = xlsx_parts([XLSX_HEADER, XLSX_ROW])
    sheet = parts["xl/worksheets/sheet1.xml"].replace(
        b"<sheetData>", b'<dimension ref="A1:XFD1048576"/><sheetData>'
    )
    path = write(tmp_path, "a.xlsx", zip_bytes({**parts, "xl/worksheets/sheet1.xml": sheet}))
    started = time.perf_counter()
    table = read.read_file(path, APPROVALS, max_bytes=1 << 20)
    assert time.perf_counter() - started < 2  # padding 1 048 576 rows × 16 384 cells would take hours
    assert table.rows == [XLSX_ROW] and table.line_nos == [2]


@pytest.mark.timeout(20)
def test_a_far_away_cell_is_kept_as_an_extra_field_cheaply(tmp_path: Path) -> None:
    far = '<row r="1000000"><c r="XFD1000000" t="inlineStr"><is><t>x</t></is></c></row>'
    path = write(tmp_path, "a.xlsx", zip_bytes(xlsx_parts([XLSX_HEADER, XLSX_ROW], extra_sheet_xml=far)))
    table = read.read_file(path, APPROVALS, max_bytes=1 << 20)
    assert table.line_nos == [2, 1_000_000]
    assert table.rows[1] == [None] * 6 + ["x"]  # too many fields for the row policy, nothing padded


@pytest.mark.timeout(20)
def test_rows_and_columns_beyond_excel_limits_are_refused(tmp_path: Path) -> None:
    beyond_rows = '<row r="1048577"><c r="A1048577" t="inlineStr"><is><t>x</t></is></c></row>'
    beyond_cols = '<row r="3"><c r="ZZZ3" t="inlineStr"><is><t>x</t></is></c></row>'
    for name, xml, words in (("rows", beyond_rows, "last row"), ("cols", beyond_cols, "last column")):
        data = zip_bytes(xlsx_parts([XLSX_HEADER, XLSX_ROW], extra_sheet_xml=xml))
        rejection = refused(write(tmp_path, f"{name}.xlsx", data))
        assert rejection.reason == read.UNSAFE_XLSX and words in rejection.detail, name


# --- binary junk named .csv, UTF-16 -----------------------------------------------------------------


def test_binary_junk_named_csv_is_not_text(tmp_path: Path) -> None:
    cases = {
        "nul.csv": (CSV_HEADER + "\n" + CSV_ROW + "\n").encode("gbk") + b"\x00\x01\x02",
        "zip.csv": zip_bytes(xlsx_parts([XLSX_HEADER, XLSX_ROW])),
        "xls.csv": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 4,
        "controls.csv": b"\x01\x02\x03\x04\x05\x06,\x07\x08\x0b\x0e\x0f\n" * 50,
    }
    for name, content in cases.items():
        rejection = refused(write(tmp_path, name, content), REGISTRY)
        assert rejection.reason == read.NOT_TEXT, name
    assert "ZIP" in refused(tmp_path / "zip.csv", REGISTRY).detail
    assert "OLE2" in refused(tmp_path / "xls.csv", REGISTRY).detail
    assert "control characters" in refused(tmp_path / "controls.csv", REGISTRY).detail


def test_utf16_and_utf32_are_undecodable_with_a_clear_reason(tmp_path: Path) -> None:
    text = CSV_HEADER + "\r\n" + CSV_ROW + "\r\n"
    cases = {
        "bom_le.csv": (text.encode("utf-16"), "UTF-16"),  # BOM FF FE
        "bom_be.csv": (b"\xfe\xff" + text.encode("utf-16-be"), "UTF-16"),
        "no_bom.csv": (text.encode("utf-16-le"), "UTF-16 (little-endian) without a byte order mark"),
        "utf32.csv": (text.encode("utf-32"), "UTF-32"),
    }
    for name, (content, words) in cases.items():
        rejection = refused(write(tmp_path, name, content), REGISTRY)
        assert rejection.reason == read.UNDECODABLE and words in rejection.detail, name
        assert "GB18030" in rejection.detail


def test_real_text_in_every_contract_encoding_is_text(tmp_path: Path) -> None:
    big5_header = "身份證號,姓名,性別,出生日期,戶號,戶籍地區劃代碼"
    cases = {
        "utf8.csv": (CSV_HEADER + "\n" + CSV_ROW + "\n").encode("utf-8"),
        "bom.csv": b"\xef\xbb\xbf" + (CSV_HEADER + "\r\n" + CSV_ROW + "\r\n").encode("utf-8"),
        "gbk.csv": (CSV_HEADER + "\n" + CSV_ROW + "\n").encode("gbk"),
        "gb18030.csv": (CSV_HEADER + "\n" + CSV_ROW.replace("张伟", "王𣵦") + "\n").encode("gb18030"),
        "big5.csv": (big5_header + "\n" + CSV_ROW.replace("张伟", "劉德華") + "\n").encode("big5"),
        "tabs.csv": (CSV_HEADER + "\n" + CSV_ROW.replace("张伟", "张\t伟") + "\f\n").encode("gbk"),
    }
    dos = (CSV_HEADER + "\r\n" + CSV_ROW + "\r\n\x1a").encode("gbk")  # ends with the DOS end-of-file mark
    read.check_text(dos)
    assert read.read_csv_bytes(dos, REGISTRY).rows == [CSV_ROW.split(",")]
    for name, content in cases.items():
        read.check_text(content)
        table = read.read_file(write(tmp_path, name, content), REGISTRY, max_bytes=1 << 20)
        assert len(table.rows) == 1, name


# --- mixed encodings ------------------------------------------------------------------------------


def _registry_lines(names: list[str]) -> list[str]:
    return [CSV_HEADER] + [
        CSV_ROW.replace("张伟", n).replace("1002X", f"100{i:02d}") for i, n in enumerate(names)
    ]


def test_a_file_half_gbk_half_utf8_is_quarantined_as_mixed() -> None:
    lines = _registry_lines(["张伟", "李秀英", "王芳", "刘德华"])
    data = ("\n".join(lines[:3]) + "\n").encode("gbk") + ("\n".join(lines[3:]) + "\n").encode("utf-8")
    for hint in (None, "gbk", "gb18030"):
        with pytest.raises(read.FileRejected) as info:
            read.read_csv_bytes(data, REGISTRY, encoding_hint=hint)
        assert info.value.reason == read.MIXED_ENCODINGS, hint
        assert "lines 4, 5 (2 in all) are UTF-8" in info.value.detail
        assert "lines 1, 2, 3 (3 in all) are not" in info.value.detail


def test_a_utf8_bom_file_with_gbk_lines_is_mixed() -> None:
    lines = _registry_lines(["张伟", "李秀英"])
    data = (
        b"\xef\xbb\xbf"
        + (lines[0] + "\n" + lines[1] + "\n").encode("utf-8")
        + (lines[2] + "\n").encode("gbk")
    )
    with pytest.raises(read.FileRejected) as info:
        read.read_csv_bytes(data, REGISTRY)
    assert info.value.reason == read.MIXED_ENCODINGS and "lines 3 (1 in all) are not" in info.value.detail


def test_pure_legacy_files_are_not_mistaken_for_mixed() -> None:
    """GBK/Big5 bytes that happen to be valid UTF-8 decode to Latin or Cyrillic, not to Chinese."""
    import random

    rng = random.Random(7)
    hanzi = [
        bytes([lead, trail]).decode("gb2312")
        for lead in range(0xB0, 0xD8)
        for trail in range(0xA1, 0xFF)
        if (lead, trail) != (0xD7, 0xFA) and lead * 256 + trail < 0xD7FA
    ]
    names = ["".join(rng.choice(hanzi) for _ in range(rng.choice((2, 3, 3, 4)))) for _ in range(3000)]
    data = ("\n".join(_registry_lines(names)) + "\n").encode("gbk")
    table = read.read_csv_bytes(data, REGISTRY)
    assert table.encoding == "gbk" and len(table.rows) == 3000
    big5 = (
        "身份證號,姓名,性別,出生日期,戶號,戶籍地區劃代碼\n" + "1,劉德華,男,2014-01-01,1,寶坻區\n" * 50
    ).encode("big5")
    assert read.read_csv_bytes(big5, REGISTRY).encoding == "big5"


def test_undecodable_bytes_stay_undecodable() -> None:
    data = (CSV_HEADER + "\n").encode("gbk") + b"1,\xff\xff\xff,1,2014-01-01,1,1\n"
    with pytest.raises(read.FileRejected) as info:
        read.read_csv_bytes(data, REGISTRY)
    assert info.value.reason == read.UNDECODABLE


# --- paths: links and things that are not files ---------------------------------------------------------


def test_a_symlink_or_fifo_is_never_read(tmp_path: Path) -> None:
    target = write(tmp_path, "outside.csv", (CSV_HEADER + "\n" + CSV_ROW + "\n").encode("gbk"))
    link = tmp_path / "household_registry_20140101.csv"
    link.symlink_to(target)
    rejection = refused(link, REGISTRY)
    assert rejection.reason == read.UNSAFE_PATH and "symbolic link" in rejection.detail
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    assert refused(fifo, REGISTRY).reason == read.UNSAFE_PATH  # and it did not hang


# --- arrival: odd names are processed, links are skipped and reported -----------------------------------

ODD_NAMES = [
    "household registry 2014 07 31.csv",
    "中文文件名.csv",
    "-household_registry_20140731.csv",
    "a..b.csv",
]


def test_odd_file_names_are_found_and_irregular(tmp_path: Path) -> None:
    folder = tmp_path / "police" / "household_registry"
    folder.mkdir(parents=True)
    for name in ODD_NAMES:
        (folder / name).write_bytes(b"x")
    drops = arrive.find_drops(tmp_path, REGISTRY, quiet_seconds=0, now=time.time() + 1)
    assert sorted(d.path.name for d in drops) == sorted(ODD_NAMES)
    assert all(d.complete for d in drops)
    assert all(d.rel_path == f"police/household_registry/{d.path.name}" for d in drops)
    assert not any(arrive.check_file_name(name, "household_registry").regular for name in ODD_NAMES)
    assert arrive.skipped_entries(tmp_path, REGISTRY) == []


def test_links_and_special_files_are_skipped_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    landing = tmp_path / "landing"
    folder = landing / "police" / "household_registry"
    folder.mkdir(parents=True)
    outside = tmp_path / "secret.csv"
    outside.write_bytes(b"secret")
    (folder / "household_registry_20140731.csv").write_bytes(b"x")
    (folder / "household_registry_20140801.csv").symlink_to(outside)
    (folder / "household_registry_20140802.csv").symlink_to(folder / "household_registry_20140731.csv")
    os.mkfifo(folder / "household_registry_20140803.csv")
    with open(os.fsencode(folder) + b"/\xd6\xd0\xce\xc4.csv", "wb") as handle:  # 中文 in GBK bytes
        handle.write(b"x")
    with caplog.at_level(logging.WARNING, logger="popdata.ingest.arrive"):
        drops = arrive.find_drops(landing, REGISTRY, quiet_seconds=0, now=time.time() + 1)
    assert [d.path.name for d in drops] == ["household_registry_20140731.csv"]
    skipped = {
        s.path.name if s.reason != arrive.SKIP_NAME_NOT_UTF8 else "gbk": s
        for s in arrive.skipped_entries(landing, REGISTRY)
    }
    assert {k: s.reason for k, s in skipped.items()} == {
        "household_registry_20140801.csv": arrive.SKIP_SYMLINK,
        "household_registry_20140802.csv": arrive.SKIP_SYMLINK,
        "household_registry_20140803.csv": arrive.SKIP_NOT_REGULAR,
        "gbk": arrive.SKIP_NAME_NOT_UTF8,
    }
    assert skipped["gbk"].rel_path == "police/household_registry/\\xd6\\xd0\\xce\\xc4.csv"
    assert "skipped, never read" in skipped["household_registry_20140801.csv"].describe()
    assert sum("skipped, never read" in r.getMessage() for r in caplog.records) == 4


def test_a_linked_folder_is_not_followed(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "household_registry_20140731.csv").write_bytes(b"x")
    (landing / "police").mkdir(parents=True)
    (landing / "police" / "household_registry").symlink_to(elsewhere)
    assert arrive.find_drops(landing, REGISTRY, quiet_seconds=0, now=time.time() + 1) == []
    (skipped,) = arrive.skipped_entries(landing, REGISTRY)
    assert skipped.reason == arrive.SKIP_OUTSIDE and "outside the landing folder" in skipped.detail
    # a landing folder that is itself reached through a link is fine
    alias = tmp_path / "alias"
    alias.symlink_to(landing)
    real = landing / "police" / "household_registry"
    real.unlink()
    real.mkdir()
    (real / "household_registry_20140731.csv").write_bytes(b"x")
    assert len(arrive.find_drops(alias, REGISTRY, quiet_seconds=0, now=time.time() + 1)) == 1


def test_a_linked_manifest_is_never_read_and_hashing_refuses_links(tmp_path: Path) -> None:
    folder = tmp_path / "police" / "household_registry"
    folder.mkdir(parents=True)
    data = folder / "household_registry_20140731.csv"
    data.write_bytes(b"x")
    secret = tmp_path / "secret.json"
    secret.write_text('{"rows": 1}', encoding="utf-8")
    (folder / "household_registry_20140731.csv.manifest.json").symlink_to(secret)
    (drop,) = arrive.find_drops(tmp_path, REGISTRY, quiet_seconds=60, now=time.time())
    assert drop.complete and drop.manifest_path is not None  # complete: it goes to quarantine, not waiting
    with pytest.raises(arrive.ManifestError, match="symbolic link"):
        arrive.read_manifest(drop.manifest_path)
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    with pytest.raises(OSError):
        arrive.sha256_of(link)
    huge = tmp_path / "huge.manifest.json"
    huge.write_bytes(b" " * (arrive.MAX_MANIFEST_BYTES + 1))
    with pytest.raises(arrive.ManifestError, match="larger than"):
        arrive.read_manifest(huge)
