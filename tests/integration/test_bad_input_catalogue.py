"""The catalogue of bad input (坏数据目录), one test per class, end to end against real PostgreSQL.

Each test drops its own small files into a fresh landing folder, runs the
pipeline (register → stage → validate → publish) without a scheduler and checks
what an agency would see: the ledger status, the reason code, rows read =
rows loaded + rows rejected, a receipt in JSON and Chinese, and that nothing of
a quarantined (or duplicate) file reached ``core``.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from popdata.config.feeds import feed_by_id
from popdata.config.settings import load_settings
from popdata.ingest import arrive, pipeline, receipts
from popdata.outbox.safe import excel_safe
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration

REGISTRY = "police__household_registry"
APPROVALS = "fp__birth_approvals"
HEADER = "公民身份号码,姓名,性别,出生日期,户号,户籍地区划代码,住址"
ROW_1 = "11010519491231002X,张伟,男,1949-12-31,100000001,120115115001,住址1"
ROW_2 = "110105194912310011,李秀英,女,1950-01-02,100000001,120115115001,住址2"
XLSX_HEADER = ["申请编号", "女方姓名", "女方身份证号", "登记类别", "申请日期", "户籍地区划代码"]
XLSX_ROW = ["A1", "张三", "120115198001010016", "再生育", "2014-01-01", "120115001001"]


@pytest.fixture
def engine(databases) -> Iterator[sa.Engine]:  # type: ignore[no-untyped-def]
    """A fresh, migrated warehouse database."""
    eng = sa.create_engine(databases.create("popdata_test_badinput"))
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@dataclass
class Drops:
    """A landing folder and an outbox under the test's ``tmp_path``."""

    landing: Path
    outbox: Path

    def folder(self, feed_id: str) -> Path:
        """The drop folder of a feed, created."""
        feed = feed_by_id(feed_id)
        path = self.landing / feed.agency / feed.feed
        path.mkdir(parents=True, exist_ok=True)
        return path

    def csv(self, name: str, lines: list[str], *, encoding: str = "gb18030", newline: str = "\r\n") -> Path:
        """Write a registry CSV (GB18030 and CRLF, as the police send)."""
        return self.raw(name, (newline.join(lines) + newline).encode(encoding))

    def raw(self, name: str, content: bytes, feed_id: str = REGISTRY) -> Path:
        """Write a file of any bytes into a feed's drop folder."""
        path = self.folder(feed_id) / name
        path.write_bytes(content)
        return path


@pytest.fixture
def drops(tmp_path: Path) -> Drops:
    """Empty landing folder and outbox."""
    return Drops(tmp_path / "landing", tmp_path / "outbox")


def process(engine: sa.Engine, drops: Drops, feed_id: str = REGISTRY) -> dict[str, dict[str, Any]]:
    """Run every step for the feed's drops; returns the ledger rows by file name."""
    pipeline.process(
        engine,
        load_settings(),
        feed_by_id(feed_id),
        landing=drops.landing,
        outbox=drops.outbox,
        quiet_seconds=0,
        now=time.time() + 1,
    )
    return ledger(engine)


