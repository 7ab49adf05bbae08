"""Unit tests for popdata.quality.expectations: the custom GX expectations on the pandas engine.

Tiny DataFrames through GX's own pandas data source (ephemeral context), the platform's
SUMMARY result format (counts only). The resident-id rule is also checked against
``popdata.normalize.ids`` on thousands of random and edge values.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from stdnum.cn import ric

from popdata.normalize.ids import parse_id
from popdata.normalize.text import is_damaged
from popdata.quality import expectations as ex
from popdata.quality.gx import RESULT_FORMAT, load_suite

GOOD_X = "11010519491231002X"  # the published GB 11643 example (check character X)


def make_id(body17: str) -> str:
    """An 18-character id with the check character computed by python-stdnum."""
    return body17 + ric.calc_check_digit(body17 + "0")


def make_person_id(birth: dt.date, male: bool, seq: int = 1) -> str:
    """A valid id for a birth date and sex (odd 17th digit = male)."""
    order = (seq * 2 + (1 if male else 0)) % 1000
    return make_id(f"320102{birth:%Y%m%d}{order:03d}")


def normaliser_says_valid(value: str) -> bool:
    """The reference rule: parse_id accepts it AND it is already the normalised form."""
    parsed = parse_id(value)
    return parsed.valid and parsed.value == value


@pytest.fixture(scope="module")
def gx_batch_factory() -> Iterator[Any]:
    """Build a GX batch for a DataFrame (one ephemeral context for the module)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    definition = (
        context.data_sources.add_pandas("frames")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )

    def make(frame: pd.DataFrame) -> Any:
        return definition.get_batch(batch_parameters={"dataframe": frame})

    yield make


def run(factory: Any, frame: pd.DataFrame, expectation: Any) -> Any:
    """Validate ``expectation`` on ``frame`` with the platform's counts-only result format."""
    return factory(frame).validate(expectation, result_format=dict(RESULT_FORMAT))


def counts(result: Any) -> tuple[bool, int, int]:
    """(success, unexpected_count, element_count), failing the test if GX raised."""
    assert not result.exception_info.get("raised_exception"), result.exception_info
    return bool(result.success), result.result["unexpected_count"], result.result["element_count"]


# ------------------------------------------------------------------------------- resident id


def test_registered_types() -> None:
    assert set(ex.EXPECTATION_TYPES) == {
        "expect_column_values_to_be_valid_resident_id",
        "expect_resident_id_to_match_birth_date_and_sex",
        "expect_column_values_to_be_known_region_code",
        "expect_column_values_to_be_plausible_chinese_name",
        "expect_column_values_to_be_plausible_date",
    }
    from great_expectations.expectations.registry import get_expectation_impl

    for name, cls in ex.EXPECTATION_TYPES.items():
        assert get_expectation_impl(name) is cls


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (GOOD_X, True),
        (make_id("32010219800101001"), True),
        ("11010519491231002" + "1", False),  # wrong check character
        (GOOD_X.lower(), False),  # lower-case x: not the stored form
        ("110105491231002", False),  # 15 digits: the normaliser upgrades them
        ("11010519491231002Y", False),
        ("1101051949123100AX", False),  # letters
        ("", False),
        (" " + GOOD_X, False),
        (GOOD_X + " ", False),
        ("１１０１０５１９４９１２３１００２Ｘ", False),  # full-width digits
        (make_id("11010518790101001"), False),  # birth before 1880
        (make_id("11010520310101001"), False),  # birth after 2030
        (make_id("11010519490230001"), False),  # 30 February
        (make_id("11010519000229001"), False),  # 1900 is not a leap year
        (make_id("11010520000229001"), True),  # 2000 is
        (make_id("11010519491301001"), False),  # month 13
        (make_id("11010519491200001"), False),  # day 0
        ("1101051949123100２X", False),  # one full-width digit
    ],
)
def test_resident_id_rule_edges(value: str, valid: bool) -> None:
    assert ex.is_valid_resident_id(value) is valid
    assert normaliser_says_valid(value) is valid


