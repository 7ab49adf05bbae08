"""Every reviewed suite passes on clean generated data and fails, on the right rows, on each defect.

A clean synthetic county (``popdata generate --clean``), plus a file of clean village reports
(tests/village_rows.py: the generator writes none), goes through the real pipeline of every feed. Then, for every expectation of every feed suite, the rows of one published file are copied
back into a scratch staging table, the defect that expectation guards against is written into
a few rows, and the expectation (alone, with its reviewed kwargs and ``mostly``) is validated
with the ``reject_rows`` gate so that GX names the failing lines: it must fail, on exactly the
damaged rows. The cross-feed suites pass on the clean county and fail on injected conflicts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from popdata.config.feeds import Feed, default_feeds
from popdata.config.settings import load_settings
from popdata.generate.api import generate_county
from popdata.generate.rates import DefectRates
from popdata.ingest import rows
from popdata.quality import cross_feed
from popdata.quality.gx import GX_SEVERITY, UNLOCATABLE, validate_table
from popdata.warehouse import migrate
from village_rows import write_village_file

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def county(
    tmp_path_factory: pytest.TempPathFactory, module_databases: Any, load_drops: Any
) -> Iterator[tuple[sa.Engine, Path]]:
    """A clean 3 000-person county, every feed published; yields the engine and a work folder."""
    work = tmp_path_factory.mktemp("clean_county")
    generate_county(work / "county", persons=3000, seed=7, rates=DefectRates.none())
    write_village_file(work / "county" / "landing")  # the generator writes no village reports
    engine = sa.create_engine(module_databases.create("popdata_test_suites"))
    try:
        migrate.upgrade(engine)
        load_drops(engine, work / "county" / "landing", work / "outbox")
        yield engine, work
    finally:
        engine.dispose()


def _feeds_with_suites() -> list[Feed]:
    return [f for f in default_feeds() if f.suite]


def test_every_feed_suite_passes_on_clean_generated_data(county: tuple[sa.Engine, Path]) -> None:
    engine, _ = county
    with engine.connect() as conn:
        validated = conn.execute(
            sa.text("SELECT DISTINCT l.feed FROM audit.dq_results d JOIN audit.file_ledger l USING (file_id)")
        ).scalars()
        failures = conn.execute(
            sa.text(
                "SELECT l.file_name, d.expectation, d.column_name, d.unexpected_count, d.element_count"
                " FROM audit.dq_results d JOIN audit.file_ledger l USING (file_id) WHERE NOT d.success"
            )
        ).all()
        statuses = dict(
            conn.execute(sa.text("SELECT file_name, status FROM audit.file_ledger WHERE rows_read > 0")).all()
        )
    assert set(validated) == {f.feed for f in _feeds_with_suites()}
    assert failures == []
    assert set(statuses.values()) == {"loaded"}, statuses


# --- one defect per expectation ------------------------------------------------------------------


def _cases() -> list[tuple[str, int]]:
    return [
        (feed.feed_id, index)
        for feed in _feeds_with_suites()
        for index, entry in enumerate(_suite(feed)["expectations"])
        if entry["type"] != "expect_table_row_count_to_be_between"
    ]


def _suite(feed: Feed) -> dict[str, Any]:
    path = load_settings().expectations_dir / str(feed.suite)
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _copy_published_rows(conn: sa.Connection, feed: Feed, table: str) -> int:
    """The rows of the feed's largest published file, as they were staged; returns the count."""
    names = ", ".join(f'"{n}"' for n, _ in rows.staging_columns(feed))
    conn.execute(sa.text(f'DROP TABLE IF EXISTS staging."{table}"'))
    conn.execute(
        sa.text(
            f'CREATE TABLE staging."{table}" AS SELECT {names} FROM core."{feed.feed}_rows" WHERE file_id = ('
            "SELECT file_id FROM audit.file_ledger WHERE feed = :feed AND stage = 'published'"
            " ORDER BY rows_loaded DESC, file_id LIMIT 1)"
        ),
        {"feed": feed.feed},
    )
    return int(conn.execute(sa.text(f'SELECT count(*) FROM staging."{table}"')).scalar_one())


def _column_type(conn: sa.Connection, table: str, column: str) -> str:
    return str(
        conn.execute(
            sa.text(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_schema = 'staging' AND table_name = :t AND column_name = :c"
            ),
            {"t": table, "c": column},
        ).scalar_one()
    )


def _lines(conn: sa.Connection, table: str, where: str, count: int) -> list[int]:
    found = list(
        conn.execute(
            sa.text(f'SELECT line_no FROM staging."{table}" WHERE {where} ORDER BY line_no LIMIT :n'),
            {"n": count},
        )
        .scalars()
        .all()
    )
    assert len(found) == count, f"not enough rows in {table} where {where} for the defect"
    return found


def _wrong_check_character(value: str) -> str:
    return value[:17] + ("0" if value[17] != "0" else "1")