def ledger(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    """Every ledger row, by file name."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM audit.file_ledger ORDER BY file_id")).mappings().all()
    return {r["file_name"]: dict(r) for r in rows}


@dataclass
class Checked:
    """What a file's receipt says, after the common checks."""

    row: dict[str, Any]
    receipt: dict[str, Any]
    text: str


def check(
    engine: sa.Engine, drops: Drops, row: dict[str, Any], *, status: str, reason: str | None = None
) -> Checked:
    """The checks every catalogue entry makes: status, reason code, row arithmetic, receipt, core rows."""
    assert row["status"] == status, row["quarantine_reason"]
    if reason is None:
        assert row["quarantine_reason"] is None
    else:
        assert str(row["quarantine_reason"]).split(": ", 1)[0] == reason, row["quarantine_reason"]
    assert row["rows_read"] == row["rows_loaded"] + row["rows_rejected"]
    paths = receipts.receipt_paths(drops.outbox, row["agency"], row["file_name"], row["sha256"])
    assert paths.json_path.is_file() and paths.text_path.is_file()
    receipt = json.loads(paths.json_path.read_text(encoding="utf-8"))
    text = paths.text_path.read_text(encoding="utf-8")
    assert receipt["status"] == status and receipt["sha256"] == row["sha256"]
    assert (receipt["rows_read"], receipt["rows_loaded"], receipt["rows_rejected"]) == (
        row["rows_read"],
        row["rows_loaded"],
        row["rows_rejected"],
    )
    assert text.startswith("数据接收回执") and receipts.STATUS_ZH[status] in text
    if reason is not None:
        assert receipts.QUARANTINE_ZH[reason] in text and f"（{reason}）" in text
    with engine.connect() as conn:
        in_core = conn.execute(
            sa.text(f'SELECT count(*) FROM core."{row["feed"]}_rows" WHERE file_id = :id'),
            {"id": row["file_id"]},
        ).scalar()
        staged = conn.execute(
            sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'staging' AND tablename LIKE :t"),
            {"t": f"%\\_{row['file_id']}"},
        ).scalar()
    assert staged == 0
    if status in ("quarantined", "duplicate"):
        assert in_core == 0 and row["rows_loaded"] == 0
    else:
        assert in_core == row["rows_loaded"] > 0
    return Checked(row, receipt, text)


def core_rows(engine: sa.Engine, feed: str, file_id: int) -> list[Any]:
    """The rows a file published to ``core.<feed>_rows``, by line."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(f'SELECT * FROM core."{feed}_rows" WHERE file_id = :id ORDER BY line_no'),
                {"id": file_id},
            ).all()
        )


def only(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The one ledger row."""
    assert len(rows) == 1, list(rows)
    return next(iter(rows.values()))


# --- the contract's quarantine reasons ---------------------------------------------------------------


def test_undecodable_bytes(engine: sa.Engine, drops: Drops) -> None:
    drops.raw(
        "household_registry_20140731.csv", (HEADER + "\r\n").encode("gbk") + b"1,\xff\xff\xfe\xff,1\r\n"
    )
    checked = check(
        engine, drops, only(process(engine, drops)), status="quarantined", reason="file_undecodable"
    )
    assert "无法解码" in checked.text


def test_missing_required_column(engine: sa.Engine, drops: Drops) -> None:
    drops.csv("household_registry_20140731.csv", ["公民身份号码,姓名,性别,出生日期,户籍地区划代码", ROW_1])
    checked = check(
        engine,
        drops,
        only(process(engine, drops)),
        status="quarantined",
        reason="file_missing_required_columns",
    )
    assert "household_no" in checked.receipt["quarantine_reason"]


def test_empty_file(engine: sa.Engine, drops: Drops) -> None:
    drops.raw("household_registry_20140731.csv", b"")
    check(engine, drops, only(process(engine, drops)), status="quarantined", reason="file_empty")


def test_header_only(engine: sa.Engine, drops: Drops) -> None:
    drops.csv("household_registry_20140731.csv", [HEADER, "", ",,,,,,"])
    checked = check(
        engine, drops, only(process(engine, drops)), status="quarantined", reason="file_no_data_rows"
    )
    assert "只有表头" in checked.text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        (
            "household_registry_20140731.xls",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512),
            "file_unsupported_format",
        ),
        (
            "household_registry_20140731.txt",
            (HEADER + "\n" + ROW_1 + "\n").encode("gbk"),
            "file_unsupported_format",
        ),
        ("household_registry_20140731.xlsx", (HEADER + "\n" + ROW_1 + "\n").encode("gbk"), "file_not_xlsx"),
    ],
)
def test_not_csv_or_xlsx_at_all(
    engine: sa.Engine, drops: Drops, name: str, content: bytes, reason: str
) -> None:
    drops.raw(name, content)
    check(engine, drops, only(process(engine, drops)), status="quarantined", reason=reason)


def test_over_the_size_limit(engine: sa.Engine, drops: Drops, monkeypatch: pytest.MonkeyPatch) -> None:
    size = drops.csv("household_registry_20140731.csv", [HEADER, ROW_1, ROW_2]).stat().st_size
    monkeypatch.setenv("POPDATA_MAX_FILE_BYTES", str(size - 1))
    assert load_settings().max_file_bytes == size - 1
    checked = check(
        engine, drops, only(process(engine, drops)), status="quarantined", reason="file_too_large"
    )
    assert f"{size} bytes is over the limit of {size - 1}" in checked.receipt["quarantine_reason"]


def _manifest(path: Path, **fields: object) -> None:
    manifest = {"agency": "police", "feed": "household_registry", "extract_date": "2014-07-31", **fields}
    path.with_name(path.name + arrive.MANIFEST_SUFFIX).write_text(json.dumps(manifest), encoding="utf-8")


def test_manifest_rows_mismatch(engine: sa.Engine, drops: Drops) -> None:
    path = drops.csv("household_registry_20140731.csv", [HEADER, ROW_1, ROW_2])
    _manifest(path, rows=3)
    checked = check(
        engine, drops, only(process(engine, drops)), status="quarantined", reason="manifest_rows_mismatch"
    )
    assert "says 3 rows, the file has 2" in checked.receipt["quarantine_reason"]


