"""Integration tests for popdata.quality.expectations in PostgreSQL (127.0.0.1:5432).

Each test gets a throwaway database from the ``databases`` fixture (tests/conftest.py),
creates a small ``staging`` table with a ``line_no`` column and runs the custom expectations
through a GX SQL data source wired as ``popdata.quality.gx`` wires it (ephemeral context,
``add_sql``, whole-table batch of a table asset). It also shows what GX returns, and what it
fetches, when a result format asks for the ``line_no`` of failing rows.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from stdnum.cn import ric

from popdata.normalize.ids import parse_id
from popdata.quality import expectations as ex
from popdata.quality.gx import RESULT_FORMAT, validate_table

pytestmark = pytest.mark.integration

#: The "which rows failed" result format of the brief.
INDEX_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": ["line_no"],
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,
}

DDL = """
CREATE SCHEMA staging;
CREATE SCHEMA core;
CREATE TABLE core.regions (code text);
INSERT INTO core.regions VALUES ('320102001001'), ('320102001002'), (NULL);
CREATE TABLE staging.people (
    line_no integer,
    id_no text,
    name text,
    sex text,
    birth_date date,
    region_code text,
    extract_date date
);
"""


def make_id(body17: str) -> str:
    """An 18-character id with python-stdnum's check character."""
    return body17 + ric.calc_check_digit(body17 + "0")


def person_id(birth: dt.date, male: bool) -> str:
    """A valid id for a birth date and sex."""
    return make_id(f"320102{birth:%Y%m%d}00{3 if male else 2}")


B1 = dt.date(1980, 1, 1)
EXTRACT = dt.date(2014, 6, 30)
MALE = person_id(B1, True)
FEMALE = person_id(B1, False)

#: (line_no, id_no, name, sex, birth_date, region_code), extract_date is EXTRACT everywhere.
ROWS: list[tuple[Any, ...]] = [
    (1, MALE, "张三", "1", B1, "320102001001"),
    (2, FEMALE, "李四", "2", B1, "320102001002"),
    (3, MALE[:-1] + ("0" if MALE[-1] != "0" else "1"), "王五", "1", B1, "320102001001"),  # bad id
    (4, MALE.lower() if MALE.endswith("X") else MALE[:15], "赵六", "1", B1, "320102001001"),  # bad id
    (5, MALE, "张?", "1", B1, "999999999999"),  # damaged name, unknown region
    (6, MALE, "张三1", "2", B1, "320102001001"),  # digit in name, sex contradicts id
    (7, FEMALE, "欧阳娜娜", "2", dt.date(1980, 1, 2), "320102001001"),  # birth contradicts id
    (8, None, None, None, None, None),  # all null: ignored
    (9, FEMALE, "锟斤拷", "9", dt.date(2014, 7, 1), "32"),  # mojibake, future birth, bad region
    (10, FEMALE, "王", "0", dt.date(1879, 12, 31), "320102001002"),  # too early (id then contradicts)
]


@pytest.fixture
def people(databases: Any) -> Iterator[str]:
    """URL of a scratch database holding ``staging.people`` and ``core.regions``."""
    url = databases.create("popdata_test_gxcustom")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(DDL)
        conn.execute(
            sa.text("INSERT INTO staging.people VALUES (:l, :i, :n, :s, :b, :r, :e)"),
            [dict(zip("linsbr", row, strict=True), e=EXTRACT) for row in ROWS],
        )
    engine.dispose()
    yield url


