"""Village direct reports (村直报, issue 11): the check of one report, the form, and the pure helpers
of the store and the batch writer (no database)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from stdnum.cn import ric

from popdata.ingest.read import read_file
from popdata.ingest.rows import normalise_table
from popdata.intake import batch, reports, store
from popdata.intake.reports import (
    MESSAGES_ZH,
    REPORT_TYPES,
    SET_BY_APP,
    CheckedReport,
    check_report,
    form_fields,
    report_type,
    village_feed,
    vocabularies,
)
from popdata.normalize.codes import RegionResolver
from popdata.normalize.ids import ID_UNKNOWN_ADDRESS_CODE, parse_id

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "expectations" / "fp__village_reports.json"

VILLAGE = "120115101201"  # 东风村
OTHER_VILLAGE = "120115101202"  # 西风村, same town
TOWN = "120115101000"
REPORT_DATE = date(2014, 4, 15)
CLERK = "东风村计生专干"

RESOLVER = RegionResolver(
    [
        ("120115000000", "宝坻区", "县", None),
        (TOWN, "牛道口镇", "乡", "120115000000"),
        (VILLAGE, "东风村", "村", TOWN),
        (OTHER_VILLAGE, "西风村", "村", TOWN),
    ]
)


def make_id(first17: str) -> str:
    """A valid 18-character identity number from its first 17 characters."""
    return first17 + ric.calc_check_digit(first17 + "0")


def bad_check(valid: str) -> str:
    """``valid`` with a wrong check character."""
    return valid[:17] + ("0" if valid[17] != "0" else "1")


MOTHER_ID = make_id("12011519880101002")  # a woman born 1988-01-01, 宝坻区
FATHER_ID = make_id("12011519860505001")  # a man born 1986-05-05
PERSON_ID = make_id("12011519500202003")  # a man born 1950-02-02
UNKNOWN_ADDRESS_ID = make_id("99999919800101001")  # valid, but 999999 is no county code
ID_15 = "120115500202003"  # the 15-digit form of PERSON_ID

VALID: dict[str, dict[str, str]] = {
    "birth": {
        "name": "王小明",
        "sex": "1",
        "birth_date": "2014-04-10",
        "birth_order": "2",
        "mother_name": "李丽",
        "mother_id": MOTHER_ID,
        "father_name": "王强",
        "father_id": FATHER_ID,
    },
    "death": {
        "name": "张三",
        "id_no": PERSON_ID,
        "sex": "1",
        "birth_date": "1950-02-02",
        "death_date": "2014-04-01",
    },
    "move_in": {
        "name": "张三",
        "id_no": PERSON_ID,
        "sex": "1",
        "birth_date": "1950-02-02",
        "move_date": "2014-04-01",
        "move_place": "天津市宝坻区城关镇",
    },
    "move_out": {
        "name": "张三",
        "id_no": PERSON_ID,
        "sex": "1",
        "birth_date": "1950-02-02",
        "move_date": "2014-04-01",
        "move_place": "北京市朝阳区",
    },
    "marital": {"name": "李丽", "id_no": MOTHER_ID, "marital": "已婚", "marital_date": "2014-03-08"},
}
"""A complete, valid submission of each report type."""

REQUIRED: dict[str, set[str]] = {
    "birth": {"sex", "birth_date", "mother_name"},
    "death": {"name", "death_date"},
    "move_in": {"name", "id_no", "move_date"},
    "move_out": {"name", "id_no", "move_date"},
    "marital": {"name", "id_no", "marital", "marital_date"},
}
"""The fields each report type must carry (the YAML's ``required_when``)."""

SEEN_CODES: set[str] = set()
"""Every refusal code the tests below saw (their messages are checked at the end)."""


def check(
    code: str, submitted: dict[str, Any], *, resolver: RegionResolver | None = RESOLVER
) -> CheckedReport:
    """``check_report`` for the clerk of 东风村 on ``REPORT_DATE``."""
    checked = check_report(
        code, submitted, village_code=VILLAGE, report_date=REPORT_DATE, clerk=CLERK, resolver=resolver
    )
    SEEN_CODES.update(e.code for e in checked.errors)
    return checked


def refused(code: str, submitted: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    """The errors by field of a submission that must be refused."""
    checked = check(code, submitted, **kwargs)
    assert not checked.ok, f"{code} {submitted} was accepted"
    assert checked.values == {}, "a refused report carries no values"
    return checked.errors_by_field()


def with_(code: str, **changes: Any) -> dict[str, Any]:
    """The valid submission of ``code`` with some fields changed (None removes one)."""
    out = dict(VALID[code])
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


# --- check_report: accepted reports ---------------------------------------------------------


@pytest.mark.parametrize("code", sorted(VALID))
def test_a_valid_report_of_each_type_is_accepted(code: str) -> None:
    """A complete report of each type is accepted; its values are what was sent plus the village."""
    checked = check(code, VALID[code])
    assert checked.ok, checked.errors
    assert checked.report_type is report_type(code)
    assert checked.values == {**VALID[code], "region_code": VILLAGE}


@pytest.mark.parametrize("code", sorted(VALID))
def test_only_the_required_fields_are_enough(code: str) -> None:
    """A report carrying just its type's required fields is accepted."""
    minimal = {k: v for k, v in VALID[code].items() if k in REQUIRED[code]}
    checked = check(code, minimal)
    assert checked.ok, checked.errors
    assert checked.values["region_code"] == VILLAGE


def test_values_are_stripped_and_blank_fields_dropped() -> None:
    """Surrounding spaces go; a blank or None field is not given (and not stored)."""
    checked = check("death", {**with_("death", name="  张三 "), "sex": "", "birth_date": None})
    assert checked.ok, checked.errors
    assert checked.values["name"] == "张三"
    assert "sex" not in checked.values and "birth_date" not in checked.values


def test_region_code_is_always_the_village_without_a_resolver() -> None:
    """Without a region reference the village code of the token is still the region."""
    checked = check("death", VALID["death"], resolver=None)
    assert checked.ok, checked.errors
    assert checked.values["region_code"] == VILLAGE


def test_event_on_the_report_date_and_in_1880_is_accepted() -> None:
    """The bounds are inclusive: an event on the report day, a birth on 1880-01-01."""
    assert check("death", with_("death", death_date=REPORT_DATE.isoformat(), id_no=None)).ok
    assert check("death", with_("death", birth_date="1880-01-01", id_no=None)).ok


def test_other_date_forms_are_accepted() -> None:
    """Dates the contract reads (2014/4/1, 20140401, 2014年4月1日) are accepted."""
    for sent in ("2014/4/1", "20140401", "2014年4月1日"):
        checked = check("death", with_("death", death_date=sent))
        assert checked.ok, (sent, checked.errors)


def test_traditional_script_name_is_accepted() -> None:
    """A name in Traditional script (劉麗華) is a name, not damaged text."""
    checked = check("birth", with_("birth", mother_name="劉麗華", name="王曉明"))
    assert checked.ok, checked.errors
    assert checked.values["mother_name"] == "劉麗華"


def test_traditional_script_marital_status_is_in_the_vocabulary() -> None:
    """離婚 is 离婚 in Traditional script: the vocabulary check sees the Simplified form."""
    assert check("marital", with_("marital", marital="離婚")).ok


def test_id_of_15_digits_is_upgraded_and_accepted() -> None:
    """A valid 15-digit identity number is accepted (the file path upgrades it to 18)."""
    assert parse_id(ID_15).upgraded_from_15 and parse_id(ID_15).value == PERSON_ID
    checked = check("move_in", with_("move_in", id_no=ID_15))
    assert checked.ok, checked.errors
    assert parse_id(checked.values["id_no"]).value == PERSON_ID


def test_lower_case_x_check_character_is_accepted() -> None:
    """A check character ``x`` is ``X``."""
    with_x = make_id("12011519880101006")
    assert with_x.endswith("X")
    checked = check("marital", with_("marital", id_no=with_x.lower()))
    assert checked.ok, checked.errors


@pytest.mark.parametrize("field", ["id_no", "mother_id"])
def test_unknown_address_code_is_advisory(field: str) -> None:
    """A valid number whose address code no table knows carries a warning that does not refuse it."""
    assert parse_id(UNKNOWN_ADDRESS_ID).valid
    assert parse_id(UNKNOWN_ADDRESS_ID).warnings == (ID_UNKNOWN_ADDRESS_CODE,)
    code = "birth" if field == "mother_id" else "move_in"
    checked = check(code, with_(code, **{field: UNKNOWN_ADDRESS_ID}))
    assert checked.ok, checked.errors


@pytest.mark.parametrize(
    "sent", [VILLAGE, "东风村", "牛道口镇东风村", "宝坻区牛道口镇东风村", "东风村委会", ""]
)
def test_region_sent_as_the_village_itself_is_accepted(sent: str) -> None:
    """``region_code`` may be sent as the village's code or name; the value kept is the code."""
    checked = check("death", {**VALID["death"], "region_code": sent})
    assert checked.ok, checked.errors
    assert checked.values["region_code"] == VILLAGE


# --- check_report: refusals ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("move_in", "id_no"),
        ("death", "id_no"),
        ("marital", "id_no"),
        ("birth", "mother_id"),
        ("birth", "father_id"),
    ],
)
def test_id_failing_the_check_is_refused(code: str, field: str) -> None:
    """An identity number with a wrong check character is refused, required or optional."""
    errors = refused(code, with_(code, **{field: bad_check(VALID[code].get(field, MOTHER_ID))}))
    assert errors == {field: "id_bad_check_char"}


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        ("12345", "id_bad_length"),
        ("1201151950020200AB", "id_bad_characters"),
        (make_id("12011519500230003"), "id_bad_birth_date"),  # check character right, 30 February
    ],
)
def test_other_invalid_ids_are_refused_with_their_reason(sent: str, reason: str) -> None:
    """Bad length, bad characters and an impossible embedded birth date are refused by name."""
    assert refused("move_out", with_("move_out", id_no=sent)) == {"id_no": reason}


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("birth", "birth_date"),
        ("death", "death_date"),
        ("death", "birth_date"),
        ("move_in", "move_date"),
        ("marital", "marital_date"),
    ],
)
def test_impossible_date_is_refused(code: str, field: str) -> None:
    """30 February is no date, required or optional."""
    assert refused(code, with_(code, **{field: "2014-02-30"})) == {field: "date_impossible"}


