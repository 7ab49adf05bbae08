"""Integration tests for popdata.quality.gx: the reviewed household-registry suite run in PostgreSQL.

Each test module run creates a throwaway database ``popdata_test_gx_<random>`` on the CI server
at 127.0.0.1:5432 and drops it at the end, even on failure. Without a server answering there,
the database tests are skipped; the suite-loading tests need no server and always run.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from popdata.quality.gx import (
    GX_SEVERITY,
    SEVERITIES,
    ExpectationOutcome,
    SuiteResult,
    load_suite,
    validate_query,
    validate_table,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "expectations" / "police__household_registry.json"
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
SOCKET_DIR = Path("/var/run/postgresql")

COLUMNS = (
    "line_no",
    "id_no",
    "id_no_valid",
    "id_sent",
    "name",
    "name_sent",
    "former_name",
    "sex",
    "ethnicity",
    "birth_date",
    "household_no",
    "relation",
    "region_code",
    "region_sent",
    "address",
    "marital",
    "status",
    "registered_date",
    "extract_date",
    "extras",
)
DDL = """
CREATE TABLE staging.{table} (
    line_no int,
    id_no text NOT NULL,
    id_no_valid boolean NOT NULL,
    id_sent text,
    name text NOT NULL,
    name_sent text,
    former_name text,
    sex text,
    ethnicity text,
    birth_date date NOT NULL,
    household_no text NOT NULL,
    relation text,
    region_code text,
    region_sent text,
    address text,
    marital text,
    status text,
    registered_date date,
    extract_date date NOT NULL,
    extras jsonb
)
"""
SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = ("伟", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇")
RELATIONS = ("户主", "配偶", "子", "女")
MARITAL = ("未婚", "已婚", "离婚", "丧偶")
STATUS = ("正常", "正常", "正常", "迁出")


def id_number(seq: int, birth: dt.date, sex: str) -> str:
    """A well-formed 18-character resident ID (GB 11643) for the test rows."""
    order = (seq * 2 + (1 if sex == "1" else 0)) % 1000
    body = f"320102{birth:%Y%m%d}{order:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def clean_rows(count: int = 20) -> list[dict[str, Any]]:
    """Rows that satisfy every expectation of the suite."""
    rows = []
    for i in range(count):
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=997 * i)
        sex = "1" if i % 2 else "2"
        id_no = id_number(i, birth, sex)
        name = SURNAMES[i % len(SURNAMES)] + GIVEN[i % len(GIVEN)]
        rows.append(
            {
                "line_no": i + 1,
                "id_no": id_no,
                "id_no_valid": True,
                "id_sent": id_no,
                "name": name,
                "name_sent": name,
                "former_name": None,
                "sex": sex,
                "ethnicity": "01",
                "birth_date": birth,
                "household_no": f"H{i // 4:05d}",
                "relation": RELATIONS[i % 4],
                "region_code": f"320102{i % 7:03d}{i % 5:03d}",
                "region_sent": "玄武区",
                "address": f"中山路{i + 1}号",
                "marital": MARITAL[i % 4],
                "status": STATUS[i % 4],
                "registered_date": dt.date(2001, 5, 1),
                "extract_date": dt.date(2026, 11, 1),
                "extras": None,
            }
        )
    return rows


def _server_answers() -> bool:
    try:
        with psycopg.connect(ADMIN_DSN):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A throwaway database with a ``staging`` schema, dropped at the end even on failure."""
    if not _server_answers():
        pytest.skip("no PostgreSQL server answers at 127.0.0.1:5432")
    name = f"popdata_test_gx_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(
            f"host=127.0.0.1 port=5432 user=postgres dbname={name}", autocommit=True
        ) as conn:
            conn.execute("CREATE SCHEMA staging")
            # the region reference the suite's known-region-code expectation reads
            conn.execute("CREATE SCHEMA core")
            conn.execute("CREATE TABLE core.regions (code text)")
            conn.execute(
                "INSERT INTO core.regions SELECT '320102' || lpad(t::text, 3, '0') || lpad(v::text, 3, '0')"
                " FROM generate_series(0, 6) t, generate_series(0, 4) v"
            )
        yield name
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def tcp_url(database: str) -> str:
    """The SQLAlchemy URL of the test database over TCP."""
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"


