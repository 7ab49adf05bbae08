"""Conditional requirements of a feed whose rows are of several kinds (``required_when``,
``persons.when``; village reports, issue 11): the config checks, the row policy and the linkage
SQL, on small feeds and tiny tables (no database)."""

from __future__ import annotations

import copy
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from stdnum.cn import ric

from popdata.config.feeds import Feed, FeedConfigError, feed_by_id, load_feed_file
from popdata.ingest.read import MISSING_COLUMNS, FileRejected, RawTable
from popdata.ingest.rows import REQUIRED_BLANK, normalise_table
from popdata.linkage.mentions import mentions_sql

VILLAGE_FEED = feed_by_id("fp__village_reports")
VILLAGE = "120115101201"
EXTRACT = date(2014, 4, 15)

# --- the config model ------------------------------------------------------------------------


def toy(**changes: Any) -> dict[str, Any]:
    """A small valid feed with conditional columns and persons; ``changes`` replace top-level keys."""
    data: dict[str, Any] = {
        "agency": "fp",
        "feed": "toy_reports",
        "title_zh": "测试直报",
        "kind": "incremental",
        "key": ["report_no"],
        "columns": [
            {"name": "report_no", "headers": ["报告编号"], "type": "code", "required": True},
            {"name": "report_type", "headers": ["报告类型"], "type": "code", "required": True},
            {"name": "report_date", "headers": ["报告日期"], "type": "date", "required": True},
            {"name": "note", "headers": ["备注"], "type": "code"},
            {"name": "name", "headers": ["姓名"], "type": "name", "required_when": {"report_type": ["死亡"]}},
            {
                "name": "birth_date",
                "headers": ["出生日期"],
                "type": "date",
                "required_when": {"report_type": ["出生"]},
            },
            {"name": "mother_name", "headers": ["母亲姓名"], "type": "name"},
        ],
        "persons": [
            {"role": "child", "when": {"report_type": ["出生"]}, "name": "name", "birth_date": "birth_date"},
            {"role": "mother", "when": {"report_type": ["出生"]}, "name": "mother_name", "sex": "'2'"},
            {"role": "subject", "when": {"report_type": ["死亡", "迁入"]}, "name": "name"},
        ],
    }
    data.update(changes)
    return data


def with_condition(where: str, condition: Any, *, required: bool = False) -> dict[str, Any]:
    """The toy feed with ``condition`` as ``columns.birth_date.required_when`` or ``persons.child.when``."""
    data = copy.deepcopy(toy())
    if where == "column":
        column = next(c for c in data["columns"] if c["name"] == "birth_date")
        column["required_when"] = condition
        if required:
            column["required"] = True
    else:
        data["persons"][0]["when"] = condition
    return data


def test_the_toy_feed_and_the_village_feed_are_valid() -> None:
    """A well-formed feed validates; the shipped village feed carries its conditions."""
    feed = Feed.model_validate(toy())
    assert feed.column("birth_date").required_when == {"report_type": ("出生",)}
    assert feed.person("subject").when == {"report_type": ("死亡", "迁入")}
    assert VILLAGE_FEED.column("sex").required_when == {"report_type": ("出生",)}
    assert VILLAGE_FEED.person("mother").when == {"report_type": ("出生",)}
    assert not any(c.required for c in VILLAGE_FEED.columns if c.required_when is not None)
    assert {c.name for c in VILLAGE_FEED.required_columns} == {
        "report_no",
        "report_type",
        "region_code",
        "report_date",
    }


MISTAKES = [
    pytest.param(
        {"kind_of_report": ["出生"]}, "'kind_of_report' must be a required column of type code", id="missing"
    ),
    pytest.param({"note": ["出生"]}, "'note' must be a required column of type code", id="not-required"),
    pytest.param(
        {"report_date": ["2014-01-01"]}, "'report_date' must be a required column of type code", id="not-code"
    ),
    pytest.param({"report_type": ["出生"], "report_no": ["1"]}, "name exactly one column", id="two-columns"),
    pytest.param({}, "name exactly one column", id="no-column"),
    pytest.param({"report_type": []}, "list at least one value of 'report_type'", id="empty-list"),
]