@pytest.mark.parametrize(
    ("code", "field"), [("birth", "birth_date"), ("death", "birth_date"), ("move_out", "move_date")]
)
def test_unparseable_date_is_refused(code: str, field: str) -> None:
    """Text that is no date is refused, even in an optional field (a file would load it as null)."""
    assert refused(code, with_(code, **{field: "去年春天"})) == {field: "date_unparseable"}


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("birth", "birth_date"),
        ("death", "death_date"),
        ("death", "birth_date"),
        ("move_in", "move_date"),
        ("move_out", "move_date"),
        ("marital", "marital_date"),
    ],
)
def test_event_after_the_report_date_is_refused(code: str, field: str) -> None:
    """No event may be reported before it happened (the suite's ``max_date_column: report_date``)."""
    tomorrow = (REPORT_DATE + timedelta(days=1)).isoformat()
    assert refused(code, with_(code, **{field: tomorrow})) == {field: "date_after_report"}


@pytest.mark.parametrize(("code", "field"), [("death", "birth_date"), ("marital", "marital_date")])
def test_date_before_1880_is_refused(code: str, field: str) -> None:
    """A date before 1880-01-01 is impossible (the suite's ``min_date``)."""
    assert refused(code, with_(code, **{field: "1879-12-31"})) == {field: "date_too_early"}