def make_table(database: str, rows: Sequence[dict[str, Any]], *, columns: Sequence[str] = COLUMNS) -> str:
    """Create ``staging.household_registry_<n>`` holding ``rows``; returns the table's name."""
    table = f"household_registry_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(
        f"host=127.0.0.1 port=5432 user=postgres dbname={database}", autocommit=True
    ) as conn:
        if list(columns) == list(COLUMNS):
            conn.execute(sql.SQL(DDL).format(table=sql.Identifier(table)))
        else:
            conn.execute(
                sql.SQL("CREATE TABLE staging.{} ({})").format(
                    sql.Identifier(table),
                    sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in columns),
                )
            )
        if rows:
            insert = sql.SQL("INSERT INTO staging.{} ({}) VALUES ({})").format(
                sql.Identifier(table),
                sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
            )
            with conn.cursor() as cur:
                cur.executemany(insert, [{c: row[c] for c in columns} for row in rows])
    return table


def suite_entries() -> list[dict[str, Any]]:
    """The reviewed suite's expectation entries, as written in the JSON file."""
    return list(json.loads(SUITE.read_text(encoding="utf-8"))["expectations"])


def outcome(result: SuiteResult, expectation: str, column: str | None) -> ExpectationOutcome:
    """The single outcome of ``expectation`` on ``column``."""
    found = [o for o in result.outcomes if o.expectation == expectation and o.column_name == column]
    assert len(found) == 1, f"{expectation}({column}): {len(found)} outcomes"
    return found[0]


def failed(result: SuiteResult) -> list[tuple[str, str | None]]:
    """(expectation, column) of every outcome that did not succeed."""
    return [(o.expectation, o.column_name) for o in result.outcomes if not o.success]


# --- the reviewed suite file ---------------------------------------------------------------------


def test_reviewed_suite_loads_with_one_severity_per_expectation() -> None:
    entries = suite_entries()
    suite = load_suite(SUITE)
    assert suite.name == "police__household_registry"
    assert [e.expectation_type for e in suite.expectations] == [e["type"] for e in entries]
    assert [e.meta["severity"] for e in suite.expectations] == [e["meta"]["severity"] for e in entries]
    # GX's own severity field mirrors the gate (GX would default every one to critical)
    assert [e.severity.value for e in suite.expectations] == [
        GX_SEVERITY[e["meta"]["severity"]] for e in entries
    ]
    assert {e["meta"]["severity"] for e in entries} <= set(SEVERITIES)
    critical = {
        (e["type"], e["kwargs"].get("column")) for e in entries if e["meta"]["severity"] == "quarantine_file"
    }
    assert ("expect_table_row_count_to_be_between", None) in critical
    assert ("expect_column_values_to_be_in_set", "sex") in critical
    assert ("expect_column_values_to_be_unique", "id_no") not in critical


def _write_suite(tmp_path: Path, mutate: Any) -> Path:
    raw = json.loads(SUITE.read_text(encoding="utf-8"))
    mutate(raw["expectations"])
    path = tmp_path / "bad__suite.json"
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    return path


def _drop_meta_severity(entries: list[dict[str, Any]]) -> None:
    del entries[3]["meta"]["severity"]


def _drop_meta(entries: list[dict[str, Any]]) -> None:
    del entries[3]["meta"]


def _bad_severity(entries: list[dict[str, Any]]) -> None:
    entries[3]["meta"]["severity"] = "fatal"
    entries[3].pop("severity", None)


def _native_disagrees(entries: list[dict[str, Any]]) -> None:
    entries[3]["severity"] = "info" if entries[3]["meta"]["severity"] == "quarantine_file" else "critical"


