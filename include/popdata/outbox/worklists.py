"""Work lists (工作清单) back to the agencies, each in the format that agency sends.

Every ``ops.*`` work list of WAREHOUSE.md is also written to the receiving agency's outbox,
``<outbox>/<agency>/worklists/<list>_<YYYYMMDD>.<ext>`` for the run's reference date, with a
short Chinese cover note ``<list>_<YYYYMMDD>_说明.txt`` beside it:

- police (公安): CSV in GB18030 (what the household-registration system exports);
- health (卫生): CSV in UTF-8 with a byte-order mark (what the birth-certificate system exports);
- fp (计生): XLSX (what the family-planning offices send).

``ops.id_corrections`` goes to the agency that sent each record (one file per agency);
``ops.clerical_review`` is for the platform's data engineers, written to ``<outbox>/engineers/``
as UTF-8 CSV. Every cell goes through :func:`popdata.outbox.safe.excel_safe` so a clerk's
spreadsheet never runs a formula from the data. Files are written to a temporary name and
renamed, keyed on the reference date: a re-run for the same date rewrites the same files with
the same content (CSV byte for byte; the XLSX's cells and fixed document properties).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from popdata.outbox.safe import excel_safe

__all__ = ["WORK_LISTS", "WorkList", "write_work_lists"]


@dataclass(frozen=True, slots=True)
class WorkList:
    """One ``ops`` table and who receives it."""

    table: str
    title_zh: str
    note_zh: str
    agency: str | None  # None: per row, from the table's ``agency`` column
    order_by: str


WORK_LISTS: Final[tuple[WorkList, ...]] = (
    WorkList(
        "unregistered_births",
        "出生未登记户口名单",
        "以下新生儿已由医疗机构签发《出生医学证明》，出生已超过30天，但尚未查到公安出生登记。请核实并督促办理出生登记。",
        "police",
        "cert_no",
    ),
    WorkList(
        "registrations_without_certificate",
        "出生登记无出生医学证明名单",
        "以下公安出生登记未能对应到卫生部门的《出生医学证明》。请核实证明编号或补录出生医学证明信息。",
        "health",
        "reg_no",
    ),
    WorkList(
        "deaths_not_cancelled",
        "死亡未注销户口名单",
        "以下人员已有死亡医学证明，死亡已超过30天，但户籍仍为正常状态且未查到死亡注销记录。请核实并办理户口注销。",
        "police",
        "death_cert_no",
    ),
    WorkList(
        "paid_after_death",
        "死亡后仍领取扶助金名单",
        "以下扶助对象在发放年度开始前已有死亡记录，仍列入发放名册。请核实并停发、追回。",
        "fp",
        "id_no, program, year",
    ),
    WorkList(
        "id_corrections",
        "身份证号疑似错误待核实名单",
        "以下记录的身份证号未通过校验，但经比对很可能是名单中“可能的身份证号”所属人员。请核对原始证件后更正。",
        None,
        "feed, source_key",
    ),
    WorkList(
        "clerical_review",
        "人员比对待人工复核清单",
        "以下记录对的匹配概率处于不确定区间，需要人工复核（附支持与反对的证据）。",
        "engineers",
        "1",
    ),
)

_FORMAT: Final = {"police": "gb18030", "health": "utf-8-sig", "fp": "xlsx", "engineers": "utf-8"}
_AGENCY_ZH: Final = {
    "police": "公安局",
    "health": "卫生局",
    "fp": "人口计生委",
    "engineers": "数据平台工程师",
}
_FIXED_TIME: Final = datetime(2000, 1, 1)


def write_work_lists(
    engine: sa.Engine, outbox: Path, reference_date: date, *, lists: Sequence[WorkList] = WORK_LISTS
) -> list[Path]:
    """Write every work list that exists in the warehouse to its agency's outbox; returns the files.

    A list whose ``ops`` table does not exist yet is skipped; an empty list is still written
    (header only) so that "nothing to do" is an answer, not a silence.
    """
    written: list[Path] = []
    with engine.connect() as conn:
        for work_list in lists:
            columns = _columns(conn, work_list.table)
            if not columns:
                continue
            selected = ", ".join(f'"{column}"' for column in columns)
            rows = conn.execute(
                sa.text(f'SELECT {selected} FROM ops."{work_list.table}" ORDER BY {work_list.order_by}')
            ).all()
            by_agency: dict[str, list[Sequence[Any]]] = {}
            if work_list.agency is None:
                index = columns.index("agency")
                for row in rows:
                    by_agency.setdefault(str(row[index]), []).append(row)
            else:
                by_agency[work_list.agency] = list(rows)
            for agency, agency_rows in sorted(by_agency.items()):
                written.extend(_write_one(outbox, agency, work_list, columns, agency_rows, reference_date))
    return written


def _columns(conn: sa.Connection, table: str) -> list[str]:
    return [
        str(name)
        for name in conn.execute(
            sa.text(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'ops'"
                " AND table_name = :t ORDER BY ordinal_position"
            ),
            {"t": table},
        ).scalars()
    ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | float):
        return format(value, "f") if isinstance(value, Decimal) else repr(value)
    return excel_safe(str(value)) or ""


def _write_one(
    outbox: Path,
    agency: str,
    work_list: WorkList,
    columns: list[str],
    rows: Sequence[Sequence[Any]],
    reference_date: date,
) -> list[Path]:
    folder = outbox / agency / "worklists"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{work_list.table}_{reference_date:%Y%m%d}"
    encoding = _FORMAT.get(agency, "utf-8-sig")
    cells = [[_cell(v) for v in row] for row in rows]
    if encoding == "xlsx":
        data = _xlsx(work_list.title_zh, columns, cells)
        target = folder / f"{stem}.xlsx"
    else:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows(cells)
        data = buffer.getvalue().encode(encoding)
        target = folder / f"{stem}.csv"
    note = (
        f"{_AGENCY_ZH.get(agency, agency)}：\n\n"
        f"《{work_list.title_zh}》（截至{reference_date:%Y年%m月%d日}），共{len(rows)}条。\n"
        f"{work_list.note_zh}\n\n"
        f"文件：{target.name}（{'Excel工作簿' if encoding == 'xlsx' else 'CSV，编码' + encoding.upper()}）。"
        "表中以单引号开头的单元格为防止公式执行而加，内容以引号后的文字为准。\n"
        "本清单由人口数据共享平台（popdata）自动生成，请勿直接回复此文件。\n"
    )
    note_path = folder / f"{stem}_说明.txt"
    _atomic_write(target, data)
    _atomic_write(note_path, note.encode("utf-8-sig"))
    return [target, note_path]


def _xlsx(title: str, columns: list[str], cells: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(columns)
    for row in cells:
        sheet.append(row)
    workbook.properties.created = _FIXED_TIME
    workbook.properties.modified = _FIXED_TIME
    workbook.properties.creator = "popdata"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