def random_ids(count: int, seed: int = 11643) -> list[str]:
    """Valid ids, one-digit changes, X and x endings, wrong lengths, letters, blanks."""
    rng = random.Random(seed)
    values: list[str] = []
    for _ in range(count):
        body = f"{rng.randint(110000, 659999)}{rng.randint(1870, 2035)}{rng.randint(1, 13):02d}"
        body += f"{rng.randint(0, 31):02d}{rng.randint(0, 999):03d}"
        good = make_id(body)
        kind = rng.randrange(8)
        if kind == 0:
            values.append(good)
        elif kind == 1:
            pos = rng.randrange(18)
            digit = str((int(good[pos]) + rng.randint(1, 9)) % 10) if good[pos] != "X" else "0"
            values.append(good[:pos] + digit + good[pos + 1 :])
        elif kind == 2:
            values.append(body + "X")
        elif kind == 3:
            values.append(good[:-1] + good[-1].lower())
        elif kind == 4:
            values.append(good[: rng.choice([15, 16, 17, 19])] if rng.random() < 0.8 else good + "1")
        elif kind == 5:
            pos = rng.randrange(18)
            values.append(good[:pos] + rng.choice("AaXx- ") + good[pos + 1 :])
        elif kind == 6:
            values.append(rng.choice(["", " ", "X" * 18, "0" * 18, "123", good[6:] + good[:6]]))
        else:  # a valid body with every possible last character
            values.append(body + rng.choice("0123456789X"))
    return values


def test_resident_id_rule_agrees_with_the_normaliser_on_random_values() -> None:
    values = random_ids(6000)
    disagreements = [v for v in values if ex.is_valid_resident_id(v) != normaliser_says_valid(v)]
    assert disagreements == []
    assert 500 < sum(map(ex.is_valid_resident_id, values)) < 5500  # both outcomes well covered


def test_valid_resident_id_counts_on_pandas(gx_batch_factory: Any) -> None:
    values = random_ids(800, seed=7)
    frame = pd.DataFrame({"id_no": [*values, None, None]})
    result = run(gx_batch_factory, frame, ex.ExpectColumnValuesToBeValidResidentId(column="id_no"))
    expected_bad = sum(not normaliser_says_valid(v) for v in values)
    assert counts(result) == (expected_bad == 0, expected_bad, 802)
    assert result.result["missing_count"] == 2  # nulls are ignored, not failures
    assert "partial_unexpected_list" not in result.result  # no values in the result


def test_valid_resident_id_each_kind_of_bad_value(gx_batch_factory: Any) -> None:
    good = make_id("32010219800101001")
    bad = [good[:-1] + ("0" if good[-1] != "0" else "1"), GOOD_X.lower(), good[:15], "ABC", ""]
    expectation = ex.ExpectColumnValuesToBeValidResidentId(column="id_no")
    assert counts(run(gx_batch_factory, pd.DataFrame({"id_no": [good, GOOD_X]}), expectation)) == (True, 0, 2)
    for value in bad:
        frame = pd.DataFrame({"id_no": [good, value, GOOD_X]})
        assert counts(run(gx_batch_factory, frame, expectation)) == (False, 1, 3), value


def test_mostly_is_honoured(gx_batch_factory: Any) -> None:
    good = make_id("32010219800101001")
    frame = pd.DataFrame({"id_no": [good] * 9 + ["bad"]})
    loose = ex.ExpectColumnValuesToBeValidResidentId(column="id_no", mostly=0.9)
    strict = ex.ExpectColumnValuesToBeValidResidentId(column="id_no", mostly=0.95)
    assert counts(run(gx_batch_factory, frame, loose)) == (True, 1, 10)
    assert counts(run(gx_batch_factory, frame, strict)) == (False, 1, 10)


# -------------------------------------------------------------------- id vs birth date and sex