@pytest.mark.parametrize("damaged", ["王?丽", "王\ufffd丽", "王？丽"])
@pytest.mark.parametrize(
    ("code", "field"), [("birth", "mother_name"), ("birth", "father_name"), ("death", "name")]
)
def test_damaged_text_is_refused(code: str, field: str, damaged: str) -> None:
    """A question mark or U+FFFD where a character was lost is damaged text, refused."""
    assert refused(code, with_(code, **{field: damaged})) == {field: "damaged_text"}


@pytest.mark.parametrize("placeholder", ["不详", "无", "-", "NULL"])
@pytest.mark.parametrize(
    ("code", "field"),
    [("birth", "mother_name"), ("death", "name"), ("move_in", "id_no"), ("birth", "birth_date")],
)
def test_placeholder_in_a_required_field_is_blank(code: str, field: str, placeholder: str) -> None:
    """不详 and its kind in a required field count as blank: ``required_blank``."""
    assert refused(code, with_(code, **{field: placeholder})) == {field: "required_blank"}


def test_date_placeholder_in_a_required_date_is_blank() -> None:
    """1900-01-01, the databases' "no date", is blank in a required date."""
    assert refused("birth", with_("birth", birth_date="1900-01-01")) == {"birth_date": "required_blank"}
    assert refused("death", with_("death", death_date="1900年1月1日")) == {"death_date": "required_blank"}