@pytest.mark.parametrize(("condition", "message"), MISTAKES)
def test_required_when_mistakes_fail_clearly(condition: dict[str, Any], message: str) -> None:
    """A ``required_when`` that does not name one required code column with values fails, naming itself."""
    with pytest.raises(ValueError, match=re.escape(f"columns.birth_date.required_when: {message}")):
        Feed.model_validate(with_condition("column", condition))


@pytest.mark.parametrize(("condition", "message"), MISTAKES)
def test_persons_when_mistakes_fail_clearly(condition: dict[str, Any], message: str) -> None:
    """A ``persons.<role>.when`` with the same mistakes fails the same way, naming the role."""
    with pytest.raises(ValueError, match=re.escape(f"persons.child.when: {message}")):
        Feed.model_validate(with_condition("person", condition))


def test_required_with_required_when_fails() -> None:
    """A column is either always required or required on some rows, not both."""
    data = with_condition("column", {"report_type": ["出生"]}, required=True)
    with pytest.raises(ValueError, match=re.escape("columns.birth_date: required and required_when exclude")):
        Feed.model_validate(data)


def test_condition_on_a_column_that_is_itself_conditional_fails() -> None:
    """A condition cannot hang on a column that is only required on some rows (``name``)."""
    with pytest.raises(ValueError, match=re.escape("'name' must be a required column of type code")):
        Feed.model_validate(with_condition("column", {"name": ["张三"]}))


def test_condition_values_must_be_text() -> None:
    """A condition's values are strings (a number in the YAML is a mistake, not coerced)."""
    with pytest.raises(ValidationError):
        Feed.model_validate(with_condition("column", {"report_type": [1]}))


def test_condition_must_be_a_mapping() -> None:
    """``required_when: [出生]`` (a list, no column) is refused."""
    with pytest.raises(ValidationError):
        Feed.model_validate(with_condition("column", ["出生"]))
    with pytest.raises(ValidationError):
        Feed.model_validate(with_condition("person", "report_type"))


@pytest.mark.parametrize(
    ("where", "condition", "message"),
    [
        ("column", {"report_type": []}, "columns.birth_date.required_when: list at least one value"),
        ("person", {"note": ["出生"]}, "persons.child.when: 'note' must be a required column of type code"),
    ],
)
def test_yaml_mistakes_raise_feed_config_error_naming_the_file(
    tmp_path: Path, where: str, condition: dict[str, Any], message: str
) -> None:
    """Loaded from YAML, the same mistakes are a ``FeedConfigError`` naming the file and the field."""
    path = tmp_path / "fp__toy_reports.yaml"
    path.write_text(yaml.safe_dump(with_condition(where, condition), allow_unicode=True), encoding="utf-8")
    with pytest.raises(FeedConfigError, match=re.escape(message)) as info:
        load_feed_file(path)
    assert str(path) in str(info.value)


def test_good_yaml_loads(tmp_path: Path) -> None:
    """The toy feed written as YAML loads with its conditions."""
    path = tmp_path / "fp__toy_reports.yaml"
    path.write_text(yaml.safe_dump(toy(), allow_unicode=True), encoding="utf-8")
    assert load_feed_file(path).column("name").required_when == {"report_type": ("死亡",)}


# --- the row policy on the village feed ------------------------------------------------------


def make_id(first17: str) -> str:
    """A valid 18-character identity number from its first 17 characters."""
    return first17 + ric.calc_check_digit(first17 + "0")


PERSON_ID = make_id("12011519500202003")


def table(rows: list[dict[str, str]], columns: list[str] | None = None) -> RawTable:
    """A raw table of the village feed with the first header of ``columns`` (all by default)."""
    names = columns or [c.name for c in VILLAGE_FEED.columns]
    return RawTable(
        headers=[VILLAGE_FEED.column(n).headers[0] for n in names],
        rows=[[row.get(n) for n in names] for row in rows],
        line_nos=list(range(2, 2 + len(rows))),
        encoding="utf-8",
    )