def test_id_matches_birth_date_and_sex(gx_batch_factory: Any) -> None:
    birth = dt.date(1985, 6, 15)
    male = make_person_id(birth, male=True)
    female = make_person_id(birth, male=False)
    rows = [
        (male, birth, "1"),  # ok
        (female, birth, "2"),  # ok
        (male, birth, "男"),  # ok: Chinese spelling
        (female, pd.Timestamp(birth), "女"),  # ok: timestamp
        (male, birth, "0"),  # ok: unknown sex is not a contradiction
        (male, birth, "9"),  # ok: not stated
        (male, None, None),  # ok: nulls pass
        ("bogus", dt.date(2000, 1, 1), "2"),  # ok: invalid id is another expectation's job
        (male, dt.date(1985, 6, 16), "1"),  # BAD birth date
        (male, birth, "2"),  # BAD sex
        (female, birth, "男"),  # BAD sex
        (female, dt.date(1990, 1, 1), "1"),  # BAD both (one row)
    ]
    frame = pd.DataFrame(rows, columns=["id_no", "birth_date", "sex"])
    expectation = ex.ExpectResidentIdToMatchBirthDateAndSex(
        id_column="id_no", birth_date_column="birth_date", sex_column="sex"
    )
    assert counts(run(gx_batch_factory, frame, expectation)) == (False, 4, 12)
    loose = ex.ExpectResidentIdToMatchBirthDateAndSex(
        id_column="id_no", birth_date_column="birth_date", sex_column="sex", mostly=0.6
    )
    assert counts(run(gx_batch_factory, frame, loose))[0] is True


def test_id_match_custom_sex_vocabulary(gx_batch_factory: Any) -> None:
    birth = dt.date(1985, 6, 15)
    frame = pd.DataFrame(
        {"id": [make_person_id(birth, True), make_person_id(birth, False)], "b": [birth] * 2, "s": ["M", "M"]}
    )
    expectation = ex.ExpectResidentIdToMatchBirthDateAndSex(
        id_column="id", birth_date_column="b", sex_column="s", male_values=["M"], female_values=["F"]
    )
    assert counts(run(gx_batch_factory, frame, expectation)) == (False, 1, 2)


def test_id_match_configuration() -> None:
    expectation = ex.ExpectResidentIdToMatchBirthDateAndSex(
        id_column="id_no", birth_date_column="birth_date", sex_column="sex"
    )
    assert expectation.column_list == ["id_no", "birth_date", "sex"]
    config = expectation.configuration.to_json_dict()
    assert config["type"] == "expect_resident_id_to_match_birth_date_and_sex"
    again = ex.ExpectResidentIdToMatchBirthDateAndSex(**config["kwargs"])  # round trip
    assert again.column_list == expectation.column_list
    with pytest.raises(ValueError):
        ex.ExpectResidentIdToMatchBirthDateAndSex(
            id_column="id_no", birth_date_column="birth_date", sex_column="sex", column_list=["a", "b", "c"]
        )
    with pytest.raises(ValueError):
        ex.ExpectResidentIdToMatchBirthDateAndSex(
            id_column="id_no", birth_date_column="b", sex_column="s", male_values=["1"], female_values=["1"]
        )


# ----------------------------------------------------------------------------- region codes


def test_known_region_code_with_value_set(gx_batch_factory: Any) -> None:
    frame = pd.DataFrame({"region_code": ["320102001001", "320102001002", "999999999999", None, "32"]})
    expectation = ex.ExpectColumnValuesToBeKnownRegionCode(
        column="region_code", value_set=["320102001001", "320102001002"]
    )
    assert counts(run(gx_batch_factory, frame, expectation)) == (False, 2, 5)
    loose = ex.ExpectColumnValuesToBeKnownRegionCode(
        column="region_code", value_set=["320102001001", "320102001002"], mostly=0.5
    )
    assert counts(run(gx_batch_factory, frame, loose)) == (True, 2, 5)


