"""The row and file policy on tiny tables (pure functions, no database)."""

from __future__ import annotations

from datetime import date

import pytest

from popdata.config.feeds import feed_by_id
from popdata.ingest import rows
from popdata.ingest.read import MISSING_COLUMNS, FileRejected, RawTable
from popdata.normalize.codes import RegionResolver

REGISTRY = feed_by_id("police__household_registry")
HEADERS = ["身份证号", "姓名", "性别", "出生日期", "户号", "户籍地址编码", "婚姻状况", "备注"]
EXTRACT = date(2014, 6, 30)


def _table(data: list[list[str | None]], headers: list[str] = HEADERS) -> RawTable:
    return RawTable(headers, data, list(range(2, 2 + len(data))), "gbk")


def test_staging_columns_follow_the_types() -> None:
    names = [n for n, _ in rows.staging_columns(REGISTRY)]
    assert names[:2] == ["line_no", "extract_date"] and names[-1] == "extras"
    for expected in (
        "id_no",
        "id_no_valid",
        "id_no_sent",
        "name",
        "name_sent",
        "region_code",
        "region_code_sent",
    ):
        assert expected in names
    assert dict(rows.staging_columns(REGISTRY))["birth_date"] == "date"


def test_missing_required_column_names_it() -> None:
    with pytest.raises(FileRejected) as info:
        rows.normalise_table(_table([["1"]], ["姓名"]), REGISTRY, extract_date=EXTRACT)
    assert info.value.reason == MISSING_COLUMNS
    assert "household_no(户号)" in info.value.detail and "id_no" in info.value.detail


def test_required_blank_and_placeholders_reject_optional_invalid_warns() -> None:
    table = _table(
        [
            ["11010519491231002X", "张伟", "男", "1949-12-31", "1", "120115001001", "已婚", "备注一"],
            ["11010519491231002X", "不详", "男", "1949-12-31", "1", "120115001001", None, None],
            ["11010519491231002X", "张伟", "男", "19000101", "1", "120115001001", None, None],
            ["1.20115E+17", "张伟", "M", "1949-12-31", "1", "120115", None, None],
        ]
    )
    out = rows.normalise_table(table, REGISTRY, extract_date=EXTRACT)
    assert out.rows_read == 4 and out.rows_loaded == 2 and out.rows_rejected == 2
    assert [(i.line_no, i.column, i.reason) for i in out.rejected] == [
        (3, "name", "required_blank"),
        (4, "birth_date", "required_blank"),
    ]
    assert out.columns["line_no"] == [2, 5]
    assert out.columns["id_no_valid"] == [True, False]
    assert out.columns["id_no"][1] == "1.20115E+17"  # loaded as sent, marked invalid, never guessed
    assert out.columns["region_code"][1] == "120115000000"  # a county prefix, padded
    assert ("id_no", "id_scientific_notation") in [(w.column, w.reason) for w in out.warnings]
    assert out.columns["extras"][0] == '{"备注": "备注一"}'
    assert rows.EXTRA_COLUMNS in out.irregularities


def test_region_names_resolve_against_the_reference() -> None:
    resolver = RegionResolver(
        [
            ("120115000000", "宝坻区", "县", None),
            ("120115110000", "牛道口镇", "乡", "120115000000"),
            ("120115110201", "东风村", "村", "120115110000"),
        ]
    )
    table = _table(
        [
            ["11010519491231002X", "张伟", "男", "1949-12-31", "1", "宝坻区牛道口镇东风村", None, None],
            ["11010519491231002X", "张伟", "男", "1949-12-31", "1", "不存在镇", None, None],
        ]
    )
    out = rows.normalise_table(table, REGISTRY, extract_date=EXTRACT, resolver=resolver)
    assert out.columns["region_code"] == ["120115110201", None]
    assert out.columns["region_code_sent"] == ["宝坻区牛道口镇东风村", "不存在镇"]
    assert [(w.line_no, w.reason) for w in out.warnings] == [(3, "region_unresolved")]


def test_traditional_headers_and_values_become_simplified_with_originals_kept() -> None:
    headers = ["身份證號", "姓名", "性別", "出生日期", "戶號", "戶籍地址編碼"]
    out = rows.normalise_table(
        _table([["11010519491231002X", "劉德華", "女", "1949-12-31", "1", "120115001001"]], headers),
        REGISTRY,
        extract_date=EXTRACT,
    )
    assert out.columns["name"] == ["刘德华"] and out.columns["name_sent"] == ["劉德華"]
    assert rows.TRADITIONAL_SCRIPT in out.irregularities


def test_masking_keeps_no_full_identifiers() -> None:
    id_column = REGISTRY.column("id_no")
    name_column = REGISTRY.column("name")
    assert rows.mask_value(id_column, "11010519491231002X") == "110105**********2X"
    assert rows.mask_value(name_column, "欧阳修") == "欧**"
    assert rows.mask_value(REGISTRY.column("birth_date"), "2014-02-30") == "2014-02-30"


def test_vocabulary_codes_sent_in_traditional_script_become_simplified() -> None:
    approvals = feed_by_id("fp__birth_approvals")
    headers = ["申请编号", "女方姓名", "女方身份证号", "登记类别", "申请日期", "审批结果", "户籍地区划代码"]
    out = rows.normalise_table(
        _table(
            [
                ["A1", "王芳", "11010519491231002X", "單獨二孩", "2014-03-01", "批准", "120115001001"],
                [
                    "A2",
                    "李娜",
                    "11010519491231002X",
                    "一孩生育服務登記",
                    "2014-03-02",
                    "待審",
                    "120115001001",
                ],
            ],
            headers,
        ),
        approvals,
        extract_date=EXTRACT,
    )
    assert out.columns["category"] == ["单独二孩", "一孩生育服务登记"]
    assert out.columns["decision"] == ["批准", "待审"]
    assert out.columns["app_no"] == ["A1", "A2"]  # ASCII codes unchanged
    assert rows.TRADITIONAL_SCRIPT in out.irregularities