def report(n: int, report_type: str, **fields: str) -> dict[str, str]:
    """One report row: number ``n``, its type, the village, the report date, and ``fields``."""
    return {
        "report_no": f"VR20140415{n:07d}",
        "report_type": report_type,
        "region_code": VILLAGE,
        "report_date": EXTRACT.isoformat(),
        **fields,
    }


BIRTH = {"sex": "1", "birth_date": "2014-04-10", "mother_name": "李丽"}
DEATH = {"name": "张三", "death_date": "2014-04-01"}
MOVE_IN = {"name": "张三", "id_no": PERSON_ID, "move_date": "2014-04-01"}


def load(rows: list[dict[str, str]], columns: list[str] | None = None) -> Any:
    """``normalise_table`` of the rows."""
    return normalise_table(table(rows, columns), VILLAGE_FEED, extract_date=EXTRACT)


def reasons(issues: list[Any]) -> set[tuple[int, str | None, str]]:
    """(line, column, reason) of issues."""
    return {(i.line_no, i.column, i.reason) for i in issues}


def test_complete_rows_of_every_type_load() -> None:
    """A complete row of each type loads, with no issue."""
    marital = {"name": "李丽", "id_no": PERSON_ID, "marital": "已婚", "marital_date": "2014-03-08"}
    move_out = {**MOVE_IN, "move_place": "北京"}
    rows = [report(1, "出生", **BIRTH), report(2, "死亡", **DEATH), report(3, "迁入", **MOVE_IN)]
    rows += [report(4, "迁出", **move_out), report(5, "婚姻变动", **marital)]
    out = load(rows)
    assert out.rows_loaded == 5 and out.rejected == [] and out.warnings == []


def test_birth_row_without_birth_date_is_rejected() -> None:
    """A birth report needs a birth date: without one the row is rejected ``required_blank``."""
    out = load([report(1, "出生", **{**BIRTH, "birth_date": ""})])
    assert out.rows_loaded == 0
    assert reasons(out.rejected) == {(2, "birth_date", REQUIRED_BLANK)}


def test_death_row_without_birth_date_loads() -> None:
    """A death report does not need a birth date: it loads, with a null one and no warning."""
    out = load([report(1, "死亡", **DEATH)])
    assert out.rows_loaded == 1 and out.rejected == [] and out.warnings == []
    assert out.columns["birth_date"] == [None]


def test_placeholder_in_a_conditionally_required_column_is_blank() -> None:
    """不详 on a row that needs the column is blank: rejected; on another row it is just null."""
    out = load(
        [
            report(1, "出生", **{**BIRTH, "mother_name": "不详"}),
            report(2, "死亡", **DEATH, mother_name="不详"),
        ]
    )
    assert reasons(out.rejected) == {(2, "mother_name", REQUIRED_BLANK)}
    assert out.rows_loaded == 1 and out.columns["mother_name"] == [None]


@pytest.mark.parametrize(("report_type", "fields"), [("死亡", DEATH), ("迁入", MOVE_IN)])
def test_unparseable_birth_date_is_a_warning_where_not_required(
    report_type: str, fields: dict[str, str]
) -> None:
    """On a row that does not need it, an unreadable birth date loads as null with a warning."""
    out = load([report(1, report_type, **fields, birth_date="去年")])
    assert out.rows_loaded == 1 and out.rejected == []
    assert reasons(out.warnings) == {(2, "birth_date", "date_unparseable")}
    assert out.columns["birth_date"] == [None]


def test_unparseable_birth_date_rejects_a_birth_row() -> None:
    """On a birth row the birth date is required: an unreadable one rejects the row, with its reason."""
    out = load([report(1, "出生", **{**BIRTH, "birth_date": "去年"})])
    assert out.rows_loaded == 0 and out.warnings == []
    assert reasons(out.rejected) == {(2, "birth_date", "date_unparseable")}


