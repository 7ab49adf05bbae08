"""Receipts (回执): what every agency gets back for every file, as JSON and as Chinese text.

A receipt states the file, its sha256, the feed, the status (loaded / loaded
with rejections / quarantined / duplicate), rows read, loaded and rejected
(read = loaded + rejected, always), every rejected row with line, column and
reason code, warnings, and what was irregular. Values are masked.

Every value that comes from an agency's file (the file name and path, masked
values, column names) passes through :func:`popdata.outbox.safe.excel_safe` in
the JSON and :func:`popdata.outbox.safe.text_safe` in the Chinese text, so a
clerk who opens a receipt in Excel or WPS never runs a formula sent in a cell
(公式注入): ``=1+1`` is written ``'=1+1``; plain numbers such as ``-12`` stay.

Receipts are written to ``<outbox>/<agency>/receipts/<stem>.<sha12>.receipt.{json,txt}``:
the same drop always gets the same file names, so a re-run rewrites them
instead of adding new ones. A file name too long for a receipt name (255 bytes)
is shortened; the sha256 prefix keeps it unique.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from popdata.outbox.safe import excel_safe, text_safe

STATUS_ZH = {
    "loaded": "已入库",
    "loaded_with_rejections": "已入库（部分行拒收）",
    "quarantined": "已隔离（未入库）",
    "duplicate": "重复文件（此前已入库，未重复入库）",
}

REASON_ZH = {
    "required_blank": "必填项为空或为占位值（不详、无等）",
    "row_too_many_fields": "本行字段数多于表头",
    "damaged_text": "文字已损坏（含?或乱码），无法识别",
    "sex_unknown_code": "性别代码不在规定范围内",
    "date_unparseable": "日期无法识别",
    "date_impossible": "日期不存在（如2月30日）",
    "region_unparseable": "区划代码格式错误",
    "region_unresolved": "区划名称无法对应到统计用区划代码",
    "region_ambiguous": "区划名称对应多个代码",
    "id_blank": "身份证号为空",
    "id_scientific_notation": "身份证号被Excel转成了科学计数法",
    "id_bad_length": "身份证号位数错误",
    "id_bad_characters": "身份证号含非法字符",
    "id_bad_check_char": "身份证号校验位错误",
    "id_bad_birth_date": "身份证号中的出生日期不存在",
    "id_unknown_address_code": "身份证号中的地址码不在行政区划表中（可能为旧区划，仅提示）",
    "money_unparseable": "金额无法识别",
    "int_unparseable": "数字无法识别",
    "birth_order_unparseable": "胎次无法识别",
    "dq_rule_failed": "未通过数据质量规则（该列的值不合理）",
}

IRREGULARITY_ZH = {
    "irregular_name": "文件名不符合“数据项_YYYYMMDD[_序号]”规范",
    "encoding_unexpected": "文件编码与该数据项约定的编码不同",
    "manifest_encoding_wrong": "清单中声明的编码与文件实际编码不符",
    "traditional_script": "含繁体字，已转为简体入库（原文保留）",
    "damaged_text": "含已损坏的文字",
    "extra_columns": "含约定之外的列（已保留，未入库为字段）",
    "duplicate_header": "表头重复",
    "extract_date_unknown": "无法从清单或文件名得知抽取日期",
}

QUARANTINE_ZH = {
    "file_undecodable": "文件无法解码（不是UTF-8、GBK、GB18030或Big5）",
    "file_not_xlsx": "不是有效的XLSX工作簿",
    "file_unsupported_format": "不是CSV或XLSX文件",
    "file_too_large": "文件超过大小上限",
    "file_empty": "文件为空",
    "file_no_data_rows": "只有表头，没有数据行",
    "file_missing_required_columns": "缺少必填列",
    "manifest_rows_mismatch": "清单中的行数与文件不符",
    "manifest_sha256_mismatch": "清单中的SHA-256与文件不符",
    "manifest_unreadable": "清单无法读取",
    "manifest_feed_mismatch": "清单中的部门或数据项与所在目录不符",
    "dq_critical_failed": "未通过关键数据质量检查",
    "file_changed_after_registration": "文件登记后内容又被改动，请重新报送",
    "file_unsafe_xlsx": "XLSX工作簿不安全（疑似压缩炸弹，或含XML实体/DTD声明），出于安全未打开",
    "file_not_text": "文件扩展名为.csv，但内容不是文本（含NUL字节或大量控制字符等二进制数据）",
    "file_mixed_encodings": "同一文件中混用了不同编码（部分行为UTF-8，其余为GBK/GB18030/Big5），无法可靠解码",
    "file_unsafe_path": "文件是符号链接或不是普通文件，出于安全未读取",
}

MAX_LISTED_WARNINGS = 1000
MAX_NAME_BYTES = 255  # longest file name on the usual file systems (ext4, NTFS in UTF-16 units)
#: A receipt's temporary file older than this was left by a process that died before renaming it.
STALE_TMP_SECONDS = 600


@dataclass(frozen=True, slots=True)
class ReceiptPaths:
    """Where a file's receipt lives."""

    json_path: Path
    text_path: Path
    tmp_prefix: str
    """How this drop's temporary receipt files begin (``.<sha12>.``), in the same folder."""