def _unknown_type(entries: list[dict[str, Any]]) -> None:
    entries[3]["type"] = "expect_column_values_to_be_nonnull"


def _bad_kwargs(entries: list[dict[str, Any]]) -> None:
    entries[3]["kwargs"]["mosty"] = 0.9


def _forbidden_kwargs(entries: list[dict[str, Any]]) -> None:
    entries[3]["kwargs"]["result_format"] = "COMPLETE"


def _duplicate(entries: list[dict[str, Any]]) -> None:
    twin = copy.deepcopy(entries[2])
    twin["meta"]["severity"], twin["severity"] = "warn", "info"
    entries.insert(3, twin)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_drop_meta_severity, "missing meta.severity"),
        (_drop_meta, "missing meta.severity"),
        (_bad_severity, "meta.severity 'fatal' is not one of"),
        (_native_disagrees, "disagrees with meta.severity"),
        (_unknown_type, "unknown expectation type 'expect_column_values_to_be_nonnull'"),
        (_bad_kwargs, "invalid kwargs"),
        (_forbidden_kwargs, "['result_format'] are set by the platform"),
        (_duplicate, "duplicates expectations[2]"),
    ],
)
def test_load_suite_rejects_a_bad_entry_naming_file_and_entry(
    tmp_path: Path, mutate: Any, message: str
) -> None:
    path = _write_suite(tmp_path, mutate)
    with pytest.raises(ValueError) as caught:
        load_suite(path)
    text = str(caught.value)
    assert str(path) in text
    assert "expectations[3]" in text
    assert message in text


def test_load_suite_rejects_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x", "expectations": [', encoding="utf-8")
    with pytest.raises(ValueError, match="cannot read JSON") as caught:
        load_suite(path)
    assert str(path) in str(caught.value)


# --- validating staged tables ----------------------------------------------------------------------


def test_clean_table_passes(database: str) -> None:
    rows = clean_rows()
    table = make_table(database, rows)
    result = validate_table(tcp_url(database), "staging", table, SUITE, run_name="clean")
    entries = suite_entries()
    assert result.suite == "police__household_registry"
    assert failed(result) == []
    assert result.success is True
    assert result.blocked is False
    # one outcome per expectation, in the file's order, with the file's severity and kwargs
    assert [o.expectation for o in result.outcomes] == [e["type"] for e in entries]
    assert [o.severity for o in result.outcomes] == [e["meta"]["severity"] for e in entries]
    assert [o.kwargs for o in result.outcomes] == [e["kwargs"] for e in entries]
    assert outcome(result, "expect_table_row_count_to_be_between", None).element_count == len(rows)
    not_null = outcome(result, "expect_column_values_to_not_be_null", "id_no")
    assert (not_null.unexpected_count, not_null.element_count, not_null.error) == (0, len(rows), None)


def test_bad_sex_code_blocks(database: str) -> None:
    rows = clean_rows()
    rows[5]["sex"] = "3"
    table = make_table(database, rows)
    result = validate_table(tcp_url(database), "staging", table, SUITE, run_name="bad-sex")
    assert failed(result) == [("expect_column_values_to_be_in_set", "sex")]
    sex = outcome(result, "expect_column_values_to_be_in_set", "sex")
    assert (sex.severity, sex.unexpected_count, sex.element_count) == ("quarantine_file", 1, len(rows))
    assert result.success is False
    assert result.blocked is True


def test_duplicate_id_number_warns_but_does_not_block(database: str) -> None:
    rows = clean_rows()
    rows[7]["id_no"] = rows[3]["id_no"]  # 重号: two people registered under one number
    table = make_table(database, rows)
    result = validate_table(tcp_url(database), "staging", table, SUITE, run_name="dup-id")
    # the copied number also contradicts the second person's birth date and sex
    assert failed(result) == [
        ("expect_column_values_to_be_unique", "id_no"),
        ("expect_resident_id_to_match_birth_date_and_sex", "id_no,birth_date,sex"),
    ]
    unique = outcome(result, "expect_column_values_to_be_unique", "id_no")
    # GX counts every row of a duplicated value: both rows of the pair
    assert (unique.severity, unique.unexpected_count, unique.element_count) == ("warn", 2, len(rows))
    assert result.success is False
    assert result.blocked is False