def _damage(conn: sa.Connection, table: str, entry: dict[str, Any], total: int) -> list[int]:
    """Write the defect ``entry`` guards against into enough rows to fail it; returns their lines."""
    kind, kwargs = entry["type"], entry["kwargs"]
    column = kwargs.get("column")
    count = max(1, math.floor((1 - kwargs.get("mostly", 1.0)) * total) + 1)

    def update(assignment: str, where: str, n: int = count) -> list[int]:
        lines = _lines(conn, table, where, n)
        conn.execute(
            sa.text(f'UPDATE staging."{table}" SET {assignment} WHERE line_no = ANY(:l)'), {"l": lines}
        )
        return lines

    quoted = f'"{column}"'
    if kind == "expect_column_values_to_not_be_null":
        return update(f"{quoted} = NULL", f"{quoted} IS NOT NULL")
    if kind == "expect_column_values_to_be_in_set":
        pg_type = _column_type(conn, table, column)
        bad = (
            "NOT " + quoted
            if pg_type == "boolean"
            else ("-1" if pg_type in ("integer", "bigint") else "'ZZ'")
        )
        return update(f"{quoted} = {bad}", f"{quoted} IS NOT NULL")
    if kind == "expect_column_values_to_match_regex":
        return update(f"{quoted} = 'bad!'", f"{quoted} IS NOT NULL")
    if kind == "expect_column_values_to_be_unique":
        first, second = _lines(conn, table, f"{quoted} IS NOT NULL", 2)
        conn.execute(
            sa.text(
                f'UPDATE staging."{table}" SET {quoted} = (SELECT {quoted} FROM staging."{table}" WHERE line_no = :a) WHERE line_no = :b'
            ),
            {"a": first, "b": second},
        )
        return [first, second]
    if kind == "expect_compound_columns_to_be_unique":
        first, second = _lines(conn, table, "true", 2)
        sets = ", ".join(f'"{c}" = s."{c}"' for c in kwargs["column_list"])
        conn.execute(
            sa.text(
                f'UPDATE staging."{table}" t SET {sets} FROM staging."{table}" s WHERE s.line_no = :a AND t.line_no = :b'
            ),
            {"a": first, "b": second},
        )
        return [first, second]
    if kind == "expect_column_values_to_be_valid_resident_id":
        lines = _lines(conn, table, f"{quoted} ~ '^[0-9]{{17}}[0-9X]$'", count)
        for line in lines:
            value = conn.execute(
                sa.text(f'SELECT {quoted} FROM staging."{table}" WHERE line_no = :l'), {"l": line}
            ).scalar_one()
            conn.execute(
                sa.text(f'UPDATE staging."{table}" SET {quoted} = :v WHERE line_no = :l'),
                {"v": _wrong_check_character(value), "l": line},
            )
        return lines
    if kind == "expect_column_values_to_be_plausible_chinese_name":
        return update(f"{quoted} = '张3'", f"{quoted} IS NOT NULL")
    if kind == "expect_column_values_to_be_plausible_date":
        return update(f"{quoted} = extract_date + 10", f"{quoted} IS NOT NULL")
    if kind == "expect_column_values_to_be_known_region_code":
        return update(f"{quoted} = '999999999999'", f"{quoted} IS NOT NULL")
    if kind == "expect_resident_id_to_match_birth_date_and_sex":
        id_column, birth = kwargs["id_column"], kwargs["birth_date_column"]
        return update(
            f'"{birth}" = "{birth}" + 1', f'"{id_column}" ~ \'^[0-9]{{17}}[0-9X]$\' AND "{birth}" IS NOT NULL'
        )
    raise AssertionError(f"no defect is known for {kind}: add one here when a suite uses it")


@pytest.mark.parametrize(("feed_id", "index"), _cases())
def test_each_expectation_fails_on_exactly_the_rows_with_its_defect(
    county: tuple[sa.Engine, Path], feed_id: str, index: int
) -> None:
    engine, work = county
    feed = next(f for f in default_feeds() if f.feed_id == feed_id)
    entry = _suite(feed)["expectations"][index]
    table = f"defect_{feed.feed}_{index}"
    with engine.begin() as conn:
        total = _copy_published_rows(conn, feed, table)
        damaged = _damage(conn, table, entry, total)
    # reject_rows makes GX name the failing lines; where it cannot, the count must match
    gate = "warn" if entry["type"] in UNLOCATABLE else "reject_rows"
    single = {
        "name": f"test__{feed.feed}_{index}",
        "expectations": [{**entry, "meta": {"severity": gate}, "severity": GX_SEVERITY[gate]}],
    }
    path = work / f"{table}.json"
    path.write_text(json.dumps(single, ensure_ascii=False), encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)
    (outcome,) = validate_table(url, "staging", table, path, run_name=table).outcomes
    assert outcome.error is None
    assert outcome.success is False, (entry, damaged, total)
    if gate == "reject_rows":
        extra = set(outcome.failing_lines) - set(damaged)
        assert set(damaged) <= set(outcome.failing_lines)
        if extra:  # rows the clean file already had within `mostly` (e.g. the county row's parent_code)
            with engine.begin() as conn:
                _copy_published_rows(conn, feed, table)
            (before,) = validate_table(url, "staging", table, path, run_name=table).outcomes
            assert extra == set(before.failing_lines)
    else:
        assert outcome.unexpected_count == len(damaged)