def receipt_paths(outbox: Path, agency: str, file_name: str, sha256: str) -> ReceiptPaths:
    """The receipt file names of one drop (deterministic)."""
    stem = Path(file_name).name
    suffix = f".{sha256[:12]}.receipt.json"
    while stem and len((stem + suffix).encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    base = outbox / agency / "receipts" / f"{stem}.{sha256[:12]}.receipt"
    return ReceiptPaths(
        base.with_name(base.name + ".json"), base.with_name(base.name + ".txt"), f".{sha256[:12]}."
    )


def build_receipt(
    ledger: dict[str, Any], rejected: list[dict[str, Any]], warnings: list[dict[str, Any]]
) -> dict[str, Any]:
    """The machine-readable receipt of one file from its ledger row and issues."""
    warning_counts = Counter(w["reason_code"] for w in warnings)
    return {
        "receipt_version": 1,
        "file_id": ledger["file_id"],
        "agency": ledger["agency"],
        "feed": ledger["feed"],
        "file": excel_safe(ledger["file_name"]),
        "path": excel_safe(ledger["rel_path"]),
        "sha256": ledger["sha256"],
        "size_bytes": ledger["size_bytes"],
        "extract_date": _iso(ledger.get("extract_date")),
        "received_at": _iso(ledger.get("received_at")),
        "status": ledger["status"],
        "encoding": ledger.get("encoding"),
        "rows_read": ledger.get("rows_read") or 0,
        "rows_loaded": ledger.get("rows_loaded") or 0,
        "rows_rejected": ledger.get("rows_rejected") or 0,
        "quarantine_reason": ledger.get("quarantine_reason"),
        "duplicate_of": ledger.get("duplicate_of"),
        "irregularities": list(ledger.get("irregularities") or []),
        "rejected_rows": [
            {
                "line": r["line_no"],
                "column": excel_safe(r["column_name"]),
                "reason": r["reason_code"],
                "value": excel_safe(r["masked_value"]),
            }
            for r in rejected
        ],
        "warnings_by_reason": dict(sorted(warning_counts.items())),
        "warnings": [
            {
                "line": w["line_no"],
                "column": excel_safe(w["column_name"]),
                "reason": w["reason_code"],
                "value": excel_safe(w["masked_value"]),
            }
            for w in warnings[:MAX_LISTED_WARNINGS]
        ],
        "warnings_truncated": len(warnings) > MAX_LISTED_WARNINGS,
    }


def render_text_zh(receipt: dict[str, Any]) -> str:
    """The clerk's receipt in Chinese, with the same facts as the JSON.

    Values from the agency's file are shown through :func:`text_safe` (control
    characters made visible, formula-like values prefixed with ``'``).
    """
    lines = [
        "数据接收回执",
        "─" * 12,  # not "=": no line of a receipt may start with a formula character
        f"文件：{text_safe(receipt['file'])}（{text_safe(receipt['path'])}）",
        f"部门/数据项：{receipt['agency']} / {receipt['feed']}",
        f"SHA-256：{receipt['sha256']}",
        f"抽取日期：{receipt['extract_date'] or '未知'}",
        f"处理结果：{STATUS_ZH.get(receipt['status'], receipt['status'])}",
        f"识别编码：{receipt['encoding'] or '未知'}",
        f"读取行数：{receipt['rows_read']}　入库行数：{receipt['rows_loaded']}　拒收行数：{receipt['rows_rejected']}",
    ]
    if receipt["quarantine_reason"]:
        code, _, detail = str(receipt["quarantine_reason"]).partition(": ")
        lines.append(
            f"隔离原因：{QUARANTINE_ZH.get(code, code)}（{code}）{('：' + (text_safe(detail) or '')) if detail else ''}"
        )
    if receipt["duplicate_of"]:
        lines.append(f"与已入库文件（编号 {receipt['duplicate_of']}）内容完全相同。")
    if receipt["irregularities"]:
        lines.append("不规范之处：")
        lines.extend(f"  · {IRREGULARITY_ZH.get(i, i)}（{i}）" for i in receipt["irregularities"])
    if receipt["rejected_rows"]:
        lines.append("拒收行（行号 / 列 / 原因 / 脱敏值）：")
        lines.extend(
            f"  第{r['line']}行　{text_safe(r['column']) or '-'}　{REASON_ZH.get(r['reason'], r['reason'])}（{r['reason']}）"
            f"　{text_safe(r['value']) or ''}"
            for r in receipt["rejected_rows"]
        )
    if receipt["warnings_by_reason"]:
        lines.append("入库但有警告的值（按原因计数）：")
        lines.extend(
            f"  · {REASON_ZH.get(k, k)}（{k}）：{v}" for k, v in receipt["warnings_by_reason"].items()
        )
    return "\n".join(lines) + "\n"


def write_receipt(paths: ReceiptPaths, receipt: dict[str, Any]) -> None:
    """Write both forms atomically (temp file, then rename)."""
    prepare_receipt(paths, receipt).put_in_place()


@dataclass(slots=True)
class PreparedReceipt:
    """A receipt written to temporary files beside its final names, not yet in place.

    The ledger marks a file final in the transaction that prepares its receipt: when the outbox
    cannot be written the preparation raises, the transaction rolls back and the file is not
    marked done. After the commit :meth:`put_in_place` renames the files (atomic, the same
    folder); when the commit fails :meth:`discard` removes them.
    """

    moves: list[tuple[Path, Path]]
    tmp_prefix: str

    def put_in_place(self) -> None:
        """Rename the temporary files to the receipt's names (replacing an earlier receipt), then
        remove this drop's temporary files left by a process that died before renaming them
        (older than :data:`STALE_TMP_SECONDS`, so a concurrent try's are never touched)."""
        folders = {final.parent for _, final in self.moves}
        for tmp, final in self.moves:
            os.replace(tmp, final)
        self.moves = []
        cutoff = time.time() - STALE_TMP_SECONDS
        for folder in folders:
            for stale in folder.glob(f"{glob.escape(self.tmp_prefix)}*.tmp"):
                with contextlib.suppress(OSError):
                    if stale.stat().st_mtime < cutoff:
                        stale.unlink()

    def discard(self) -> None:
        """Remove the temporary files (the transaction that prepared them did not commit)."""
        for tmp, _ in self.moves:
            tmp.unlink(missing_ok=True)
        self.moves = []


def prepare_receipt(paths: ReceiptPaths, receipt: dict[str, Any]) -> PreparedReceipt:
    """Write both forms to temporary files in the receipts folder, flushed to disk; raises
    :class:`OSError` when the outbox cannot take them (nothing is left behind then)."""
    prepared = PreparedReceipt([], paths.tmp_prefix)
    try:
        paths.json_path.parent.mkdir(parents=True, exist_ok=True)
        for final, content in (
            (paths.json_path, json.dumps(receipt, ensure_ascii=False, indent=2) + "\n"),
            (paths.text_path, render_text_zh(receipt)),
        ):
            tmp = final.with_name(f"{paths.tmp_prefix}{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
            prepared.moves.append((tmp, final))
            with tmp.open("w", encoding="utf-8") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
    except BaseException:
        prepared.discard()
        raise
    return prepared


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