def test_mostly_thresholds_tolerate_a_few_invalid_ids_but_not_many(database: str) -> None:
    rows = clean_rows(40)
    rows[0]["id_no_valid"] = False  # 1 of 40 = 2.5 % invalid: within mostly 0.95
    few = validate_table(tcp_url(database), "staging", make_table(database, rows), SUITE, run_name="few")
    valid = outcome(few, "expect_column_values_to_be_in_set", "id_no_valid")
    assert (valid.success, valid.unexpected_count) == (True, 1)
    for row in rows[1:4]:
        row["id_no_valid"] = False  # 4 of 40 = 10 %
    many = validate_table(tcp_url(database), "staging", make_table(database, rows), SUITE, run_name="many")
    valid = outcome(many, "expect_column_values_to_be_in_set", "id_no_valid")
    assert (valid.success, valid.unexpected_count) == (False, 4)
    assert (many.success, many.blocked) == (False, False)


def test_empty_table_blocks(database: str) -> None:
    result = validate_table(tcp_url(database), "staging", make_table(database, []), SUITE, run_name="empty")
    assert failed(result) == [("expect_table_row_count_to_be_between", None)]
    assert outcome(result, "expect_table_row_count_to_be_between", None).element_count == 0
    assert result.blocked is True


@pytest.mark.skipif(
    not (SOCKET_DIR / ".s.PGSQL.5432").exists(), reason="no PostgreSQL socket in /var/run/postgresql"
)
def test_socket_url_works(database: str) -> None:
    rows = clean_rows()
    rows[2]["sex"] = "X"
    table = make_table(database, rows)
    url = f"postgresql+psycopg://postgres@/{database}?host={SOCKET_DIR}"
    result = validate_table(url, "staging", table, SUITE, run_name="socket")
    assert failed(result) == [("expect_column_values_to_be_in_set", "sex")]
    assert outcome(result, "expect_table_row_count_to_be_between", None).element_count == len(rows)
    assert result.blocked is True