@pytest.mark.parametrize("code", sorted(VALID))
def test_empty_report_names_every_required_field(code: str) -> None:
    """An empty report of each type is refused with ``required_blank`` on exactly its required fields."""
    assert refused(code, {}) == dict.fromkeys(REQUIRED[code], "required_blank")


@pytest.mark.parametrize(("code", "field"), [(c, f) for c in sorted(REQUIRED) for f in sorted(REQUIRED[c])])
def test_each_required_field_missing_is_refused(code: str, field: str) -> None:
    """A complete report without one of its required fields is refused on that field."""
    assert refused(code, with_(code, **{field: None})) == {field: "required_blank"}


def test_required_fields_match_the_yaml() -> None:
    """The required fields of each type above are the YAML's ``required_when`` (and nothing else)."""
    feed = village_feed()
    for kind in REPORT_TYPES:
        from_yaml = {
            c.name
            for c in feed.columns
            if c.required_when is not None and kind.value in c.required_when["report_type"]
        }
        assert from_yaml == REQUIRED[kind.code], kind.code


@pytest.mark.parametrize("value", ["再婚", "married", "已婚已育"])
def test_marital_status_outside_the_vocabulary_is_refused(value: str) -> None:
    """Only the registry's marital statuses (未婚, 已婚, 离婚, 丧偶) are accepted."""
    assert refused("marital", with_("marital", marital=value)) == {"marital": "not_in_vocabulary"}


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("death", "marital"),
        ("birth", "death_date"),
        ("marital", "mother_name"),
        ("birth", "report_no"),
        ("death", "clerk"),
        ("move_in", "report_date"),
        ("death", "nickname"),
    ],
)
def test_field_the_type_does_not_have_is_refused(code: str, field: str) -> None:
    """A field outside the type's form (or one the app sets itself) is ``unknown_field``."""
    assert refused(code, {**VALID[code], field: "x"}) == {field: "unknown_field"}


def test_too_long_values_are_refused() -> None:
    """64 characters for a field, 100 for a place; one more is ``too_long`` (after stripping)."""
    assert refused("death", with_("death", name="张" * 65)) == {"name": "too_long"}
    assert refused("death", {**VALID["death"], "region_code": "1" * 65}) == {"region_code": "too_long"}
    assert refused("move_out", with_("move_out", move_place="地" * 101)) == {"move_place": "too_long"}
    assert check("move_out", with_("move_out", move_place="地" * 100)).ok
    assert check("move_out", with_("move_out", move_place=" " + "地" * 100 + " ")).ok


