"""The household registry slice end to end against real PostgreSQL, without a scheduler."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from popdata.config.feeds import Feed, feed_by_id
from popdata.config.settings import load_settings
from popdata.ingest import pipeline
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration

REGISTRY = "police__household_registry"
SAMPLE_LANDING = Path(__file__).resolve().parents[1] / "fixtures" / "sample_landing"
HEADER = "公民身份号码,姓名,性别,出生日期,户号,与户主关系,户籍地区划代码,住址,人口状态"


@pytest.fixture
def engine(databases) -> Iterator[sa.Engine]:  # type: ignore[no-untyped-def]
    eng = sa.create_engine(databases.create("popdata_test_ingest"))
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


def _process(engine: sa.Engine, feed_id: str, landing: Path, outbox: Path) -> dict[int, str]:
    return pipeline.process(
        engine,
        load_settings(),
        feed_by_id(feed_id),
        landing=landing,
        outbox=outbox,
        quiet_seconds=0,
        now=time.time(),
    )


def _scalar(engine: sa.Engine, query: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).scalar()


def _registry_only(landing: Path) -> Path:
    """Keep only the regions and household registry feeds of the sample landing."""
    for agency in ("health", "fp"):
        shutil.rmtree(landing / agency)
    for feed in ("birth_registrations", "hukou_cancellations", "migrant_registrations"):
        shutil.rmtree(landing / "police" / feed)
    return landing


def test_sample_registry_loads_to_core_and_mart(engine: sa.Engine, landing: Path, tmp_path: Path) -> None:
    landing = _registry_only(landing)
    outbox = tmp_path / "outbox"
    assert set(_process(engine, "stats__regions", landing, outbox).values()) == {"published"}
    reached = _process(engine, REGISTRY, landing, outbox)
    assert sorted(reached.values()) == ["published", "published"]

    with engine.connect() as conn:
        ledger = (
            conn.execute(
                sa.text(
                    "SELECT * FROM audit.file_ledger WHERE feed = 'household_registry' ORDER BY extract_date"
                )
            )
            .mappings()
            .all()
        )
        assert [r["status"] for r in ledger] == ["loaded", "loaded"]
        # the manifests say 3044 and 3046 rows; multi-line quoted addresses make more physical lines
        assert [r["rows_read"] for r in ledger] == [3044, 3046]
        for r in ledger:
            assert r["rows_read"] == r["rows_loaded"] + r["rows_rejected"]
            assert r["encoding"] in ("gb18030", "gbk")
            loaded = conn.execute(
                sa.text("SELECT count(*) FROM core.household_registry_rows WHERE file_id = :f"),
                {"f": r["file_id"]},
            ).scalar()
            assert loaded == r["rows_loaded"]
            receipt = json.loads(Path(r["receipt_path"]).read_text(encoding="utf-8"))
            assert receipt["sha256"] == r["sha256"]
            assert receipt["rows_read"] == receipt["rows_loaded"] + receipt["rows_rejected"] == r["rows_read"]
            assert (
                Path(r["receipt_path"])
                .with_suffix(".txt")
                .read_text(encoding="utf-8")
                .startswith("数据接收回执")
            )
        latest = ledger[-1]["file_id"]
        active = conn.execute(
            sa.text(
                "SELECT count(*) FROM core.household_registry_rows WHERE file_id = :f"
                " AND (status IS NULL OR status = '正常') AND birth_date <= '2014-06-30'"
            ),
            {"f": latest},
        ).scalar()
        in_mart = conn.execute(
            sa.text("SELECT sum(persons) FROM mart.population WHERE year = 2014 AND month = 6")
        ).scalar()
        assert active and in_mart == active
        assert (
            conn.execute(sa.text("SELECT count(*) FROM core.household_registry")).scalar()
            == ledger[-1]["rows_loaded"]
        )
        # 15-digit numbers of the elderly were upgraded to 18 and kept as sent
        upgraded = conn.execute(
            sa.text(
                "SELECT id_no, id_no_sent FROM core.household_registry_rows WHERE length(id_no_sent) = 15 LIMIT 1"
            )
        ).first()
        assert (
            upgraded is not None
            and len(upgraded.id_no) == 18
            and upgraded.id_no[:6] == upgraded.id_no_sent[:6]
        )
        dq = conn.execute(
            sa.text("SELECT count(*) FROM audit.dq_results WHERE file_id = :f"), {"f": latest}
        ).scalar()
        assert dq and dq >= 5
        # the staging tables are gone once published
        assert (
            conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'staging'")).scalar() == 0
        )


def test_rerun_changes_nothing(engine: sa.Engine, landing: Path, tmp_path: Path) -> None:
    landing = _registry_only(landing)
    outbox = tmp_path / "outbox"
    _process(engine, "stats__regions", landing, outbox)  # the region reference first, as popdata run
    _process(engine, REGISTRY, landing, outbox)
    before = _scalar(engine, "SELECT count(*) FROM core.household_registry_rows")
    receipts = sorted(p.name for p in (outbox / "police" / "receipts").iterdir())
    assert _process(engine, REGISTRY, landing, outbox) == {}
    # even a step re-run on a published file only rewrites its receipt
    file_id = int(
        _scalar(engine, "SELECT min(file_id) FROM audit.file_ledger WHERE feed = 'household_registry'")
    )  # type: ignore[arg-type]
    assert pipeline.stage(engine, load_settings(), file_id, landing=landing, outbox=outbox) == "published"
    assert pipeline.publish(engine, file_id, outbox=outbox) == "published"
    assert _scalar(engine, "SELECT count(*) FROM core.household_registry_rows") == before
    assert _scalar(engine, "SELECT count(*) FROM audit.file_ledger WHERE feed = 'household_registry'") == 2
    assert sorted(p.name for p in (outbox / "police" / "receipts").iterdir()) == receipts


def test_same_bytes_under_another_name_is_a_duplicate(
    engine: sa.Engine, landing: Path, tmp_path: Path
) -> None:
    landing = _registry_only(landing)
    outbox = tmp_path / "outbox"
    _process(engine, "stats__regions", landing, outbox)  # the region reference first, as popdata run
    _process(engine, REGISTRY, landing, outbox)
    folder = landing / "police" / "household_registry"
    shutil.copy(folder / "household_registry_20140630.csv", folder / "household_registry_20140630_resend.csv")
    reached = _process(engine, REGISTRY, landing, outbox)
    assert list(reached.values()) == ["duplicate"]
    row = _scalar(
        engine,
        "SELECT status FROM audit.file_ledger WHERE file_name = 'household_registry_20140630_resend.csv'",
    )
    assert row == "duplicate"
    assert _scalar(engine, "SELECT count(DISTINCT file_id) FROM core.household_registry_rows") == 2
    receipt = next((outbox / "police" / "receipts").glob("household_registry_20140630_resend.csv.*.json"))
    data = json.loads(receipt.read_text(encoding="utf-8"))
    assert data["status"] == "duplicate" and data["duplicate_of"] is not None


def _write_registry(landing: Path, name: str, lines: list[str], encoding: str = "gb18030") -> Path:
    folder = landing / "police" / "household_registry"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def test_row_policy_rejects_warns_and_loads(engine: sa.Engine, tmp_path: Path) -> None:
    landing, outbox = tmp_path / "landing", tmp_path / "outbox"
    _write_registry(
        landing,
        "household_registry_20140731.csv",
        [
            HEADER,
            "11010519491231002X,张伟,男,1949-12-31,100000001,户主,120115115001,住址1,正常",  # line 2: clean
            "110105194912310021,,男,1949-12-31,100000001,配偶,120115115001,住址2,正常",  # 3: name blank → reject
            "110105194912310022,确?顒,1,1949/12/31,100000001,子,120115115001,住址3,正常",  # 4: damaged → reject
            "110105194912310023,李四,X,1949.12.31,100000001,女,120115115001,住址4,正常",  # 5: sex code → reject
            "110105194912310024,王五,2,2014-02-30,100000001,女,120115115001,住址5,正常",  # 6: bad date → reject
            '110105194912310025,劉六,2,1949年12月31日,100000001,女,120115115001,"住址6, 含逗号",正常',  # 7: bad check char
            "'１１０１０５１９４９１２３１００２Ｘ,趙七,女,19491231,100000002,户主,牛道口镇,住址7,正常",  # 8: region name, no reference
        ],
    )
    reached = _process(engine, REGISTRY, landing, outbox)
    assert list(reached.values()) == ["published"]
    with engine.connect() as conn:
        ledger = conn.execute(sa.text("SELECT * FROM audit.file_ledger")).mappings().one()
        assert ledger["status"] == "loaded_with_rejections"
        assert (ledger["rows_read"], ledger["rows_loaded"], ledger["rows_rejected"]) == (7, 3, 4)
        rejected = conn.execute(
            sa.text(
                "SELECT line_no, column_name, reason_code, masked_value FROM audit.rejected_rows ORDER BY line_no"
            )
        ).all()
        assert [(r.line_no, r.column_name, r.reason_code) for r in rejected] == [
            (3, "name", "required_blank"),
            (4, "name", "damaged_text"),
            (5, "sex", "sex_unknown_code"),
            (6, "birth_date", "date_impossible"),
        ]
        assert rejected[1].masked_value == "确**"  # masked, never the full name
        loaded = {
            r.line_no: r
            for r in conn.execute(
                sa.text("SELECT * FROM core.household_registry_rows ORDER BY line_no")
            ).all()
        }
        assert set(loaded) == {2, 7, 8}
        assert loaded[7].id_no == "110105194912310025" and loaded[7].id_no_valid is False
        assert loaded[7].name == "刘六" and loaded[7].name_sent == "劉六"
        assert loaded[7].address == "住址6, 含逗号"
        assert loaded[8].id_no == "11010519491231002X" and loaded[8].id_no_valid is True
        assert loaded[8].name == "赵七" and loaded[8].region_code is None
        warnings = conn.execute(
            sa.text("SELECT line_no, column_name, reason_code FROM audit.row_warnings")
        ).all()
        assert (7, "id_no", "id_bad_check_char") in [tuple(w) for w in warnings]
        assert (8, "region_code", "region_unresolved") in [tuple(w) for w in warnings]
        assert loaded[8].region_code_sent == "牛道口镇"
        assert "traditional_script" in ledger["irregularities"]


def test_missing_required_column_quarantines_the_file(engine: sa.Engine, tmp_path: Path) -> None:
    landing, outbox = tmp_path / "landing", tmp_path / "outbox"
    _write_registry(
        landing,
        "household_registry_20140731.csv",
        [
            "公民身份号码,姓名,性别,出生日期,户籍地区划代码",
            "11010519491231002X,张伟,男,1949-12-31,120115115001",
        ],
    )
    assert list(_process(engine, REGISTRY, landing, outbox).values()) == ["quarantined"]
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM audit.file_ledger")).mappings().one()
        assert row["status"] == "quarantined"
        assert row["quarantine_reason"].startswith("file_missing_required_columns")
        assert "household_no" in row["quarantine_reason"]
        assert conn.execute(sa.text("SELECT count(*) FROM core.household_registry_rows")).scalar() == 0
    text = next((outbox / "police" / "receipts").glob("*.txt")).read_text(encoding="utf-8")
    assert "缺少必填列" in text
    # moved aside: out of the drop zone, into the quarantine folder, recorded in the ledger
    dropped = landing / "police" / "household_registry" / "household_registry_20140731.csv"
    assert not dropped.exists()
    moved = Path(str(_scalar(engine, "SELECT quarantine_path FROM audit.file_ledger")))
    assert moved.is_file() and moved.parent == tmp_path / "quarantine" / "police" / "household_registry"
    # the agency sends the corrected file under the same name: a new drop, loaded
    _write_registry(
        landing,
        "household_registry_20140731.csv",
        [HEADER, "11010519491231002X,张伟,男,1949-12-31,100000001,户主,120115115001,住址1,正常"],
    )
    assert list(_process(engine, REGISTRY, landing, outbox).values()) == ["published"]
    assert _scalar(engine, "SELECT count(*) FROM core.household_registry_rows") == 1


def test_manifest_disagreeing_with_the_file_quarantines(engine: sa.Engine, tmp_path: Path) -> None:
    landing, outbox = tmp_path / "landing", tmp_path / "outbox"
    path = _write_registry(
        landing,
        "household_registry_20140731.csv",
        [HEADER, "11010519491231002X,张伟,男,1949-12-31,100000001,户主,120115115001,住址1,正常"],
    )
    manifest = {"agency": "police", "feed": "household_registry", "extract_date": "2014-07-31", "rows": 2}
    path.with_name(path.name + ".manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert list(_process(engine, REGISTRY, landing, outbox).values()) == ["quarantined"]
    reason = _scalar(engine, "SELECT quarantine_reason FROM audit.file_ledger")
    assert str(reason).startswith("manifest_rows_mismatch")


def test_files_in_transit_are_not_picked_up(engine: sa.Engine, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    lines = [HEADER, "11010519491231002X,张伟,男,1949-12-31,100000001,户主,120115115001,住址1,正常"]
    _write_registry(landing, "household_registry_20140731.csv.part", lines)
    fresh = _write_registry(landing, "household_registry_20140831.csv", lines)
    feed = feed_by_id(REGISTRY)
    found = pipeline.register(engine, feed, landing, quiet_seconds=60, now=fresh.stat().st_mtime + 5)
    assert found.file_ids == () and len(found.waiting) == 1
    found = pipeline.register(engine, feed, landing, quiet_seconds=60, now=fresh.stat().st_mtime + 61)
    assert len(found.file_ids) == 1


def test_same_bytes_dropped_twice_at_once_load_once(engine: sa.Engine, tmp_path: Path) -> None:
    """The earliest registered copy loads; the other is a duplicate even while the first is in flight."""
    landing, outbox = tmp_path / "landing", tmp_path / "outbox"
    lines = [HEADER, "11010519491231002X,张伟,男,1949-12-31,100000001,户主,120115115001,住址1,正常"]
    _write_registry(landing, "household_registry_20140731.csv", lines)
    _write_registry(landing, "household_registry_20140731_2.csv", lines)
    settings = load_settings()
    ids = pipeline.register(engine, feed_by_id(REGISTRY), landing, quiet_seconds=0, now=time.time()).file_ids
    assert len(ids) == 2
    # the second copy is staged while the first is still in flight (staged, not yet published)
    assert pipeline.stage(engine, settings, ids[0], landing=landing, outbox=outbox) == "staged"
    assert pipeline.stage(engine, settings, ids[1], landing=landing, outbox=outbox) == "duplicate"
    assert pipeline.validate(engine, settings, ids[0], outbox=outbox) == "validated"
    assert pipeline.validate(engine, settings, ids[1], outbox=outbox) == "duplicate"
    assert [pipeline.publish(engine, i, outbox=outbox) for i in ids] == ["published", "duplicate"]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT status, duplicate_of FROM audit.file_ledger ORDER BY file_id")
        ).all()
        assert [tuple(r) for r in rows] == [("loaded", None), ("duplicate", ids[0])]
        assert conn.execute(sa.text("SELECT count(*) FROM core.household_registry_rows")).scalar() == 1
        assert (
            conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'staging'")).scalar() == 0
        )


def test_a_person_missing_from_a_newer_snapshot_has_left_as_of_it(engine: sa.Engine, tmp_path: Path) -> None:
    landing, outbox = tmp_path / "landing", tmp_path / "outbox"
    zhang = "11010519491231002X,张伟,男,1949-12-31,100000001,户主,120115115001,住址1,正常"
    li = "120115198001010016,李娜,女,1980-01-01,100000001,配偶,120115115001,住址1,正常"
    # the June snapshot arrives first, then the May one (out of order), then July
    _write_registry(landing, "household_registry_20140630.csv", [HEADER, zhang])
    _process(engine, REGISTRY, landing, outbox)
    _write_registry(landing, "household_registry_20140531.csv", [HEADER, zhang, li])
    _process(engine, REGISTRY, landing, outbox)
    with engine.connect() as conn:
        left = conn.execute(
            sa.text("SELECT id_no, name, last_seen, left_as_of FROM core.household_registry_departures")
        ).all()
    assert [tuple(r) for r in left] == [("120115198001010016", "李娜", date(2014, 5, 31), date(2014, 6, 30))]
    _write_registry(landing, "household_registry_20140731.csv", [HEADER, li])
    _process(engine, REGISTRY, landing, outbox)
    with engine.connect() as conn:
        left = conn.execute(
            sa.text("SELECT id_no, left_as_of FROM core.household_registry_departures ORDER BY left_as_of")
        ).all()
        # 李娜 left as of June; 张伟 left as of July (李娜 came back: not a departure)
        assert [tuple(r) for r in left] == [
            ("120115198001010016", date(2014, 6, 30)),
            ("11010519491231002X", date(2014, 7, 31)),
        ]
        assert conn.execute(sa.text("SELECT count(*) FROM core.household_registry")).scalar() == 1


def test_a_file_changed_after_registration_is_not_loaded_and_its_new_bytes_are_a_new_drop(
    engine: sa.Engine, tmp_path: Path
) -> None:
    landing, outbox = tmp_path / "landing", tmp_path / "outbox"
    row = "11010519491231002X,张伟,男,1949-12-31,100000001,户主,120115115001,住址1,正常"
    path = _write_registry(landing, "household_registry_20140731.csv", [HEADER, row])
    feed, settings = feed_by_id(REGISTRY), load_settings()
    (first,) = pipeline.register(engine, feed, landing, quiet_seconds=0, now=time.time()).file_ids
    _write_registry(landing, "household_registry_20140731.csv", [HEADER, row, row.replace("张伟", "张强")])
    assert pipeline.stage(engine, settings, first, landing=landing, outbox=outbox) == "quarantined"
    reason = _scalar(engine, "SELECT quarantine_reason FROM audit.file_ledger WHERE file_id = :i", i=first)
    assert str(reason).startswith("file_changed_after_registration")
    assert path.is_file()  # not moved aside: these are the agency's newer bytes
    reached = _process(engine, REGISTRY, landing, outbox)
    assert list(reached.values()) == ["published"] and first not in reached
    assert _scalar(engine, "SELECT count(*) FROM core.household_registry_rows") == 2


def test_reject_rows_gate_rejects_impossible_dates_with_their_lines(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A birth date after the extract date parses but cannot be: the suite's reject_rows gate drops the row."""
    landing, outbox = tmp_path / "landing", tmp_path / "outbox"
    _write_registry(
        landing,
        "household_registry_20140731.csv",
        [
            HEADER,
            "11010519491231002X,张伟,男,1949-12-31,100000001,户主,120115115001,住址1,正常",  # line 2
            "110105195001010011,李娜,女,2015-03-01,100000001,女,120115115001,住址2,正常",  # 3: after 2014-07-31
            "110105195001010038,王芳,女,1950-01-01,100000001,女,120115115001,住址3,正常",  # 4
        ],
    )
    assert list(_process(engine, REGISTRY, landing, outbox).values()) == ["published"]
    with engine.connect() as conn:
        ledger = conn.execute(sa.text("SELECT * FROM audit.file_ledger")).mappings().one()
        assert ledger["status"] == "loaded_with_rejections"
        assert (ledger["rows_read"], ledger["rows_loaded"], ledger["rows_rejected"]) == (3, 2, 1)
        assert conn.execute(
            sa.text("SELECT line_no, column_name, reason_code FROM audit.rejected_rows")
        ).all() == [(3, "birth_date", "dq_rule_failed")]
        assert conn.execute(
            sa.text("SELECT line_no FROM core.household_registry ORDER BY 1")
        ).scalars().all() == [2, 4]
        gate = conn.execute(
            sa.text(
                "SELECT success, unexpected_count, severity FROM audit.dq_results"
                " WHERE expectation = 'expect_column_values_to_be_plausible_date'"
            )
        ).one()
        assert tuple(gate) == (False, 1, "reject_rows")
    receipt = json.loads(Path(ledger["receipt_path"]).read_text(encoding="utf-8"))
    assert receipt["rows_rejected"] == 1
    assert [(r["line"], r["reason"]) for r in receipt["rejected_rows"]] == [(3, "dq_rule_failed")]
    text = Path(ledger["receipt_path"]).with_suffix(".txt").read_text(encoding="utf-8")
    assert "未通过数据质量规则" in text