def test_dollar_in_url_is_not_substituted_by_gx(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # trust auth ignores the password; GX alone would try to substitute $POPDATA_UNSET_VAR and raise
    monkeypatch.delenv("POPDATA_UNSET_VAR", raising=False)
    url = f"postgresql+psycopg://postgres:pw$POPDATA_UNSET_VAR@127.0.0.1:5432/{database}"
    result = validate_table(url, "staging", make_table(database, clean_rows()), SUITE, run_name="dollar")
    assert result.success is True


def test_missing_column_is_a_failed_outcome_with_an_error(database: str) -> None:
    rows = clean_rows()
    columns = [c for c in COLUMNS if c != "sex"]
    table = make_table(
        database,
        [{c: str(r[c]) if r[c] is not None else None for c in columns} for r in rows],
        columns=columns,
    )
    result = validate_table(tcp_url(database), "staging", table, SUITE, run_name="no-sex")
    sex = outcome(result, "expect_column_values_to_be_in_set", "sex")
    assert sex.success is False
    assert sex.error is not None and '"sex"' in sex.error
    assert result.blocked is True


def test_missing_table_raises(database: str) -> None:
    with pytest.raises(ConnectionError, match="household_registry_nope"):
        validate_table(tcp_url(database), "staging", "household_registry_nope", SUITE, run_name="none")


@pytest.mark.parametrize("table", ["Household", "t; DROP TABLE x", "", "staging.t"])
def test_bad_identifiers_are_rejected(table: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        validate_table(
            "postgresql+psycopg://postgres@127.0.0.1:5432/x", "staging", table, SUITE, run_name="x"
        )


def test_no_connection_left_open(database: str) -> None:
    validate_table(tcp_url(database), "staging", make_table(database, clean_rows()), SUITE, run_name="pool")
    with psycopg.connect(ADMIN_DSN) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    assert row is not None and row[0] == 0


def test_no_personal_value_is_fetched_returned_or_logged(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    rows = clean_rows()
    personal = {
        "id_no": "110101199003077713",
        "sex": "男",
        "status": "失踪人口",
        "marital": "离异再婚",
        "region_code": "1101ZZ",
        "name": "欧阳娜娜",
    }
    rows[4].update(personal)
    rows[9]["id_no"] = personal["id_no"]
    rows[9]["relation"] = None
    rows[11]["birth_date"] = dt.date(1875, 6, 30)
    rows[12]["id_no_valid"] = False
    rows[13]["id_no_valid"] = False
    table = make_table(database, rows)

    fetched: list[tuple[str, int]] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        fetched.append((statement, cursor.rowcount))

    sa.event.listen(sa.engine.Engine, "after_cursor_execute", spy)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="great_expectations")
    try:
        result = validate_table(tcp_url(database), "staging", table, SUITE, run_name="personal")
    finally:
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", spy)

    # the bad values were seen: every check they break failed
    assert {column for _, column in failed(result)} == {
        "id_no",
        "sex",
        "status",
        "marital",
        "region_code",
        "birth_date",
        "id_no_valid",
        "id_no,birth_date,sex",
    }
    # GX ran its "unexpected values" queries, and they fetched nothing, except the second pass
    # that names the failing lines of the one reject_rows expectation broken here (the 1875 birth
    # date): its queries touch that row only, and the values stay in memory (docs/quality.md)
    value_queries = [(s, n) for s, n in fetched if "unexpected_values" in s or "unexpected_rows" in s]
    assert value_queries, "GX no longer runs unexpected-value queries: re-check what it fetches"
    fetching = [(s, n) for s, n in value_queries if n]
    assert all("birth_date" in s and n == 1 for s, n in fetching), fetching
    assert len(fetching) < len(value_queries)
    assert outcome(result, "expect_column_values_to_be_plausible_date", "birth_date").failing_lines == (
        rows[11]["line_no"],
    )
    # nothing personal in the result or the logs (GX's own DEBUG logs included)
    text = repr(result) + "\n" + caplog.text
    assert "personal" in caplog.text  # the run's log line was captured
    for value in (*personal.values(), "1875-06-30", rows[9]["name"]):
        assert value not in text


def test_import_is_cheap_and_validation_stays_offline_and_quiet(database: str) -> None:
    table = make_table(database, clean_rows())
    script = f"""
import json, socket, sys
attempts = []
LOCAL = {{"127.0.0.1", "localhost", "::1"}}
def audit(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        address = args[1] if event == "socket.connect" else args[0]
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, bytes):
            host = host.decode()
        if not (isinstance(host, str) and (host.startswith("/") or host in LOCAL)):
            attempts.append(f"{{event}} {{address!r}}")
sys.addaudithook(audit)
import popdata.quality.gx as q
loaded_on_import = "great_expectations" in sys.modules
suite = q.Path({str(SUITE)!r})
result = q.validate_table({tcp_url(database)!r}, "staging", {table!r}, suite, run_name="offline")
print(json.dumps({{"loaded_on_import": loaded_on_import, "attempts": attempts, "success": result.success}}))
"""
    env = {k: v for k, v in os.environ.items() if k != "GX_ANALYTICS_ENABLED"}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"loaded_on_import": False, "attempts": [], "success": True}
    assert "Calculating Metrics" not in proc.stderr  # no tqdm progress bars
    assert proc.stderr.strip() == ""


# --- gates: reject_rows and quarantine_file; query batches ------------------------------------------


def _gate_suite(tmp_path: Path, name_gate: str) -> Path:
    suite = {
        "name": "test__gates",
        "expectations": [
            {
                "type": "expect_column_value_lengths_to_be_between",
                "kwargs": {"column": "name", "min_value": 1, "max_value": 6},
                "meta": {"severity": name_gate},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "sex", "value_set": ["1", "2"], "mostly": 0.5},
                "meta": {"severity": "reject_rows"},
            },
            {
                "type": "expect_table_row_count_to_be_between",
                "kwargs": {"min_value": 1},
                "meta": {"severity": "quarantine_file"},
            },
        ],
    }
    path = tmp_path / "test__gates.json"
    path.write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    return path


