"""Reading agency files: encodings, line numbers, quoting, XLSX cells, files that cannot load."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from popdata.config.feeds import feed_by_id
from popdata.ingest import read

REGISTRY = feed_by_id("police__household_registry")
HEADER = "公民身份号码,姓名,性别,出生日期,户号,户籍地区划代码,住址"


def _csv(lines: list[str], newline: str = "\n") -> str:
    return newline.join(lines) + newline


def test_utf8_with_bom() -> None:
    data = b"\xef\xbb\xbf" + _csv([HEADER, "1,张三,男,2014-01-01,1,120115001001,地址"]).encode("utf-8")
    table = read.read_csv_bytes(data, REGISTRY)
    assert table.encoding == "utf-8-sig" and table.headers[0] == "公民身份号码"


def test_gbk_and_gb18030_rare_characters() -> None:
    gbk = read.read_csv_bytes(_csv([HEADER, "1,张三,男,2014-01-01,1,1,地址"]).encode("gbk"), REGISTRY)
    assert gbk.encoding == "gbk" and gbk.rows[0][1] == "张三"
    rare = read.read_csv_bytes(_csv([HEADER, "1,王𣵦,男,2014-01-01,1,1,地址"]).encode("gb18030"), REGISTRY)
    assert rare.encoding == "gb18030" and rare.rows[0][1] == "王𣵦"


def test_big5_with_traditional_headers_is_told_from_gb18030() -> None:
    big5_header = "身份證號,姓名,性別,出生日期,戶號,戶籍地區劃代碼,住址"
    data = _csv([big5_header, "1,劉德華,男,2014-01-01,1,寶坻區,寶坻區牛道口鎮"]).encode("big5")
    table = read.read_csv_bytes(data, REGISTRY)
    assert table.encoding == "big5"
    assert table.rows[0][1] == "劉德華"


def test_manifest_hint_that_does_not_decode_is_reported() -> None:
    data = _csv([HEADER, "1,王𣵦,男,2014-01-01,1,1,地址"]).encode("gb18030")
    table = read.read_csv_bytes(data, REGISTRY, encoding_hint="utf-8")
    assert table.encoding == "gb18030" and read.ENCODING_HINT_WRONG in table.irregularities


def test_physical_line_numbers_with_crlf_quoted_newlines_and_blank_lines() -> None:
    lines = [HEADER, '1,张三,男,2014-01-01,1,1,"天津市\n宝坻区, 28号"', "", "2,李四,女,2014-01-02,1,1,地址"]
    table = read.read_csv_bytes(_csv(lines, "\r\n").encode("utf-8"), REGISTRY)
    assert table.line_nos == [2, 5]
    assert table.rows[0][6] == "天津市\n宝坻区, 28号"


def test_undecodable_bytes_are_rejected() -> None:
    with pytest.raises(read.FileRejected) as info:
        read.read_csv_bytes(b"\x81\x20\xff\xfe\x00" * 20, REGISTRY)
    assert info.value.reason == read.UNDECODABLE


def test_empty_header_only_too_large_and_wrong_format(tmp_path: Path) -> None:
    cases = {
        "empty.csv": (b"", read.EMPTY),
        "header_only.csv": (HEADER.encode("utf-8") + b"\n", read.NO_DATA_ROWS),
        "notes.txt": (b"hello", read.UNSUPPORTED_FORMAT),
        "fake.xlsx": (b"not a zip at all", read.NOT_XLSX),
    }
    for name, (content, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(read.FileRejected) as info:
            read.read_file(path, REGISTRY, max_bytes=1 << 20)
        assert info.value.reason == reason, name
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(read.FileRejected) as too_large:
        read.read_file(big, REGISTRY, max_bytes=1024)
    assert too_large.value.reason == read.TOO_LARGE


def test_xlsx_cells_become_the_text_excel_shows(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["公民身份号码", "姓名", "性别", "出生日期", "户号", "户籍地区划代码"])
    sheet.append(["120115198001010016", "张三", 1, datetime(1980, 1, 1), 100000001.0, "120115001001"])
    sheet.append([None, None, None, None, None, None])
    sheet.append([120115198001010016, "李四", "女", 29221, "1", "120115001001"])
    path = tmp_path / "household_registry_20140101.xlsx"
    workbook.save(path)
    table = read.read_file(path, REGISTRY, max_bytes=1 << 20)
    assert table.encoding == "xlsx"
    assert table.rows[0][:5] == ["120115198001010016", "张三", "1", "1980-01-01", "100000001"]
    assert table.line_nos == [2, 4]
    # an 18-digit number stored as an Excel number lost its last digits: shown as Excel shows it
    assert table.rows[1][0] == "1.20115E+17"
    assert table.rows[1][3] == "29221"  # a serial number stays text; the date parser reads it
