"""Unit tests for popdata.normalize.ids: resident identity numbers (公民身份号码, GB 11643-1999)."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum.cn import ric

from popdata.normalize.ids import (
    ID_BAD_BIRTH_DATE,
    ID_BAD_CHARACTERS,
    ID_BAD_CHECK_CHAR,
    ID_BAD_LENGTH,
    ID_BLANK,
    ID_SCIENTIFIC_NOTATION,
    ID_UNKNOWN_ADDRESS_CODE,
    parse_id,
    parse_ids,
)

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def check_char(body17: str) -> str:
    """ISO 7064 MOD 11-2 check character, written out independently of the code under test."""
    total = sum(int(d) * w for d, w in zip(body17, _WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def test_reference_check_char_helper() -> None:
    assert check_char("11010519491231002") == "X"  # the published GB 11643 example


def test_valid_18() -> None:
    parsed = parse_id("11010519491231002X")
    assert parsed.valid
    assert parsed.reason is None
    assert parsed.value == "11010519491231002X"
    assert parsed.sent == "11010519491231002X"
    assert not parsed.upgraded_from_15
    assert parsed.warnings == ()
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "2"  # sequence 002 is even


def test_lower_case_x_is_upper_cased() -> None:
    parsed = parse_id("11010519491231002x")
    assert parsed.valid
    assert parsed.value == "11010519491231002X"
    assert parsed.sent == "11010519491231002x"


def test_male_sex_from_odd_sequence() -> None:
    body = "12011519800101001"
    parsed = parse_id(body + check_char(body))
    assert parsed.valid
    assert parsed.sex == "1"


def test_full_width_and_apostrophe_and_spaces() -> None:
    body = "12011519800101001"
    expected = body + check_char(body)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in expected)
    for raw in (full_width, "'" + expected, f"  {expected}\u3000", expected[:6] + " " + expected[6:]):
        parsed = parse_id(raw)
        assert parsed.valid, raw
        assert parsed.value == expected


def test_upgrade_15_to_18() -> None:
    parsed = parse_id("120221440904792")
    expected = "12022119440904792" + check_char("12022119440904792")
    assert parsed.valid
    assert parsed.upgraded_from_15
    assert parsed.value == expected
    assert parsed.sent == "120221440904792"
    assert parsed.birth_date == date(1944, 9, 4)
    assert parsed.sex == "2"


def test_upgrade_15_sequence_996_to_999_is_1800s() -> None:
    for seq in ("996", "997", "998", "999"):
        parsed = parse_id("120221850101" + seq)
        body = "12022118850101" + seq
        assert parsed.valid, seq
        assert parsed.value == body + check_char(body)
        assert parsed.birth_date == date(1885, 1, 1)


def test_upgrade_15_sequence_995_is_1900s() -> None:
    parsed = parse_id("120221850101995")
    assert parsed.value == "12022119850101995" + check_char("12022119850101995")


def test_upgrade_15_bad_date() -> None:
    parsed = parse_id("120221440231792")  # 1944-02-31
    assert not parsed.valid
    assert parsed.reason == ID_BAD_BIRTH_DATE
    assert not parsed.upgraded_from_15
    assert parsed.value == "120221440231792"


def test_wrong_check_char_is_invalid_and_not_corrected() -> None:
    parsed = parse_id("110105194912310021")
    assert not parsed.valid
    assert parsed.reason == ID_BAD_CHECK_CHAR
    assert parsed.value == "110105194912310021"  # kept as sent
    assert parsed.birth_date is None
    assert parsed.sex is None


@pytest.mark.parametrize("raw", ["1.20115E+17", "1.20115e+17", "1.20115198001E17"])
def test_scientific_notation(raw: str) -> None:
    parsed = parse_id(raw)
    assert not parsed.valid
    assert parsed.reason == ID_SCIENTIFIC_NOTATION
    assert parsed.value == raw


def test_float_cell_lost_digits() -> None:
    parsed = parse_id(1.20115198001e17)  # type: ignore[arg-type]
    assert parsed.reason == ID_SCIENTIFIC_NOTATION


def test_float_cell_with_15_digits_survives() -> None:
    parsed = parse_id(120221440904792.0)  # type: ignore[arg-type]
    assert parsed.valid
    assert parsed.upgraded_from_15


def test_bad_birth_date_18() -> None:
    body = "11010519490230002"  # 1949-02-30
    parsed = parse_id(body + check_char(body))
    assert not parsed.valid
    assert parsed.reason == ID_BAD_BIRTH_DATE


@pytest.mark.parametrize("body", ["11010518790101002", "11010520310101002"])
def test_birth_date_out_of_range(body: str) -> None:
    parsed = parse_id(body + check_char(body))
    assert parsed.reason == ID_BAD_BIRTH_DATE


def test_birth_date_range_edges_are_valid() -> None:
    for body in ("11010518800101002", "11010520301231002"):
        assert parse_id(body + check_char(body)).valid, body


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("12345", ID_BAD_LENGTH),
        ("11010519491231002", ID_BAD_LENGTH),
        ("11010519491231002X1", ID_BAD_CHARACTERS),
        ("1101051949123100X2", ID_BAD_CHARACTERS),
        ("张三", ID_BAD_CHARACTERS),
        ("12022144090479X", ID_BAD_LENGTH),  # 15 characters, but only 18 may end in X
        ("", ID_BLANK),
        ("  ", ID_BLANK),
        ("不详", ID_BLANK),
        ("无", ID_BLANK),
        ("-", ID_BLANK),
        (None, ID_BLANK),
    ],
)
def test_invalid_reasons(raw: str | None, reason: str) -> None:
    parsed = parse_id(raw)
    assert not parsed.valid
    assert parsed.reason == reason


def test_blank_has_no_value() -> None:
    assert parse_id(None).value is None
    assert parse_id("不详").value is None
    assert parse_id("不详").sent == "不详"


def test_unknown_address_code_is_a_warning_only() -> None:
    body = "99999919800101001"
    parsed = parse_id(body + check_char(body))
    assert parsed.valid
    assert parsed.warnings == (ID_UNKNOWN_ADDRESS_CODE,)


def test_retired_county_code_is_valid_without_warning() -> None:
    # 120221 (宁河县) is in stdnum's table for 1982-2015 only; a 1944 birth is a real number
    # that stdnum's is_valid rejects. It must be valid here, and the code is known.
    body = "12022119440904792"
    number = body + check_char(body)
    assert not ric.is_valid(number)
    parsed = parse_id(number)
    assert parsed.valid
    assert parsed.warnings == ()


def test_parse_ids_batch_and_memo() -> None:
    body = "12011519800101001"
    good = body + check_char(body)
    results = parse_ids([good, "1.20115E+17", good, None, "120221440904792"])
    assert [r.valid for r in results] == [True, False, True, False, True]
    assert results[0] is results[2]  # memoised
    assert results[1].reason == ID_SCIENTIFIC_NOTATION
    assert results[3].reason == ID_BLANK
    assert results[4].upgraded_from_15


def test_id_number_is_frozen() -> None:
    parsed = parse_id("11010519491231002X")
    with pytest.raises(AttributeError):
        parsed.valid = False  # type: ignore[misc]
    assert parsed == parse_id("11010519491231002X")