@contextmanager
def sql_batch(url: str, table: str = "people") -> Iterator[Any]:
    """A whole-table GX batch of ``staging.<table>``, wired as popdata.quality.gx does it."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"You are using a generic SQLDatasource")
        warnings.filterwarnings("ignore", message=r"`schema_name` is deprecated")
        datasource = context.data_sources.add_sql(name="pg", connection_string=url, create_temp_table=False)
        try:
            asset = datasource.add_table_asset(name=table, table_name=table, schema_name="staging")
            yield asset.add_batch_definition_whole_table("whole").get_batch()
        finally:
            datasource.get_execution_engine().close()
            datasource.get_engine().dispose()


EXPECTATIONS: dict[str, tuple[Any, int, list[int]]] = {
    # name: (expectation, unexpected_count, failing line numbers)
    "id": (ex.ExpectColumnValuesToBeValidResidentId(column="id_no"), 2, [3, 4]),
    "id_match": (
        ex.ExpectResidentIdToMatchBirthDateAndSex(
            id_column="id_no", birth_date_column="birth_date", sex_column="sex"
        ),
        4,
        [6, 7, 9, 10],
    ),
    "region": (
        ex.ExpectColumnValuesToBeKnownRegionCode(column="region_code", reference_table="core.regions"),
        2,
        [5, 9],
    ),
    "name": (ex.ExpectColumnValuesToBePlausibleChineseName(column="name"), 3, [5, 6, 9]),
    "date": (
        ex.ExpectColumnValuesToBePlausibleDate(column="birth_date", max_date_column="extract_date"),
        2,
        [9, 10],
    ),
}


def test_each_expectation_counts_in_postgres(people: str) -> None:
    with sql_batch(people) as batch:
        for label, (expectation, unexpected, _lines) in EXPECTATIONS.items():
            result = batch.validate(expectation, result_format=dict(RESULT_FORMAT))
            assert not result.exception_info.get("raised_exception"), (label, result.exception_info)
            assert result.success is False, label
            assert result.result["unexpected_count"] == unexpected, label
            assert result.result["element_count"] == len(ROWS), label
            # counts only: no value list of any kind in the platform's result format
            assert not {"partial_unexpected_list", "unexpected_list", "unexpected_index_list"} & set(
                result.result
            ), label


def test_mostly_in_postgres(people: str) -> None:
    with sql_batch(people) as batch:
        loose = ex.ExpectColumnValuesToBeValidResidentId(column="id_no", mostly=0.7)  # 7/9 ok
        strict = ex.ExpectColumnValuesToBeValidResidentId(column="id_no", mostly=0.8)
        assert batch.validate(loose, result_format=dict(RESULT_FORMAT)).success is True
        assert batch.validate(strict, result_format=dict(RESULT_FORMAT)).success is False


def test_region_value_set_and_fixed_max_date_in_postgres(people: str) -> None:
    with sql_batch(people) as batch:
        by_set = ex.ExpectColumnValuesToBeKnownRegionCode(column="region_code", value_set=["320102001001"])
        assert batch.validate(by_set, result_format=dict(RESULT_FORMAT)).result["unexpected_count"] == 4
        fixed = ex.ExpectColumnValuesToBePlausibleDate(column="birth_date", max_date="1980-01-01")
        assert batch.validate(fixed, result_format=dict(RESULT_FORMAT)).result["unexpected_count"] == 3


def test_suite_with_custom_types_through_validate_table(people: str, tmp_path: Path) -> None:
    entries = [
        {"type": e.expectation_type, "kwargs": e.configuration.kwargs, "meta": {"severity": "warn"}}
        for e, _count, _lines in EXPECTATIONS.values()
    ]
    entries[0]["meta"] = {"severity": "quarantine_file"}
    path = tmp_path / "custom.json"
    path.write_text(json.dumps({"name": "custom", "expectations": entries}, default=str), encoding="utf-8")
    result = validate_table(people, "staging", "people", path, run_name="custom-test")
    assert result.blocked
    assert [o.unexpected_count for o in result.outcomes] == [c for _e, c, _l in EXPECTATIONS.values()]
    assert all(o.error is None for o in result.outcomes)
    assert result.outcomes[1].column_name == "id_no,birth_date,sex"


# ----------------------------------------------------------------- line numbers of failing rows


@contextmanager
def recorded_queries() -> Iterator[list[tuple[str, Any]]]:
    """Record every SQL statement (and its parameters) any SQLAlchemy engine sends."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