def test_manifest_sha256_mismatch(engine: sa.Engine, drops: Drops) -> None:
    path = drops.csv("household_registry_20140731.csv", [HEADER, ROW_1])
    _manifest(path, rows=1, sha256="0" * 64)
    check(
        engine, drops, only(process(engine, drops)), status="quarantined", reason="manifest_sha256_mismatch"
    )


# --- encodings -------------------------------------------------------------------------------------


def test_half_gbk_half_utf8_is_quarantined_as_mixed(engine: sa.Engine, drops: Drops) -> None:
    """Deliberate: decoding either way would load mojibake as names, so the file is refused, lines named."""
    gbk = (HEADER + "\r\n" + ROW_1 + "\r\n").encode("gbk")
    utf8 = (ROW_2 + "\r\n" + ROW_2.replace("0011", "0021").replace("李秀英", "王建国") + "\r\n").encode(
        "utf-8"
    )
    drops.raw("household_registry_20140731.csv", gbk + utf8)
    checked = check(
        engine, drops, only(process(engine, drops)), status="quarantined", reason="file_mixed_encodings"
    )
    assert "lines 3, 4 (2 in all) are UTF-8" in checked.text and "混用" in checked.text


def test_utf8_bom_loads(engine: sa.Engine, drops: Drops) -> None:
    drops.raw(
        "household_registry_20140731.csv", b"\xef\xbb\xbf" + (HEADER + "\r\n" + ROW_1 + "\r\n").encode()
    )
    checked = check(engine, drops, only(process(engine, drops)), status="loaded")
    assert checked.row["encoding"] == "utf-8-sig" and checked.row["rows_loaded"] == 1
    assert "encoding_unexpected" in checked.row["irregularities"]  # the police send GB18030/GBK
    assert core_rows(engine, "household_registry", checked.row["file_id"])[0].name == "张伟"


def test_utf16_bom_is_undecodable_with_a_clear_reason(engine: sa.Engine, drops: Drops) -> None:
    drops.raw("household_registry_20140731.csv", (HEADER + "\r\n" + ROW_1 + "\r\n").encode("utf-16"))
    checked = check(
        engine, drops, only(process(engine, drops)), status="quarantined", reason="file_undecodable"
    )
    assert "UTF-16" in checked.receipt["quarantine_reason"] and "FF FE" in checked.text


def test_binary_junk_named_csv(engine: sa.Engine, drops: Drops) -> None:
    drops.raw("household_registry_20140731.csv", bytes(range(256)) * 8)
    checked = check(engine, drops, only(process(engine, drops)), status="quarantined", reason="file_not_text")
    assert "NUL" in checked.receipt["quarantine_reason"]


# --- layout: quoting, line endings, headers ---------------------------------------------------------


def test_quoted_newlines_and_crlf(engine: sa.Engine, drops: Drops) -> None:
    drops.csv(
        "household_registry_20140731.csv",
        [
            HEADER,
            '11010519491231002X,张伟,男,1949-12-31,100000001,120115115001,"天津市\r\n宝坻区, ""28""号"',
            "110105194912310011,,女,1950-01-02,100000001,120115115001,住址",  # physical line 4: name blank
            ROW_2.replace("0011", "0021"),
        ],
    )
    checked = check(engine, drops, only(process(engine, drops)), status="loaded_with_rejections")
    assert (checked.row["rows_read"], checked.row["rows_loaded"], checked.row["rows_rejected"]) == (3, 2, 1)
    assert [(r["line"], r["column"], r["reason"]) for r in checked.receipt["rejected_rows"]] == [
        (4, "name", "required_blank")
    ]
    loaded = core_rows(engine, "household_registry", checked.row["file_id"])
    assert [r.line_no for r in loaded] == [2, 5]
    assert loaded[0].address == '天津市 宝坻区, "28"号'  # the quoted line break is kept as a space


def test_duplicate_headers(engine: sa.Engine, drops: Drops) -> None:
    drops.csv(
        "household_registry_20140731.csv",
        [HEADER + ",姓名", ROW_1 + ",别名甲"],
    )
    checked = check(engine, drops, only(process(engine, drops)), status="loaded")
    assert "duplicate_header" in checked.row["irregularities"] and "表头重复" in checked.text
    assert core_rows(engine, "household_registry", checked.row["file_id"])[0].name == "张伟"  # the first wins