def test_known_region_code_reference_table_needs_sql(gx_batch_factory: Any) -> None:
    frame = pd.DataFrame({"region_code": ["320102001001"]})
    expectation = ex.ExpectColumnValuesToBeKnownRegionCode(
        column="region_code", reference_table="core.regions"
    )
    result = run(gx_batch_factory, frame, expectation)
    assert result.success is False
    assert result.exception_info  # GX caught the ValueError: "needs value_set on a DataFrame"


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # neither source
        {"reference_table": "core.regions", "value_set": ["1"]},  # both
        {"reference_table": "regions"},  # no schema
        {"reference_table": "core.regions; drop table x"},
        {"reference_table": 'core."Regions"'},
        {"reference_table": "Core.regions"},
        {"reference_table": "core.regions", "reference_column": "code) or (1=1"},
        {"reference_table": "a.b.c"},
    ],
)
def test_known_region_code_rejects_bad_configuration(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ex.ExpectColumnValuesToBeKnownRegionCode(column="region_code", **kwargs)


def test_known_region_code_sql_builder_checks_identifiers_too() -> None:
    import sqlalchemy as sa

    with pytest.raises(ValueError):
        ex.known_region_code_sql(sa.column("c"), reference_table="core.x y")


# ------------------------------------------------------------------------------------ names

GOOD_NAMES = ["张三", "王", "欧阳娜娜", "阿依古丽", "李 四", "买买提·依明", "沈𣵦"]
BAD_NAMES = {
    "empty": "",
    "spaces": "   ",
    "ideographic space": "\u3000\u3000",
    "digit": "张三1",
    "only digits": "123",
    "question mark in Chinese": "张?",
    "full-width question mark": "？？",
    "mojibake": "锟斤拷",
    "replacement char": "张\ufffd",
    "hot hot": "烫烫烫",
    "too long": "阿沛阿旺晋美多",
}


def test_plausible_name_python_rule() -> None:
    for name in GOOD_NAMES:
        assert ex.is_plausible_chinese_name(name), name
    for label, name in BAD_NAMES.items():
        assert not ex.is_plausible_chinese_name(name), label


def test_plausible_name_damage_mirrors_normaliser() -> None:
    samples = [
        "確?;顒有Ч?",
        "张?",
        "?张",
        "a?b",
        "Ж?",
        "？",
        "张？",
        "锟斤拷",
        "\ufffd",
        "屯屯",
        "张三",
        "??",
    ]
    for sample in samples:
        damaged = is_damaged(sample)
        if damaged:
            assert not ex.is_plausible_chinese_name(sample), sample


def test_plausible_name_counts(gx_batch_factory: Any) -> None:
    expectation = ex.ExpectColumnValuesToBePlausibleChineseName(column="name")
    assert counts(run(gx_batch_factory, pd.DataFrame({"name": GOOD_NAMES}), expectation)) == (True, 0, 7)
    for label, bad in BAD_NAMES.items():
        frame = pd.DataFrame({"name": ["张三", bad, None]})
        assert counts(run(gx_batch_factory, frame, expectation)) == (False, 1, 3), label


def test_plausible_name_lengths_and_mostly(gx_batch_factory: Any) -> None:
    frame = pd.DataFrame({"name": ["张三"] * 9 + ["阿沛阿旺晋美多"]})
    longer = ex.ExpectColumnValuesToBePlausibleChineseName(column="name", max_length=8)
    mostly = ex.ExpectColumnValuesToBePlausibleChineseName(column="name", mostly=0.9)
    assert counts(run(gx_batch_factory, frame, longer)) == (True, 0, 10)
    assert counts(run(gx_batch_factory, frame, mostly)) == (True, 1, 10)
    with pytest.raises(ValueError):
        ex.ExpectColumnValuesToBePlausibleChineseName(column="name", min_length=3, max_length=2)


# ------------------------------------------------------------------------------------ dates


def test_plausible_date_fixed_bounds(gx_batch_factory: Any) -> None:
    frame = pd.DataFrame(
        {
            "birth_date": [
                dt.date(1880, 1, 1),  # ok: inclusive
                dt.date(1879, 12, 31),  # BAD: too early
                dt.date(2020, 5, 1),  # ok
                dt.date(2024, 1, 2),  # BAD: after max_date
                "1990-01-01",  # ok: ISO text on pandas
                "not a date",  # BAD: unreadable
                None,
            ]
        }
    )
    expectation = ex.ExpectColumnValuesToBePlausibleDate(column="birth_date", max_date="2024-01-01")
    assert counts(run(gx_batch_factory, frame, expectation)) == (False, 3, 7)
    defaults = ex.ExpectColumnValuesToBePlausibleDate(column="birth_date")
    assert counts(run(gx_batch_factory, frame, defaults)) == (False, 2, 7)


def test_plausible_date_relative_to_extract_date(gx_batch_factory: Any) -> None:
    extract = dt.date(2014, 6, 30)
    frame = pd.DataFrame(
        {
            "birth_date": [
                dt.date(2014, 6, 30),
                dt.date(2014, 7, 1),
                dt.date(1950, 1, 1),
                dt.date(2020, 1, 1),
            ],
            "extract_date": [extract, extract, extract, None],  # null extract: that bound is skipped
        }
    )
    expectation = ex.ExpectColumnValuesToBePlausibleDate(column="birth_date", max_date_column="extract_date")
    assert counts(run(gx_batch_factory, frame, expectation)) == (False, 1, 4)
    both = ex.ExpectColumnValuesToBePlausibleDate(
        column="birth_date", max_date_column="extract_date", max_date="2019-12-31", mostly=0.5
    )
    assert counts(run(gx_batch_factory, frame, both)) == (True, 2, 4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_date": "1880-13-01"},
        {"max_date": "yesterday"},
        {"min_date": "2000-01-01", "max_date": "1999-12-31"},
        {"max_date_column": "Extract Date"},
    ],
)
def test_plausible_date_rejects_bad_configuration(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ex.ExpectColumnValuesToBePlausibleDate(column="birth_date", **kwargs)


def test_plausible_date_keeps_iso_text() -> None:
    expectation = ex.ExpectColumnValuesToBePlausibleDate(column="d", max_date=dt.date(2030, 12, 31))
    assert expectation.max_date == "2030-12-31"
    assert json.dumps(expectation.configuration.to_json_dict())  # JSON-ready


# ------------------------------------------------------------------------------ suite JSON


def test_suite_json_naming_the_custom_types_loads(tmp_path: Path) -> None:
    entries = [
        {
            "type": "expect_column_values_to_be_valid_resident_id",
            "kwargs": {"column": "id_no", "mostly": 0.95},
        },
        {
            "type": "expect_resident_id_to_match_birth_date_and_sex",
            "kwargs": {"id_column": "id_no", "birth_date_column": "birth_date", "sex_column": "sex"},
        },
        {
            "type": "expect_column_values_to_be_known_region_code",
            "kwargs": {
                "column": "region_code",
                "reference_table": "core.regions",
                "reference_column": "code",
            },
        },
        {"type": "expect_column_values_to_be_plausible_chinese_name", "kwargs": {"column": "name"}},
        {
            "type": "expect_column_values_to_be_plausible_date",
            "kwargs": {"column": "birth_date", "max_date_column": "extract_date"},
        },
    ]
    for entry in entries:
        entry["meta"] = {"severity": "warn"}  # GX's own top-level severity is derived from it
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"name": "custom", "expectations": entries}), encoding="utf-8")
    suite = load_suite(path)
    assert [e.expectation_type for e in suite.expectations] == [e["type"] for e in entries]


def test_suite_json_with_bad_custom_kwargs_is_rejected(tmp_path: Path) -> None:
    entry = {
        "type": "expect_column_values_to_be_known_region_code",
        "kwargs": {"column": "region_code", "reference_table": "core.regions where 1=1"},
        "meta": {"severity": "quarantine_file"},
    }
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"name": "custom", "expectations": [entry]}), encoding="utf-8")
    with pytest.raises(ValueError, match="invalid kwargs"):
        load_suite(path)