def test_unexpected_index_list_carries_line_numbers(people: str) -> None:
    with sql_batch(people) as batch:
        for label, (expectation, unexpected, lines) in EXPECTATIONS.items():
            result = batch.validate(expectation, result_format=dict(INDEX_FORMAT))
            details = result.result
            assert details["unexpected_count"] == unexpected, label
            # exclude_unexpected_values=True: ONE dict of index column -> list of values
            # (GX's index query has no ORDER BY: compare as sets of line numbers)
            [index] = details["unexpected_index_list"]
            assert set(index) == {"line_no"} and sorted(index["line_no"]) == lines, label
            assert details["partial_unexpected_index_list"] == details["unexpected_index_list"], label
            assert details["unexpected_index_column_names"] == ["line_no"], label
            assert "unexpected_list" not in details and "partial_unexpected_list" not in details
            assert "partial_unexpected_counts" not in details
            assert "unexpected_index_query" not in details
        # the same for a built-in map expectation
        import great_expectations as gx

        builtin = gx.expectations.ExpectColumnValuesToMatchRegex(column="region_code", regex="^[0-9]{12}$")
        result = batch.validate(builtin, result_format=dict(INDEX_FORMAT))
        assert result.result["unexpected_index_list"] == [{"line_no": [9]}]


def test_without_exclude_the_index_list_carries_the_values(people: str) -> None:
    with sql_batch(people) as batch:
        expectation = EXPECTATIONS["id"][0]
        result = batch.validate(
            expectation, result_format={**INDEX_FORMAT, "exclude_unexpected_values": False}
        )
    index_list = result.result["unexpected_index_list"]
    assert sorted(row["line_no"] for row in index_list) == [3, 4]
    assert all(set(row) == {"line_no", "id_no"} for row in index_list)  # the personal value too
    assert result.result["unexpected_list"] == [row["id_no"] for row in index_list]


def test_index_list_is_capped_by_partial_unexpected_count(people: str) -> None:
    engine = sa.create_engine(people)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO staging.people (line_no, id_no) VALUES (:l, 'bad')"),
            [{"l": 100 + i} for i in range(25)],
        )
    engine.dispose()
    expectation = EXPECTATIONS["id"][0]
    with sql_batch(people) as batch:
        default = batch.validate(expectation, result_format=dict(INDEX_FORMAT)).result
        wide = batch.validate(
            expectation, result_format={**INDEX_FORMAT, "partial_unexpected_count": 1000}
        ).result
    assert default["unexpected_count"] == 27
    assert len(default["unexpected_index_list"][0]["line_no"]) == 20  # GX's default LIMIT 20
    assert sorted(wide["unexpected_index_list"][0]["line_no"]) == [3, 4, *range(100, 125)]


def test_what_reaches_python_with_the_index_format(people: str) -> None:
    expectation = EXPECTATIONS["name"][0]
    with sql_batch(people) as batch, recorded_queries() as seen:
        batch.validate(expectation, result_format=dict(INDEX_FORMAT))
    selects = [s for s, _p in seen if re.search(r"\bFROM staging\.people\b", s)]
    # 1. "unexpected values": the failing names themselves, and in COMPLETE without a LIMIT
    values = [s for s in selects if "AS unexpected_values" in s]
    assert values and all(s.lstrip().startswith("SELECT name AS unexpected_values") for s in values)
    assert all("LIMIT" not in s for s in values)
    # 2. the index query selects line_no AND the checked column; GX drops the column afterwards
    index = [s for s in selects if s.lstrip().startswith("SELECT line_no, name")]
    assert len(index) == 1 and "LIMIT" in index[0]


def test_platform_format_fetches_no_values(people: str) -> None:
    expectation = EXPECTATIONS["name"][0]
    with sql_batch(people) as batch, recorded_queries() as seen:
        result = batch.validate(expectation, result_format=dict(RESULT_FORMAT))
    assert result.result["unexpected_count"] == 3
    value_queries = [(s, p) for s, p in seen if "AS unexpected_values" in s]
    assert value_queries, "GX still issues the unexpected-values query"
    for statement, parameters in value_queries:
        limit = re.search(r"LIMIT %\((\w+)\)s", statement)
        assert limit is not None and parameters[limit.group(1)] == 0  # LIMIT 0: nothing fetched
    assert not any(s.lstrip().startswith("SELECT line_no") for s, _p in seen)