def test_an_empty_batch_fails_the_row_count_gate(county: tuple[sa.Engine, Path]) -> None:
    engine, _ = county
    feed = next(f for f in default_feeds() if f.feed_id == "police__household_registry")
    with engine.begin() as conn:
        _copy_published_rows(conn, feed, "defect_empty")
        conn.execute(sa.text('DELETE FROM staging."defect_empty"'))
    suite = load_settings().expectations_dir / str(feed.suite)
    result = validate_table(
        engine.url.render_as_string(hide_password=False), "staging", "defect_empty", suite, run_name="e"
    )
    assert result.blocked is True
    assert ("expect_table_row_count_to_be_between", None) in [
        (o.expectation, o.column_name) for o in result.failed
    ]


# --- cross-feed suites ---------------------------------------------------------------------------


def test_cross_feed_suites_pass_on_clean_data_and_fail_on_conflicts(county: tuple[sa.Engine, Path]) -> None:
    from datetime import date

    engine, _ = county
    settings = load_settings()
    checks = cross_feed.load_checks(settings.expectations_dir)
    assert {c.name for c in checks} >= {
        "birth_registration_certificate_found",
        "birth_sex_agrees",
        "registry_id_one_person",
        "assistance_not_paid_after_death",
    }
    clean = {o.check.name: o.result for o in cross_feed.run_checks(engine, settings, as_of=date(2014, 6, 30))}
    assert all(r.success for r in clean.values()), {n: r.failed for n, r in clean.items()}
    seen = {name: r.outcomes[0].element_count for name, r in clean.items()}
    # a small clean county has no recipient with a death record: that check sees rows once injected
    assert all(seen[name] for name in seen if name != "assistance_not_paid_after_death"), seen

    with engine.begin() as conn:
        registrations = conn.execute(
            sa.text("SELECT count(*) FROM core.birth_registrations WHERE birth_cert_no IS NOT NULL")
        ).scalar_one()
        unknown = max(1, math.floor(0.05 * registrations) + 1)
        conn.execute(
            sa.text(
                "UPDATE core.birth_registrations_rows SET birth_cert_no = 'NOSUCH' || line_no WHERE (file_id, line_no) IN ("
                " SELECT file_id, line_no FROM core.birth_registrations WHERE birth_cert_no IS NOT NULL ORDER BY reg_no LIMIT :n)"
            ),
            {"n": unknown},
        )
        # two persons under one number in the latest registry snapshot (重号)
        conn.execute(
            sa.text(
                "UPDATE core.household_registry_rows r SET id_no = o.id_no FROM ("
                " SELECT file_id, id_no, line_no FROM core.household_registry WHERE id_no_valid ORDER BY line_no LIMIT 1) o"
                " WHERE r.file_id = o.file_id AND r.line_no = (SELECT min(line_no) FROM core.household_registry"
                " WHERE id_no_valid AND line_no > o.line_no AND name <> (SELECT name FROM core.household_registry WHERE line_no = o.line_no))"
            )
        )
        # a recipient recorded dead two years before the roll year
        conn.execute(
            sa.text(
                "UPDATE core.death_records_rows SET id_no = a.id_no, id_no_valid = true, death_date = make_date(a.year - 2, 6, 1)"
                " FROM (SELECT id_no, year FROM core.assistance_rolls WHERE id_no_valid AND amount > 0 ORDER BY id_no LIMIT 1) a"
                " WHERE (file_id, line_no) = (SELECT file_id, line_no FROM core.death_records ORDER BY death_cert_no LIMIT 1)"
            )
        )
    broken = {
        o.check.name: o.result for o in cross_feed.run_checks(engine, settings, as_of=date(2014, 6, 30))
    }
    assert broken["birth_registration_certificate_found"].success is False
    assert broken["birth_registration_certificate_found"].outcomes[0].unexpected_count == unknown
    assert broken["registry_id_one_person"].outcomes[0].unexpected_count == 1
    assert broken["assistance_not_paid_after_death"].outcomes[0].unexpected_count >= 1
    with engine.connect() as conn:
        recorded = conn.execute(
            sa.text(
                "SELECT suite, success FROM audit.dq_results WHERE batch = 'cross_feed:2014-06-30' ORDER BY suite"
            )
        ).all()
    # the re-run of the same batch replaced its rows: one per check, the latest outcome
    assert len(recorded) == len(checks)
    assert dict(recorded)["cross_feed__birth_registration_certificate_found"] is False