@pytest.mark.parametrize("value", [3, 1.5, True, ["张三"], {"name": "张三"}, date(2014, 4, 1)])
def test_non_string_value_is_refused(value: object) -> None:
    """Every value must be text: a number, a list, a date object is ``not_text``."""
    assert refused("death", with_("death", name=value)) == {"name": "not_text"}


@pytest.mark.parametrize("code", ["funeral", "出生", "Birth", ""])
def test_unknown_report_type_is_refused(code: str) -> None:
    """A report type code that does not exist (codes are birth, death, …) is refused as such."""
    checked = check(code, VALID["death"])
    assert not checked.ok
    assert checked.report_type is None and checked.values == {}
    assert checked.errors_by_field() == {"report_type": "unknown_report_type"}


@pytest.mark.parametrize("sent", [OTHER_VILLAGE, "西风村", "牛道口镇西风村", TOWN, "120115101", "宝坻区"])
def test_region_of_another_place_is_refused(sent: str) -> None:
    """Another village, or the town or county above it, is outside the clerk's village."""
    assert refused("death", {**VALID["death"], "region_code": sent}) == {
        "region_code": "region_outside_village"
    }


def test_region_name_without_a_reference_is_refused() -> None:
    """A name sent for the region cannot be checked without the reference: refused, not guessed."""
    errors = refused("death", {**VALID["death"], "region_code": "东风村"}, resolver=None)
    assert errors == {"region_code": "region_unresolved"}


def test_several_independent_faults_are_all_reported() -> None:
    """Faults on a row that loads are reported together, one per field."""
    errors = refused(
        "death",
        with_("death", id_no=bad_check(PERSON_ID), birth_date="2014-02-30", sex="3", death_date="2099-01-01"),
    )
    assert errors == {
        "id_no": "id_bad_check_char",
        "birth_date": "date_impossible",
        "sex": "sex_unknown_code",
        "death_date": "date_after_report",
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"sex": None, "mother_id": bad_check(MOTHER_ID)},
            {"sex": "required_blank", "mother_id": "id_bad_check_char"},
        ),
        (
            {"sex": None, "birth_order": "很多"},
            {"sex": "required_blank", "birth_order": "birth_order_unparseable"},
        ),
        (
            {"sex": None, "birth_date": "2099-01-01"},
            {"sex": "required_blank", "birth_date": "date_after_report"},
        ),
    ],
    ids=["bad-mother-id", "bad-birth-order", "future-birth-date"],
)
def test_a_blank_required_field_does_not_hide_other_faults(
    changes: dict[str, str | None], expected: dict[str, str]
) -> None:
    """Every refused field comes back at once, also when a required field is blank."""
    assert refused("birth", with_("birth", **changes)) == expected


def test_refusal_messages_are_chinese() -> None:
    """Every reason code the intake returns has a Chinese message for the form."""
    codes = {
        "id_bad_check_char",
        "id_bad_length",
        "id_bad_characters",
        "id_bad_birth_date",
        "date_impossible",
        "date_unparseable",
        "date_after_report",
        "date_too_early",
        "damaged_text",
        "required_blank",
        "not_in_vocabulary",
        "unknown_field",
        "too_long",
        "not_text",
        "unknown_report_type",
        "region_outside_village",
        "region_unresolved",
        "sex_unknown_code",
        "birth_order_unparseable",
        "id_invalid",
    } | SEEN_CODES
    for code in sorted(codes):
        message = MESSAGES_ZH.get(code)
        assert message and message != code and any("\u4e00" <= ch <= "\u9fff" for ch in message), code
    checked = check("death", with_("death", name=None))
    assert checked.errors[0].message == MESSAGES_ZH["required_blank"]


# --- form_fields and vocabularies ------------------------------------------------------------


def _suite_in_sets() -> dict[str, tuple[str, ...]]:
    suite = json.loads(SUITE.read_text(encoding="utf-8"))
    return {
        e["kwargs"]["column"]: tuple(e["kwargs"]["value_set"])
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set"
        and all(isinstance(v, str) for v in e["kwargs"]["value_set"])
    }