def test_a_failed_quarantine_file_gate_publishes_nothing(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A suite whose quarantine_file expectation fails stops the file: nothing reaches core."""
    suites = tmp_path / "expectations"
    suites.mkdir()
    reviewed = json.loads(
        (load_settings().expectations_dir / "police__household_registry.json").read_text("utf-8")
    )
    reviewed["expectations"].append(
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "status", "value_set": ["迁出"]},
            "meta": {"severity": "quarantine_file"},
            "severity": "critical",
        }
    )
    (suites / "police__household_registry.json").write_text(json.dumps(reviewed, ensure_ascii=False), "utf-8")
    from popdata.config.settings import Settings

    monkeypatch.setattr(Settings, "expectations_dir", property(lambda self: suites))
    landing, outbox = tmp_path / "landing", tmp_path / "outbox"
    _write_registry(
        landing,
        "household_registry_20140731.csv",
        [HEADER, "11010519491231002X,张伟,男,1949-12-31,100000001,户主,120115115001,住址1,正常"],
    )
    assert list(_process(engine, REGISTRY, landing, outbox).values()) == ["quarantined"]
    with engine.connect() as conn:
        reason = conn.execute(sa.text("SELECT quarantine_reason FROM audit.file_ledger")).scalar_one()
        assert reason.startswith("dq_critical_failed")
        assert conn.execute(sa.text("SELECT count(*) FROM core.household_registry_rows")).scalar_one() == 0


def test_a_feed_with_region_codes_waits_for_a_pending_region_reference(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """Its scan registers the drop but returns nothing to load while the region reference is in
    the landing folder unregistered, then in flight; once the reference is published it loads."""
    landing, outbox = tmp_path / "landing", tmp_path / "outbox"
    reference = landing / "stats" / "regions"
    reference.mkdir(parents=True)
    shutil.copy2(SAMPLE_LANDING / "stats" / "regions" / "regions_20111231.csv", reference)
    _write_registry(
        landing,
        "household_registry_20140731.csv",
        [HEADER, "11010519491231002X,张伟,男,1949-12-31,100000001,户主,120115115001,住址1,正常"],
    )
    registry, regions = feed_by_id(REGISTRY), feed_by_id("stats__regions")

    def scan(feed: Feed, **kwargs: float) -> pipeline.Registered:
        return pipeline.register(engine, feed, landing, quiet_seconds=0, now=time.time() + 3600, **kwargs)

    held = scan(registry)  # the reference's scan has not run yet
    assert held.file_ids == ()
    assert held.waiting == ("stats/regions/regions_20111231.csv: the region reference loads first",)
    assert (
        _scalar(engine, "SELECT stage FROM audit.file_ledger WHERE feed = 'household_registry'") == "received"
    )
    (reference_id,) = scan(regions).file_ids
    assert scan(registry).file_ids == ()  # the reference is in flight
    assert scan(registry, reference_wait_seconds=0).file_ids != ()  # unless it is stuck
    assert (
        pipeline.load(engine, load_settings(), reference_id, landing=landing, outbox=outbox)[-1][1]
        == "published"
    )
    (registry_id,) = scan(registry).file_ids
    assert (
        pipeline.load(engine, load_settings(), registry_id, landing=landing, outbox=outbox)[-1][1]
        == "published"
    )
    assert (
        _scalar(engine, "SELECT count(*) FROM audit.row_warnings WHERE reason_code = 'region_unresolved'")
        == 0
    )
