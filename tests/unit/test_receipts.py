"""Receipts: the same facts in JSON and in Chinese, at deterministic paths."""

from __future__ import annotations

import json
from pathlib import Path

from popdata.ingest import receipts

LEDGER = {
    "file_id": 7,
    "agency": "police",
    "feed": "household_registry",
    "file_name": "household_registry_20140630.csv",
    "rel_path": "police/household_registry/household_registry_20140630.csv",
    "sha256": "f" * 64,
    "size_bytes": 10,
    "extract_date": None,
    "received_at": None,
    "status": "loaded_with_rejections",
    "encoding": "gbk",
    "rows_read": 5,
    "rows_loaded": 4,
    "rows_rejected": 1,
    "quarantine_reason": None,
    "duplicate_of": None,
    "irregularities": ["irregular_name", "traditional_script"],
}
REJECTED = [{"line_no": 3, "column_name": "name", "reason_code": "damaged_text", "masked_value": "确*"}]
WARNINGS = [
    {
        "line_no": 4,
        "column_name": "id_no",
        "reason_code": "id_bad_check_char",
        "masked_value": "110105**********21",
    },
    {
        "line_no": 5,
        "column_name": "id_no",
        "reason_code": "id_bad_check_char",
        "masked_value": "110105**********22",
    },
]


def test_json_and_text_say_the_same(tmp_path: Path) -> None:
    receipt = receipts.build_receipt(LEDGER, REJECTED, WARNINGS)
    assert receipt["rows_read"] == receipt["rows_loaded"] + receipt["rows_rejected"]
    assert receipt["rejected_rows"] == [
        {"line": 3, "column": "name", "reason": "damaged_text", "value": "确*"}
    ]
    assert receipt["warnings_by_reason"] == {"id_bad_check_char": 2}
    paths = receipts.receipt_paths(tmp_path, "police", LEDGER["file_name"], LEDGER["sha256"])  # type: ignore[arg-type]
    receipts.write_receipt(paths, receipt)
    assert paths.json_path.name == "household_registry_20140630.csv.ffffffffffff.receipt.json"
    assert json.loads(paths.json_path.read_text(encoding="utf-8")) == receipt
    text = paths.text_path.read_text(encoding="utf-8")
    for fact in (
        "读取行数：5",
        "入库行数：4",
        "拒收行数：1",
        "第3行",
        "damaged_text",
        "文件名不符合",
        "繁体",
        "：2",
    ):
        assert fact in text, fact
    assert "已入库（部分行拒收）" in text
    assert list(tmp_path.rglob("*.tmp")) == []


def test_quarantine_reason_is_explained_in_chinese() -> None:
    ledger = {
        **LEDGER,
        "status": "quarantined",
        "quarantine_reason": "manifest_rows_mismatch: manifest says 2 rows",
    }
    text = receipts.render_text_zh(receipts.build_receipt(ledger, [], []))
    assert "已隔离" in text and "清单中的行数与文件不符" in text and "manifest says 2 rows" in text