def test_reject_rows_returns_the_failing_line_numbers_and_no_values(
    database: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = clean_rows(12)
    rows[2]["name"] = "张三李四王五赵六"  # 8 characters
    rows[9]["sex"] = "9"
    rows[10]["sex"] = "x"
    table = make_table(database, rows)
    with caplog.at_level(logging.DEBUG):
        result = validate_table(
            tcp_url(database), "staging", table, _gate_suite(tmp_path, "reject_rows"), run_name="g"
        )
    assert result.blocked is False
    name = outcome(result, "expect_column_value_lengths_to_be_between", "name")
    sex = outcome(result, "expect_column_values_to_be_in_set", "sex")
    assert (name.success, name.failing_lines) == (False, (rows[2]["line_no"],))
    # within mostly 0.5: passed, but its rows are still rejected
    assert (sex.success, sex.failing_lines) == (True, (rows[9]["line_no"], rows[10]["line_no"]))
    assert list(result.rejected_lines) == sorted(rows[i]["line_no"] for i in (2, 9, 10))
    assert "张三李四王五赵六" not in caplog.text
    assert "张三李四王五赵六" not in repr(result)


def test_quarantine_file_gate_blocks_and_locates_nothing(database: str, tmp_path: Path) -> None:
    rows = clean_rows(8)
    rows[1]["name"] = "张三李四王五赵六"
    table = make_table(database, rows)
    result = validate_table(
        tcp_url(database), "staging", table, _gate_suite(tmp_path, "quarantine_file"), run_name="q"
    )
    assert result.blocked is True
    name = outcome(result, "expect_column_value_lengths_to_be_between", "name")
    assert (name.success, name.failing_lines, name.unexpected_count) == (False, (), 1)


def test_a_query_batch_validates_and_refuses_reject_rows(database: str, tmp_path: Path) -> None:
    rows = clean_rows(10)
    table = make_table(database, rows)
    suite = {
        "name": "test__cross",
        "expectations": [
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "agrees", "value_set": [True], "mostly": 0.95},
                "meta": {"severity": "warn"},
            }
        ],
    }
    path = tmp_path / "test__cross.json"
    path.write_text(json.dumps(suite), encoding="utf-8")
    query = f"SELECT (sex = '1') AS agrees FROM staging.{table}"
    result = validate_query(tcp_url(database), "agree", query, path, run_name="x")
    agrees = outcome(result, "expect_column_values_to_be_in_set", "agrees")
    assert agrees.element_count == 10
    assert agrees.unexpected_count == sum(1 for r in rows if r["sex"] != "1")
    with pytest.raises(ValueError, match="reject_rows has no meaning"):
        validate_query(tcp_url(database), "agree", query, _gate_suite(tmp_path, "warn"), run_name="x")


def test_reject_rows_locates_every_failing_row_beyond_gx_partial_limit(database: str, tmp_path: Path) -> None:
    rows = clean_rows(60)
    for row in rows[10:35]:  # 25 failing rows: more than GX's default partial_unexpected_count of 20
        row["sex"] = "7"
    table = make_table(database, rows)
    result = validate_table(
        tcp_url(database), "staging", table, _gate_suite(tmp_path, "warn"), run_name="many"
    )
    sex = outcome(result, "expect_column_values_to_be_in_set", "sex")
    assert sex.unexpected_count == 25
    assert sex.failing_lines == tuple(r["line_no"] for r in rows[10:35])
