"""Formula injection (公式注入): what the platform writes back never runs in a clerk's Excel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from popdata.ingest import receipts
from popdata.outbox import safe
from popdata.outbox.safe import excel_safe, text_safe


@pytest.mark.parametrize(
    "value",
    [
        "=1+1",
        '=HYPERLINK("http://example.invalid","点我")',
        "+A1",
        "-A1",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
        "\n=1+1",
        "  =1+1",
        "\u3000=1+1",
        "＝1+1",
        "＋1",
        "－1",
        "＠SUM(A1)",
        "=",
        "-",
        "+86 138 0000 0000",
        "-1-1",
        "--1",
    ],
)
def test_formula_like_values_get_a_leading_quote(value: str) -> None:
    assert excel_safe(value) == "'" + value


@pytest.mark.parametrize(
    "value",
    [
        "-12",
        "+12",
        "-1.5",
        "-1,200.50",
        "-1.5E+3",
        "120115198001010016",
        "1.20115E+17",
        "张三",
        "'=1+1",  # already escaped: escaping is idempotent
        "a=b",
        "户主",
        "",
    ],
)
def test_data_is_left_as_it_is(value: str) -> None:
    assert excel_safe(value) == value


def test_none_stays_none_and_escaping_twice_changes_nothing() -> None:
    assert excel_safe(None) is None and text_safe(None) is None
    once = excel_safe("=1+1")
    assert excel_safe(once) == once == "'=1+1"


def test_every_trigger_is_covered() -> None:
    for trigger in "=+-@\t\r＝＋－＠":
        assert trigger in safe.FORMULA_TRIGGERS
        assert excel_safe(trigger + "X") == "'" + trigger + "X"


def test_text_safe_shows_control_characters_and_escapes_formulas() -> None:
    assert text_safe("a\tb\nc\rd") == "a\\tb\\nc\\rd"
    assert text_safe("x\x00y\x1bz") == "x\\x00y\\x1bz"
    assert text_safe("=1\n2") == "'=1\\n2"
    assert text_safe("\t=cmd") == "\\t=cmd"  # the tab is shown, so no cell starts with '='
    assert text_safe("张三") == "张三"


LEDGER = {
    "file_id": 9,
    "agency": "police",
    "feed": "household_registry",
    "file_name": "=HYPERLINK(1)_household_registry_20140731.csv",
    "rel_path": "police/household_registry/=HYPERLINK(1)_household_registry_20140731.csv",
    "sha256": "a" * 64,
    "size_bytes": 10,
    "extract_date": None,
    "received_at": None,
    "status": "loaded_with_rejections",
    "encoding": "gbk",
    "rows_read": 3,
    "rows_loaded": 1,
    "rows_rejected": 2,
    "quarantine_reason": None,
    "duplicate_of": None,
    "irregularities": ["irregular_name"],
}
REJECTED = [
    {"line_no": 2, "column_name": "sex", "reason_code": "sex_unknown_code", "masked_value": "=1+1"},
    {
        "line_no": 3,
        "column_name": "birth_date",
        "reason_code": "date_unparseable",
        "masked_value": "@SUM(A1)",
    },
]
WARNINGS = [
    {"line_no": 4, "column_name": "id_no", "reason_code": "id_bad_check_char", "masked_value": "-2+3+cmd"},
    {
        "line_no": 5,
        "column_name": "registered_date",
        "reason_code": "date_unparseable",
        "masked_value": "-12",
    },
]


def test_receipt_escapes_agency_values_in_json_and_text(tmp_path: Path) -> None:
    receipt = receipts.build_receipt(LEDGER, REJECTED, WARNINGS)
    assert receipt["file"] == "'=HYPERLINK(1)_household_registry_20140731.csv"
    assert receipt["path"] == LEDGER["rel_path"]  # starts with the agency folder: nothing to escape
    dashed = receipts.build_receipt({**LEDGER, "rel_path": "-x.csv"}, [], [])
    assert dashed["path"] == "'-x.csv"
    assert [r["value"] for r in receipt["rejected_rows"]] == ["'=1+1", "'@SUM(A1)"]
    assert [w["value"] for w in receipt["warnings"]] == ["'-2+3+cmd", "-12"]
    paths = receipts.receipt_paths(tmp_path, "police", LEDGER["file_name"], LEDGER["sha256"])  # type: ignore[arg-type]
    receipts.write_receipt(paths, receipt)
    assert json.loads(paths.json_path.read_text(encoding="utf-8"))["file"].startswith("'=")
    text = paths.text_path.read_text(encoding="utf-8")
    assert "文件：'=HYPERLINK(1)_household_registry_20140731.csv" in text
    assert "　'=1+1" in text and "　'@SUM(A1)" in text
    for line in text.splitlines():
        assert not line.startswith(("=", "+", "-", "@")), line


def test_receipt_text_shows_control_characters_of_a_file_name() -> None:
    ledger = {**LEDGER, "file_name": "a\n=1+1.csv", "rel_path": "police/household_registry/a\n=1+1.csv"}
    receipt = receipts.build_receipt(ledger, [], [])
    text = receipts.render_text_zh(receipt)
    assert "文件：a\\n=1+1.csv" in text
    assert not any(line.startswith("=") for line in text.splitlines())


def test_quarantine_reasons_of_hostile_input_are_explained_in_chinese() -> None:
    for code, words in (
        ("file_unsafe_xlsx", "压缩炸弹"),
        ("file_not_text", "不是文本"),
        ("file_mixed_encodings", "混用了不同编码"),
        ("file_unsafe_path", "符号链接"),
    ):
        ledger = {**LEDGER, "status": "quarantined", "quarantine_reason": f"{code}: detail\twith a tab"}
        text = receipts.render_text_zh(receipts.build_receipt(ledger, [], []))
        assert words in receipts.QUARANTINE_ZH[code] and words in text, code
        assert "detail\\twith a tab" in text


def test_receipt_names_of_very_long_file_names_fit_the_file_system(tmp_path: Path) -> None:
    long_name = "户籍人口" * 40 + ".csv"  # 484 bytes in UTF-8
    paths = receipts.receipt_paths(tmp_path, "police", long_name, "b" * 64)
    for path in (paths.json_path, paths.text_path):
        assert len(path.name.encode("utf-8")) <= 255
        assert ".bbbbbbbbbbbb.receipt." in path.name and path.name.startswith("户籍人口")
    receipts.write_receipt(paths, receipts.build_receipt({**LEDGER, "file_name": long_name}, [], []))
    assert paths.json_path.is_file() and paths.text_path.is_file()
    short = receipts.receipt_paths(tmp_path, "police", "household_registry_20140630.csv", "f" * 64)
    assert short.json_path.name == "household_registry_20140630.csv.ffffffffffff.receipt.json"