def test_extra_headers(engine: sa.Engine, drops: Drops) -> None:
    drops.csv("household_registry_20140731.csv", [HEADER + ",备注,联系电话", ROW_1 + ",外出务工,13800000000"])
    checked = check(engine, drops, only(process(engine, drops)), status="loaded")
    assert "extra_columns" in checked.row["irregularities"]
    (row,) = core_rows(engine, "household_registry", checked.row["file_id"])
    assert row.extras == {"备注": "外出务工", "联系电话": "13800000000"}


def test_shuffled_columns(engine: sa.Engine, drops: Drops) -> None:
    drops.csv(
        "household_registry_20140731.csv",
        [
            "住址,户籍地区划代码,户号,出生日期,性别,姓名,公民身份号码",
            "住址1,120115115001,100000001,1949-12-31,男,张伟,11010519491231002X",
        ],
    )
    checked = check(engine, drops, only(process(engine, drops)), status="loaded")
    (row,) = core_rows(engine, "household_registry", checked.row["file_id"])
    assert (row.id_no, row.name, row.sex, str(row.birth_date), row.household_no, row.address) == (
        "11010519491231002X",
        "张伟",
        "1",
        "1949-12-31",
        "100000001",
        "住址1",
    )


# --- hostile XLSX ----------------------------------------------------------------------------------


def _workbook(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _rezip(data: bytes, replace: dict[str, bytes], zeros: dict[str, int]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for info in source.infolist():
            archive.writestr(info.filename, replace.get(info.filename, source.read(info.filename)))
        for name, size in zeros.items():
            with archive.open(name, "w", force_zip64=True) as entry:
                for _ in range(size >> 20):
                    entry.write(bytes(1 << 20))
    return out.getvalue()


@pytest.mark.timeout(60)
def test_xlsx_zip_bomb(engine: sa.Engine, drops: Drops) -> None:
    bomb = _rezip(_workbook([XLSX_HEADER, XLSX_ROW]), {}, {"xl/worksheets/sheet2.xml": 64 << 20})
    assert len(bomb) < 80_000  # 64 MiB of zeros behind ~70 KB
    drops.raw("birth_approvals_20140731.xlsx", bomb, APPROVALS)
    checked = check(
        engine,
        drops,
        only(process(engine, drops, APPROVALS)),
        status="quarantined",
        reason="file_unsafe_xlsx",
    )
    assert "xl/worksheets/sheet2.xml" in checked.receipt["quarantine_reason"] and "压缩炸弹" in checked.text


@pytest.mark.timeout(60)
def test_xml_entity_bomb(engine: sa.Engine, drops: Drops) -> None:
    laughs = '<!DOCTYPE lolz [<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%s;" % ("" if i == 1 else i - 1)) * 10}">' for i in range(1, 10)
    )
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + laughs + "]>\n"
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>申请编号</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
        "</sheetData></worksheet>"
    )
    bomb = _rezip(_workbook([XLSX_HEADER, XLSX_ROW]), {"xl/worksheets/sheet1.xml": sheet.encode()}, {})
    assert len(bomb) < 10_000
    drops.raw("birth_approvals_20140731.xlsx", bomb, APPROVALS)
    checked = check(
        engine,
        drops,
        only(process(engine, drops, APPROVALS)),
        status="quarantined",
        reason="file_unsafe_xlsx",
    )
    reason = checked.receipt["quarantine_reason"]
    assert "xl/worksheets/sheet1.xml" in reason and "DTD" in reason and "XML实体" in checked.text


# --- names, links, resends ----------------------------------------------------------------------------

ODD_NAMES = [
    "household registry 2014 07 31.csv",
    "中文文件名.csv",
    "-household_registry_20140731.csv",
    "a..b.csv",
]


def test_odd_file_names_load_and_links_are_never_read(
    engine: sa.Engine, drops: Drops, tmp_path: Path
) -> None:
    for i, name in enumerate(ODD_NAMES):  # different bytes, so none is a duplicate of another
        drops.csv(name, [HEADER, ROW_1.replace("住址1", f"住址{i}")])
    secret = tmp_path / "secret.csv"
    secret.write_bytes((HEADER + "\r\n" + ROW_2 + "\r\n").encode("gbk"))
    (drops.folder(REGISTRY) / "household_registry_20140801.csv").symlink_to(secret)
    rows = process(engine, drops)
    assert sorted(rows) == sorted(ODD_NAMES)  # the link is not in the ledger
    for name in ODD_NAMES:
        checked = check(engine, drops, rows[name], status="loaded")
        assert "irregular_name" in checked.row["irregularities"] and "文件名不符合" in checked.text
        assert checked.row["rel_path"] == f"police/household_registry/{name}"
    assert rows["-household_registry_20140731.csv"]["file_name"].startswith("-")
    dashed = check(engine, drops, rows["-household_registry_20140731.csv"], status="loaded").receipt
    assert dashed["file"] == "'-household_registry_20140731.csv"  # escaped for Excel
    (skipped,) = arrive.skipped_entries(drops.landing, feed_by_id(REGISTRY))
    assert skipped.reason == arrive.SKIP_SYMLINK and skipped.path.name == "household_registry_20140801.csv"
    secret_sha = arrive.sha256_of(secret)[0]
    assert all(r["sha256"] != secret_sha for r in rows.values())