def test_vocabularies_are_the_suite_in_set_lists() -> None:
    """``vocabularies()`` is the suite's text ``in_set`` lists, column by column, in order."""
    assert vocabularies() == _suite_in_sets()
    assert set(vocabularies()) >= {"report_type", "marital", "sex"}


def test_report_type_vocabulary_is_the_report_types() -> None:
    """The suite's report types are exactly the intake's (a file from the form always passes)."""
    assert set(vocabularies()["report_type"]) == {t.value for t in REPORT_TYPES}
    assert len({t.code for t in REPORT_TYPES}) == len(REPORT_TYPES)


def test_form_fields_are_feed_columns_the_clerk_fills() -> None:
    """Every form field is a column of the feed; none is one the app sets."""
    names = {c.name for c in village_feed().columns}
    for kind in REPORT_TYPES:
        fields = form_fields(kind)
        assert [f.name for f in fields] == list(kind.fields)
        assert {f.name for f in fields} <= names
        assert not {f.name for f in fields} & set(SET_BY_APP)


@pytest.mark.parametrize("code", sorted(REQUIRED))
def test_form_required_flags_follow_the_yaml(code: str) -> None:
    """A form field is required exactly when the YAML's ``required_when`` lists the type."""
    feed = village_feed()
    kind = report_type(code)
    for f in form_fields(kind):
        column = feed.column(f.name)
        expected = column.required_when is not None and kind.value in column.required_when["report_type"]
        assert f.required is expected, f.name
    assert {f.name for f in form_fields(kind) if f.required} == REQUIRED[code]


def test_form_labels() -> None:
    """Labels are the type's own where it has one, else the column's first YAML header."""
    feed = village_feed()
    labels = {k.code: {f.name: f.label for f in form_fields(k)} for k in REPORT_TYPES}
    assert labels["birth"]["name"] == "新生儿姓名"
    assert labels["birth"]["sex"] == "新生儿性别"
    assert labels["birth"]["mother_name"] == "母亲姓名"
    assert labels["death"]["name"] == "死者姓名"
    assert labels["death"]["death_date"] == "死亡日期"
    assert labels["move_in"]["move_date"] == "迁入日期" and labels["move_in"]["move_place"] == "迁出地"
    assert labels["move_out"]["move_date"] == "迁出日期" and labels["move_out"]["move_place"] == "迁往地"
    assert labels["marital"]["marital"] == "婚姻状况"
    for kind in REPORT_TYPES:
        for f in form_fields(kind):
            assert f.label == kind.labels.get(f.name, feed.column(f.name).headers[0])


def test_form_kinds_choices_and_lengths() -> None:
    """Sex offers 男/女, marital the suite's statuses; dates, IDs, numbers have their own kinds."""
    suite = _suite_in_sets()
    for kind in REPORT_TYPES:
        for f in form_fields(kind):
            if f.name == "sex":
                assert f.kind == "sex" and f.choices == (("1", "男"), ("2", "女"))
            elif f.name == "marital":
                assert f.kind == "choice"
                assert tuple(v for v, _ in f.choices) == suite["marital"] == ("未婚", "已婚", "离婚", "丧偶")
                assert all(v == label for v, label in f.choices)
            else:
                assert f.choices == ()
            if f.name.endswith("_date"):
                assert f.kind == "date"
            if f.name in ("id_no", "mother_id", "father_id"):
                assert f.kind == "id_number"
            if f.name == "birth_order":
                assert f.kind == "number"
            if f.name in ("name", "mother_name", "father_name", "move_place"):
                assert f.kind == "text"
            assert f.max_chars == (100 if f.name == "move_place" else 64)


# --- store: reference numbers, Beijing dates, masking ----------------------------------------


def test_reference_number() -> None:
    """``VR`` + the date + the report id in 7 digits."""
    assert store.reference_number(12, date(2014, 4, 15)) == "VR201404150000012"
    assert store.reference_number(9_999_999, date(2000, 1, 1)) == "VR200001019999999"


