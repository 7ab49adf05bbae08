"""Unit tests for popdata.normalize.codes: sex, money, integers, birth order, region codes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from popdata.normalize.codes import (
    BIRTH_ORDER_UNPARSEABLE,
    INT_UNPARSEABLE,
    MONEY_UNPARSEABLE,
    REGION_AMBIGUOUS,
    REGION_UNPARSEABLE,
    REGION_UNRESOLVED,
    SEX_UNKNOWN_CODE,
    RegionCode,
    RegionResolver,
    parse_birth_order,
    parse_int,
    parse_money,
    parse_region,
    parse_regions,
    parse_sex,
    sex_to_mart,
)

# ------------------------------------------------------------------------------------ sex


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("男", "1"),
        ("1", "1"),
        ("M", "1"),
        ("m", "1"),
        ("男性", "1"),
        ("Ｍ", "1"),
        (1, "1"),
        (1.0, "1"),
        ("女", "2"),
        ("2", "2"),
        ("F", "2"),
        ("f", "2"),
        ("女性", "2"),
        ("0", "0"),
        ("未知", "0"),
        ("9", "9"),
        ("未说明", "9"),
        (" 女 ", "2"),
    ],
)
def test_sex(raw: object, code: str) -> None:
    assert parse_sex(raw) == (code, None)


@pytest.mark.parametrize("raw", [None, "", "  ", "不详", "-"])
def test_sex_blank(raw: object) -> None:
    assert parse_sex(raw) == (None, None)


@pytest.mark.parametrize("raw", ["X", "3", "男女", "boy"])
def test_sex_unknown_code(raw: object) -> None:
    assert parse_sex(raw) == (None, SEX_UNKNOWN_CODE)


def test_sex_to_mart() -> None:
    assert sex_to_mart("1") == "M"
    assert sex_to_mart("2") == "F"
    assert sex_to_mart("0") is None
    assert sex_to_mart("9") is None
    assert sex_to_mart(None) is None


# ---------------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        ("1,200.00", Decimal("1200.00")),
        ("1200元", Decimal("1200")),
        ("１２００", Decimal("1200")),
        ("￥1200", Decimal("1200")),
        ("¥1,200.50元", Decimal("1200.50")),
        ("1.2万元", Decimal("12000")),
        ("0", Decimal("0")),
        (1200, Decimal("1200")),
        (1200.5, Decimal("1200.5")),
    ],
)
def test_money(raw: object, amount: Decimal) -> None:
    assert parse_money(raw) == (amount, None)


@pytest.mark.parametrize("raw", ["-100", "abc", "1,20,0", "12.3.4", -5, "元"])
def test_money_unparseable(raw: object) -> None:
    assert parse_money(raw) == (None, MONEY_UNPARSEABLE)


@pytest.mark.parametrize("raw", [None, "", "无", float("nan")])
def test_money_blank(raw: object) -> None:
    assert parse_money(raw) == (None, None)


# ---------------------------------------------------------------------------- integers


@pytest.mark.parametrize(
    ("raw", "value"), [("3", 3), ("3.0", 3), (3.0, 3), (3, 3), ("１,２００", 1200), ("-2", -2)]
)
def test_int(raw: object, value: int) -> None:
    assert parse_int(raw) == (value, None)


@pytest.mark.parametrize("raw", ["3.5", 3.5, "three", "3a", True])
def test_int_unparseable(raw: object) -> None:
    assert parse_int(raw) == (None, INT_UNPARSEABLE)


def test_int_blank() -> None:
    assert parse_int(None) == (None, None)
    assert parse_int("不详") == (None, None)


@pytest.mark.parametrize(
    ("raw", "order"),
    [
        ("1", 1),
        ("2", 2),
        (2, 2),
        (2.0, 2),
        ("2.0", 2),
        ("第二胎", 2),
        ("二孩", 2),
        ("第3胎", 3),
        ("一孩", 1),
        ("两孩", 2),
        ("第十胎", 10),
        ("第十一胎", 11),
        ("三", 3),
    ],
)
def test_birth_order(raw: object, order: int) -> None:
    assert parse_birth_order(raw) == (order, None)


@pytest.mark.parametrize("raw", ["0", 0, "第零胎", "abc", "二三孩", "第胎", "1.5", 1.5])
def test_birth_order_unparseable(raw: object) -> None:
    assert parse_birth_order(raw) == (None, BIRTH_ORDER_UNPARSEABLE)


def test_birth_order_blank() -> None:
    assert parse_birth_order("") == (None, None)
    assert parse_birth_order(None) == (None, None)


# ---------------------------------------------------------------------------- regions


def test_region_12_digits_village() -> None:
    assert parse_region("120115101201") == RegionCode(
        "120115101201", "village", "120115", "120115101", "120115101201", None, False
    )


def test_region_9_digits_town() -> None:
    assert parse_region("120115101") == RegionCode(
        "120115101000", "town", "120115", "120115101", None, None, False
    )


def test_region_6_digits_county() -> None:
    assert parse_region("120115") == RegionCode("120115000000", "county", "120115", None, None, None, False)


def test_region_12_digits_with_zero_parts() -> None:
    assert parse_region("120115000000").level == "county"
    assert parse_region("120115101000").level == "town"
    assert parse_region(120115101201).code == "120115101201"
    assert parse_region("'１２０１１５").code == "120115000000"


@pytest.mark.parametrize("raw", ["12011", "1201151", "12011510120", "1201151012011", "120115000201", "abc"])
def test_region_unparseable(raw: str) -> None:
    parsed = parse_region(raw)
    assert parsed.code is None
    assert parsed.error == REGION_UNPARSEABLE


def test_region_blank() -> None:
    assert parse_region(None) == RegionCode(None)
    assert parse_region("不详").error is None


REFERENCE = [
    ("120115000000", "宝坻区", "县", None),
    ("120115001000", "宝平街道办事处", "乡", "120115000000"),
    ("120115001001", "南关社区居委会", "村", "120115001000"),
    ("120115101000", "牛道口镇", "乡", "120115000000"),
    ("120115101201", "东风村委会", "村", "120115101000"),
    ("120115101202", "前进村委会", "村", "120115101000"),
    ("120115102000", "大口屯镇", "乡", "120115000000"),
    ("120115102201", "东风村委会", "村", "120115102000"),
]


@pytest.fixture(scope="module")
def resolver() -> RegionResolver:
    return RegionResolver(REFERENCE)


@pytest.mark.parametrize(
    ("name", "code", "level"),
    [
        ("牛道口镇", "120115101000", "town"),
        ("前进村", "120115101202", "village"),  # unique village name
        ("宝坻区牛道口镇东风村", "120115101201", "village"),
        ("天津市宝坻区牛道口镇东风村", "120115101201", "village"),
        ("牛道口镇东风村", "120115101201", "village"),
        ("大口屯镇东风村委会", "120115102201", "village"),
        ("宝坻区 牛道口镇 东风村村民委员会", "120115101201", "village"),
        ("寶坻區牛道口鎮", "120115101000", "town"),  # Traditional
        ("天津市宝坻区", "120115000000", "county"),
        ("宝平街道", "120115001000", "town"),
        ("南关社区", "120115001001", "village"),
    ],
)
def test_region_names(resolver: RegionResolver, name: str, code: str, level: str) -> None:
    parsed = parse_region(name, resolver)
    assert parsed.code == code
    assert parsed.level == level
    assert parsed.error is None
    assert parsed.resolved_from_name
    assert parsed.county_code == "120115"


@pytest.mark.parametrize("name", ["东风村", "宝坻区东风村"])
def test_region_ambiguous(resolver: RegionResolver, name: str) -> None:
    parsed = parse_region(name, resolver)
    assert parsed.code is None
    assert parsed.error == REGION_AMBIGUOUS


@pytest.mark.parametrize("name", ["不存在村", "某某镇东风村", "新东风村", "宝坻区某某镇"])
def test_region_unresolved(resolver: RegionResolver, name: str) -> None:
    parsed = parse_region(name, resolver)
    assert parsed.code is None
    assert parsed.error == REGION_UNRESOLVED


def test_region_name_without_resolver() -> None:
    assert parse_region("牛道口镇").error == REGION_UNRESOLVED


def test_region_resolver_contains_and_skips_bad_rows() -> None:
    resolver = RegionResolver([*REFERENCE, ("", "无代码村", "村", None), ("12011", "短码村", "村", None)])
    assert "120115101201" in resolver
    assert "120115109999" not in resolver
    assert parse_region("无代码村", resolver).error == REGION_UNRESOLVED
    assert parse_region("短码村", resolver).error == REGION_UNRESOLVED


def test_region_resolver_accepts_6_digit_reference_codes() -> None:
    resolver = RegionResolver([("120115", "宝坻区", "县", None), ("120115101", "牛道口镇", "乡", "120115")])
    assert parse_region("宝坻区牛道口镇", resolver).code == "120115101000"


def test_parse_regions_batch(resolver: RegionResolver) -> None:
    results = parse_regions(["120115", "牛道口镇", "120115", "东风村", None], resolver)
    assert [r.code for r in results] == ["120115000000", "120115101000", "120115000000", None, None]
    assert [r.error for r in results] == [None, None, None, REGION_AMBIGUOUS, None]
    assert results[0] is results[2]