def test_impossible_date_rejects_only_the_rows_that_need_it() -> None:
    """30 February rejects a birth row (birth date required) and loads as null on a death row."""
    out = load(
        [
            report(1, "出生", **{**BIRTH, "birth_date": "2014-02-30"}),
            report(2, "死亡", **DEATH, birth_date="2014-02-30"),
        ]
    )
    assert reasons(out.rejected) == {(2, "birth_date", "date_impossible")}
    assert reasons(out.warnings) == {(3, "birth_date", "date_impossible")}
    assert out.columns["report_no"] == ["VR201404150000002"] and out.columns["birth_date"] == [None]


def test_each_type_is_judged_on_its_own_fields() -> None:
    """In one file, each row is rejected only for the fields its own type needs."""
    out = load(
        [
            report(1, "出生", **BIRTH),
            report(2, "出生", mother_name="李丽"),  # no sex, no birth date
            report(3, "死亡", name="张三"),  # no death date
            report(4, "迁入", name="张三", move_date="2014-04-01"),  # no ID
            report(5, "迁出", **MOVE_IN),
            report(6, "婚姻变动", name="李丽", id_no=PERSON_ID, marital_date="2014-03-08"),  # no status
            report(7, "死亡", **DEATH),
        ]
    )
    assert reasons(out.rejected) == {
        (3, "sex", REQUIRED_BLANK),
        (3, "birth_date", REQUIRED_BLANK),
        (4, "death_date", REQUIRED_BLANK),
        (5, "id_no", REQUIRED_BLANK),
        (7, "marital", REQUIRED_BLANK),
    }
    assert out.columns["line_no"] == [2, 6, 8]


def test_invalid_id_on_a_row_that_needs_it_loads_marked_invalid() -> None:
    """An ID that fails the check is loaded as sent, marked invalid, with a warning (contract §2),
    also where the row's type requires an ID."""
    bad = PERSON_ID[:17] + ("0" if PERSON_ID[17] != "0" else "1")
    out = load([report(1, "迁入", **{**MOVE_IN, "id_no": bad})])
    assert out.rows_loaded == 1 and out.rejected == []
    assert reasons(out.warnings) == {(2, "id_no", "id_bad_check_char")}
    assert out.columns["id_no"] == [bad] and out.columns["id_no_valid"] == [False]


def test_traditional_script_report_type_is_the_same_type() -> None:
    """婚姻變動 is 婚姻变动: its row needs a marital status like any marital report."""
    out = load([report(1, "婚姻變動", name="李丽", id_no=PERSON_ID, marital_date="2014-03-08")])
    assert reasons(out.rejected) == {(2, "marital", REQUIRED_BLANK)}


def test_unknown_report_type_needs_nothing_conditional() -> None:
    """A type no condition lists requires none of the conditional columns (the suite rejects the type)."""
    out = load([report(1, "户口注销")])
    assert out.rows_loaded == 1 and out.rejected == []


def test_header_without_a_conditional_column_loads_the_rows_that_do_not_need_it() -> None:
    """A file without the birth-date column at all is not quarantined: rows that need it are rejected."""
    columns = [c.name for c in VILLAGE_FEED.columns if c.name != "birth_date"]
    out = load(
        [report(1, "死亡", **DEATH), report(2, "出生", **BIRTH), report(3, "迁入", **MOVE_IN)], columns
    )
    assert reasons(out.rejected) == {(3, "birth_date", REQUIRED_BLANK)}
    assert out.columns["report_no"] == ["VR201404150000001", "VR201404150000003"]
    assert out.columns["birth_date"] == [None, None]


def test_header_with_only_the_required_columns_loads_types_that_need_nothing_else() -> None:
    """A file of the four always-required columns: every row of a type with conditional fields is rejected."""
    columns = ["report_no", "report_type", "region_code", "report_date"]
    out = load([report(1, "死亡"), report(2, "出生")], columns)
    assert out.rows_loaded == 0
    assert reasons(out.rejected) == {
        (2, "name", REQUIRED_BLANK),
        (2, "death_date", REQUIRED_BLANK),
        (3, "sex", REQUIRED_BLANK),
        (3, "birth_date", REQUIRED_BLANK),
        (3, "mother_name", REQUIRED_BLANK),
    }