def test_reference_number_matches_the_suite() -> None:
    """Reference numbers match the suite's ``report_no`` regex (and the placeholder's shape)."""
    import re

    suite = json.loads(SUITE.read_text(encoding="utf-8"))
    (regex,) = [
        e["kwargs"]["regex"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_match_regex" and e["kwargs"]["column"] == "report_no"
    ]
    assert re.match(regex, store.reference_number(1, date(2014, 4, 15)))
    assert re.match(regex, reports.PLACEHOLDER_REPORT_NO)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2014, 4, 14, 15, 59, 59, tzinfo=UTC), date(2014, 4, 14)),
        (datetime(2014, 4, 14, 16, 0, 0, tzinfo=UTC), date(2014, 4, 15)),
        (datetime(2014, 4, 14, 23, 30, tzinfo=UTC), date(2014, 4, 15)),
        (datetime(2014, 12, 31, 16, 0, tzinfo=UTC), date(2015, 1, 1)),
        (datetime(2014, 4, 15, 0, 30, tzinfo=timezone(timedelta(hours=8))), date(2014, 4, 15)),
        (datetime(2014, 4, 14, 9, 0, tzinfo=timezone(timedelta(hours=-5))), date(2014, 4, 14)),
    ],
)
def test_beijing_date_across_utc_midnight(moment: datetime, expected: date) -> None:
    """The Beijing date turns at 16:00 UTC, whatever zone the instant is given in."""
    assert store.beijing_date(moment) == expected


def test_masked_ids_names_and_dates() -> None:
    """IDs keep the address code and last two, names and text their first character; dates and codes stay."""
    out = store.masked(
        {
            "id_no": PERSON_ID,
            "mother_id": MOTHER_ID,
            "name": "张三丰",
            "mother_name": "李丽",
            "move_place": "北京市朝阳区",
            "birth_date": "1950-02-02",
            "death_date": "2014-04-01",
            "marital": "已婚",
            "sex": "1",
            "region_code": VILLAGE,
        }
    )
    assert out["id_no"] == PERSON_ID[:6] + "*" * 10 + PERSON_ID[-2:]
    assert out["mother_id"] == MOTHER_ID[:6] + "*" * 10 + MOTHER_ID[-2:]
    assert out["name"] == "张**" and out["mother_name"] == "李*"
    assert out["move_place"] == "北*****"
    assert out["birth_date"] == "1950-02-02" and out["death_date"] == "2014-04-01"
    assert out["marital"] == "已婚" and out["sex"] == "1" and out["region_code"] == VILLAGE
    for value in out.values():
        assert PERSON_ID not in str(value) and "张三丰" not in str(value)


def test_masked_short_ids_unknown_fields_and_non_text() -> None:
    """A short ID is all stars; a field outside the feed keeps no value; a number sent as an ID is masked."""
    out = store.masked({"id_no": "12345", "nickname": "小张", "father_id": int(FATHER_ID)})
    assert out["id_no"] == "*****"
    assert out["nickname"] == "*"
    assert out["father_id"] == FATHER_ID[:6] + "*" * 10 + FATHER_ID[-2:]


def test_masked_keeps_none_as_none() -> None:
    """A field sent as null is audited as null (mask_value keeps None), not as a masked 'null'."""
    assert store.masked({"name": None, "id_no": None}) == {"name": None, "id_no": None}


# --- batch.render: the file of the feed ------------------------------------------------------


def _accepted(n: int, code: str, submitted: dict[str, str]) -> tuple[str, str, date, dict[str, str]]:
    """Report number ``n`` as the store keeps it: its checked values plus the clerk."""
    checked = check(code, submitted)
    assert checked.ok, checked.errors
    assert checked.report_type is not None
    fields = {**checked.values, "clerk": CLERK}
    return store.reference_number(n, REPORT_DATE), checked.report_type.value, REPORT_DATE, fields


