"""Arrival: file names, completeness (manifest or quiet period), uploads in transit."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from popdata.config.feeds import feed_by_id
from popdata.ingest import arrive


def test_regular_and_irregular_names() -> None:
    assert arrive.check_file_name(
        "household_registry_20140430_2.csv", "household_registry"
    ) == arrive.NameCheck(True, date(2014, 4, 30))
    odd = arrive.check_file_name("Prenatal_Checks-2014-05-31.csv", "prenatal_checks")
    assert odd == arrive.NameCheck(False, date(2014, 5, 31))
    assert arrive.check_file_name("HOUSEHOLD_REGISTRY.csv", "household_registry") == arrive.NameCheck(
        False, None
    )
    assert (
        arrive.check_file_name("household_registry_20140230.csv", "household_registry").extract_date is None
    )


def test_in_transit_and_manifests_are_not_data_files() -> None:
    assert arrive.is_data_file(Path("a_20140101.csv"))
    for name in ("a.csv.part", "a.csv.tmp", "a.csv.manifest.json", ".hidden.csv"):
        assert not arrive.is_data_file(Path(name)), name


def test_completeness_by_manifest_or_quiet_period(tmp_path: Path) -> None:
    feed = feed_by_id("police__household_registry")
    folder = tmp_path / "police" / "household_registry"
    folder.mkdir(parents=True)
    quiet = folder / "household_registry_20140531.csv"
    quiet.write_text("x")
    with_manifest = folder / "household_registry_20140630.csv"
    with_manifest.write_text("x")
    (folder / "household_registry_20140630.csv.manifest.json").write_text("{}")
    (folder / "household_registry_20140731.csv.part").write_text("x")
    now = quiet.stat().st_mtime + 10
    drops = {d.path.name: d for d in arrive.find_drops(tmp_path, feed, quiet_seconds=60, now=now)}
    assert set(drops) == {quiet.name, with_manifest.name}
    assert not drops[quiet.name].complete and "quiet period" in (drops[quiet.name].waiting_reason or "")
    assert drops[with_manifest.name].complete
    later = arrive.find_drops(tmp_path, feed, quiet_seconds=60, now=now + 60)
    assert all(d.complete for d in later)
    assert drops[quiet.name].rel_path == "police/household_registry/household_registry_20140531.csv"


def test_sha256_and_size(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"abc")
    assert arrive.sha256_of(path) == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3)


def test_unconfigured_files_are_listed(tmp_path: Path) -> None:
    from popdata.config.feeds import default_feeds

    (tmp_path / "health" / "vaccinations").mkdir(parents=True)
    (tmp_path / "health" / "vaccinations" / "vaccinations_20140101.csv").write_text("x")
    (tmp_path / "health" / "stray_20140101.csv").write_text("x")
    (tmp_path / "police" / "household_registry").mkdir(parents=True)
    (tmp_path / "police" / "household_registry" / "household_registry_20140101.csv").write_text("x")
    names = [p.name for p in arrive.unconfigured_files(tmp_path, default_feeds())]
    assert names == ["stray_20140101.csv", "vaccinations_20140101.csv"]