def test_platform_can_select_failing_line_numbers_itself(people: str) -> None:
    """The same condition, reused in a query that returns line numbers and nothing else."""
    table = sa.table("people", sa.column("line_no"), sa.column("id_no"), schema="staging")
    condition = ex.resident_id_sql(table.c.id_no)
    query = (
        sa.select(table.c.line_no)
        .where(table.c.id_no.is_not(None), sa.not_(condition))
        .order_by(table.c.line_no)
    )
    engine = sa.create_engine(people)
    with engine.connect() as conn:
        assert conn.execute(query).scalars().all() == [3, 4]
    engine.dispose()


# ------------------------------------------------------------- SQL vs the normaliser, in PG


def generated_ids(count: int = 2000, seed: int = 20240) -> list[str]:
    """Valid ids, one-digit changes, X endings (right and wrong), lower-case x, odd lengths."""
    rng = random.Random(seed)
    values: list[str] = []
    while len(values) < count:
        body = f"{rng.randint(110000, 659999)}{rng.randint(1875, 2035)}{rng.randint(1, 12):02d}"
        body += f"{rng.randint(1, 31):02d}{rng.randint(0, 999):03d}"
        good = make_id(body)
        values.append(good)
        pos = rng.randrange(17)
        values.append(good[:pos] + str((int(good[pos]) + rng.randint(1, 9)) % 10) + good[pos + 1 :])
        values.append(body + "X")
        values.append(body + "x")
        values.append(good[:-1] + str((int(good[-1]) + 1) % 10) if good[-1] != "X" else body + "0")
        values.append(
            rng.choice([good[:15], good[:17], good + "0", "", " " + good, good.replace("1", "I", 1)])
        )
    return values[:count]


def test_id_sql_agrees_with_the_normaliser_in_postgres(databases: Any) -> None:
    values = generated_ids()
    url = databases.create("popdata_test_gxids")
    engine = sa.create_engine(url)
    table = sa.table("ids", sa.column("n"), sa.column("v"))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE ids (n integer, v text)")
        conn.execute(
            sa.text("INSERT INTO ids VALUES (:n, :v)"), [{"n": i, "v": v} for i, v in enumerate(values)]
        )
        rows = conn.execute(sa.select(table.c.n, ex.resident_id_sql(table.c.v)).order_by(table.c.n)).all()
    engine.dispose()
    in_pg = [bool(ok) for _n, ok in rows]
    reference = [(p := parse_id(v)).valid and p.value == v for v in values]
    disagreements = [values[i] for i, (a, b) in enumerate(zip(in_pg, reference, strict=True)) if a != b]
    assert disagreements == []
    assert 300 < sum(reference) < 1700
    assert any(v.endswith("X") for v, ok in zip(values, reference, strict=True) if ok)


def test_name_sql_agrees_with_python_in_postgres(databases: Any) -> None:
    samples = [
        "张三", "王", "欧阳娜娜", "买买提·依明", "沈𣵦", "李 四", "", "   ", "\u3000", "\u200b",
        "张三1", "123", "张?", "?张", "张？", "？？", "??", "a?b", "Ж?", "锟斤拷", "张\ufffd", "烫烫",
        "屯屯", "確?;顒有Ч?", "阿沛阿旺晋美多", "Anna", "ｱ?",
    ]  # fmt: skip
    url = databases.create("popdata_test_gxnames")
    engine = sa.create_engine(url)
    table = sa.table("names", sa.column("n"), sa.column("v"))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE names (n integer, v text)")
        conn.execute(
            sa.text("INSERT INTO names VALUES (:n, :v)"), [{"n": i, "v": v} for i, v in enumerate(samples)]
        )
        rows = conn.execute(
            sa.select(table.c.n, ex.plausible_chinese_name_sql(table.c.v)).order_by(table.c.n)
        ).all()
    engine.dispose()
    assert {samples[n]: bool(ok) for n, ok in rows} == {s: ex.is_plausible_chinese_name(s) for s in samples}