def _reports() -> list[tuple[str, str, date, dict[str, str]]]:
    """One report of each type, and a move-in with awkward text (a comma and a quote in a place,
    Traditional script, a 15-digit ID), last."""
    rows = [_accepted(n, code, VALID[code]) for n, code in enumerate(sorted(VALID), start=1)]
    awkward = with_("move_in", name="劉麗華", id_no=ID_15, move_place='天津市,"河西区"')
    rows.append(_accepted(len(rows) + 1, "move_in", awkward))
    return rows


def test_render_is_utf8_with_bom_and_the_first_headers() -> None:
    """The file is UTF-8 with a BOM, CRLF lines, the YAML's first header of each column in order."""
    data = batch.render(_reports())
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8")
    assert text[0] == "\ufeff" and "\r\n" in text
    lines = list(csv.reader(io.StringIO(text[1:], newline="")))
    assert lines[0] == [c.headers[0] for c in village_feed().columns]


def test_render_writes_one_row_per_report() -> None:
    """One CSV record per report, in order, each as wide as the header."""
    rows = _reports()
    lines = list(csv.reader(io.StringIO(batch.render(rows).decode("utf-8-sig"), newline="")))
    assert len(lines) == 1 + len(rows)
    header = lines[0]
    for (report_no, value, day, fields), line in zip(rows, lines[1:], strict=True):
        assert len(line) == len(header)
        record = dict(zip([c.name for c in village_feed().columns], line, strict=True))
        assert record["report_no"] == report_no
        assert record["report_type"] == value
        assert record["report_date"] == day.isoformat()
        for name, sent in fields.items():
            assert record[name] == sent


def test_render_of_no_reports_is_the_header_only() -> None:
    """No reports: a BOM and the header line."""
    lines = batch.render([]).decode("utf-8-sig").splitlines()
    assert len(lines) == 1


def test_render_round_trips_through_the_file_path(tmp_path: Path) -> None:
    """The rendered bytes, read and normalised as any drop is, load every report with its values."""
    rows = _reports()
    path = tmp_path / "village_reports_20140415_1.csv"
    path.write_bytes(batch.render(rows))
    feed = village_feed()
    table = read_file(path, feed, max_bytes=1_000_000)
    assert table.encoding in ("utf-8-sig", "utf-8")
    assert table.irregularities == set()
    staged = normalise_table(table, feed, extract_date=REPORT_DATE, resolver=RESOLVER)
    assert staged.rejected == [] and staged.warnings == []
    assert staged.extra_headers == []
    assert staged.rows_loaded == len(rows)
    assert staged.columns["report_no"] == [r[0] for r in rows]
    assert staged.columns["report_type"] == [r[1] for r in rows]
    assert staged.columns["report_date"] == [REPORT_DATE] * len(rows)
    assert staged.columns["region_code"] == [VILLAGE] * len(rows)
    assert staged.columns["clerk"] == [CLERK] * len(rows)
    by_type = {value: i for i, (_no, value, _d, _f) in enumerate(rows[:-1])}
    birth, marital, last = by_type["出生"], by_type["婚姻变动"], len(rows) - 1
    assert staged.columns["birth_date"][birth] == date(2014, 4, 10)
    assert staged.columns["birth_order"][birth] == 2
    assert staged.columns["mother_id"][birth] == MOTHER_ID and staged.columns["mother_id_valid"][birth]
    assert staged.columns["sex"][birth] == "1"
    assert staged.columns["marital"][marital] == "已婚"
    assert staged.columns["marital_date"][marital] == date(2014, 3, 8)
    assert staged.columns["name"][last] == "刘丽华" and staged.columns["name_sent"][last] == "劉麗華"
    assert staged.columns["id_no"][last] == PERSON_ID and staged.columns["id_no_sent"][last] == ID_15
    assert staged.columns["move_place"][last] == '天津市,"河西区"'
    # every value a report carries comes back (dates as dates, the rest as sent)
    for i, (_no, _value, _day, fields) in enumerate(rows[:-1]):
        for name, sent in fields.items():
            got = staged.columns[name][i]
            assert (got.isoformat() if isinstance(got, date) else str(got)) == sent, (name, sent, got)