def test_missing_report_type_column_quarantines_the_file() -> None:
    """The condition column itself is required: a file without it is refused as a whole."""
    columns = [c.name for c in VILLAGE_FEED.columns if c.name != "report_type"]
    with pytest.raises(FileRejected) as info:
        load([report(1, "死亡", **DEATH)], columns)
    assert info.value.reason == MISSING_COLUMNS


# --- the mentions SQL ------------------------------------------------------------------------


def _selects() -> tuple[list[str], dict[str, Any]]:
    statement, params = mentions_sql(VILLAGE_FEED)
    return statement.text.split("\nUNION ALL\n"), params


def test_mentions_sql_has_one_select_per_role() -> None:
    """One SELECT per person role, in the YAML's order, each naming its role."""
    selects, params = _selects()
    assert len(selects) == len(VILLAGE_FEED.persons) == 4
    for index, person in enumerate(VILLAGE_FEED.persons):
        assert params[f"role_{index}"] == person.role
        assert f":role_{index}" in selects[index]


def test_mentions_sql_limits_each_role_to_its_report_types() -> None:
    """Each role's SELECT holds ``report_type IN (…)`` with one bound parameter per listed type."""
    selects, params = _selects()
    for index, (person, select) in enumerate(zip(VILLAGE_FEED.persons, selects, strict=True)):
        assert person.when is not None
        ((column, values),) = person.when.items()
        assert column == "report_type"
        found = re.search(r'r\."report_type" IN \(([^)]*)\)', select)
        assert found, select
        names = [n.strip().lstrip(":") for n in found.group(1).split(",")]
        assert [params[n] for n in names] == list(values)
        assert all(n.startswith(f"when_{index}_") for n in names)
    assert {params[n] for n in params if n.startswith("when_0_")} == {"出生"}
    assert [params[f"when_3_{i}"] for i in range(4)] == ["死亡", "迁入", "迁出", "婚姻变动"]


def test_mentions_sql_values_are_bound_not_inlined() -> None:
    """No report type is written into the SQL text; every bind parameter used is given, and no more."""
    statement, params = mentions_sql(VILLAGE_FEED)
    for value in ("出生", "死亡", "迁入", "迁出", "婚姻变动"):
        assert value not in statement.text
    used = set(re.findall(r"(?<![:\w]):(\w+)", statement.text))
    assert used == set(params)


@pytest.mark.parametrize("role", ["mother", "father"])
def test_mentions_sql_keeps_the_presence_test_of_parents(role: str) -> None:
    """A parent is a mention only when named or numbered, and only on birth reports: the OR of the
    presence test is parenthesised, so the type condition binds to both of its terms."""
    selects, _params = _selects()
    index = next(i for i, p in enumerate(VILLAGE_FEED.persons) if p.role == role)
    where = selects[index].split(" WHERE ", 1)[1]
    presence = rf'\(r\."{role}_id" IS NOT NULL OR r\."{role}_name" IS NOT NULL\)'
    of_type = rf'r\."report_type" IN \(:when_{index}_0\)'
    assert re.fullmatch(rf"{presence} AND (?:{of_type}|\({of_type}\))", where), where


def test_feed_without_when_has_no_type_condition() -> None:
    """A feed whose roles have no ``when`` gets no ``when`` parameters and no type condition."""
    feed = Feed.model_validate(
        toy(
            persons=[
                {"role": "child", "name": "name", "birth_date": "birth_date"},
                {"role": "mother", "name": "mother_name", "sex": "'2'"},
            ]
        )
    )
    statement, params = mentions_sql(feed)
    assert not any(n.startswith("when_") for n in params)
    assert "report_type" not in statement.text