def test_same_file_dropped_twice_at_once(engine: sa.Engine, drops: Drops) -> None:
    lines = [HEADER, ROW_1, ROW_2]
    drops.csv("household_registry_20140731.csv", lines)
    drops.csv("household_registry_20140731_resend.csv", lines)
    settings = load_settings()
    ids = pipeline.register(
        engine, feed_by_id(REGISTRY), drops.landing, quiet_seconds=0, now=time.time() + 1
    ).file_ids
    assert len(ids) == 2
    staged = [pipeline.stage(engine, settings, i, landing=drops.landing, outbox=drops.outbox) for i in ids]
    # the earliest registered drop goes on; the other is closed as its duplicate while it is still
    # in flight (at staging) or at the latest when publishing decides under the lock
    assert staged[0] == "staged" and staged[1] in ("staged", "duplicate")
    validated = [pipeline.validate(engine, settings, i, outbox=drops.outbox) for i in ids]
    assert validated == ["validated", "validated" if staged[1] == "staged" else "duplicate"]
    assert [pipeline.publish(engine, i, outbox=drops.outbox) for i in ids] == ["published", "duplicate"]
    rows = ledger(engine)
    first = check(engine, drops, rows["household_registry_20140731.csv"], status="loaded")
    second = check(engine, drops, rows["household_registry_20140731_resend.csv"], status="duplicate")
    assert first.row["rows_loaded"] == 2
    assert second.row["duplicate_of"] == first.row["file_id"] and second.receipt["duplicate_of"] == ids[0]
    assert "内容完全相同" in second.text


# --- formula injection ------------------------------------------------------------------------------


def test_cells_starting_with_formula_characters(engine: sa.Engine, drops: Drops) -> None:
    """Loaded as data (the warehouse keeps what was sent); escaped in everything written back."""
    drops.csv(
        "=1+1_household_registry_20140731.csv",
        [
            HEADER,
            '11010519491231002X,"=HYPERLINK(""http://x.invalid"",""点我"")",男,1949-12-31,100000001,120115115001,'
            "@SUM(1+1)*cmd|' /C calc'!A0",  # 2: loads, name and address as sent
            "110105194912310011,+李四,=1+1,1950-01-02,100000001,120115115001,住址",  # 3: sex → rejected
            "110105194912310021,王五,女,-2+3+cmd|' /C calc'!A0,100000001,120115115001,住址",  # 4: date → rejected
            "110105194912310031,赵六,女,1950-01-02,-12,120115115001,住址",  # 5: loads
        ],
    )
    checked = check(engine, drops, only(process(engine, drops)), status="loaded_with_rejections")
    assert (checked.row["rows_read"], checked.row["rows_loaded"], checked.row["rows_rejected"]) == (4, 2, 2)
    loaded = core_rows(engine, "household_registry", checked.row["file_id"])
    assert [r.line_no for r in loaded] == [2, 5]
    assert loaded[0].name == '=HYPERLINK("http://x.invalid","点我")'
    assert loaded[0].address == "@SUM(1+1)*cmd|' /C calc'!A0"
    assert loaded[1].household_no == "-12"
    receipt = checked.receipt
    assert receipt["file"] == "'=1+1_household_registry_20140731.csv"
    assert [(r["line"], r["column"], r["value"]) for r in receipt["rejected_rows"]] == [
        (3, "sex", "'=1+1"),
        (4, "birth_date", "'-2+3+cmd|' /C calc'!A0"),
    ]
    assert "文件：'=1+1_household_registry_20140731.csv" in checked.text
    assert "　'=1+1" in checked.text and "　'-2+3+cmd" in checked.text
    assert all(excel_safe(line) == line for line in checked.text.splitlines())  # no line is formula-like
    assert os.path.basename(str(checked.row["receipt_path"])).startswith(
        "=1+1_household_registry_20140731.csv."
    )
