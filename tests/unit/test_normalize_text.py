"""Unit tests for popdata.normalize.text: cleaning, placeholders, damage, Traditional→Simplified."""

from __future__ import annotations

import pytest

from popdata.normalize.text import (
    DAMAGED_TEXT,
    DATE_PLACEHOLDERS,
    PLACEHOLDERS,
    cell_text,
    clean_text,
    gc_paused,
    has_traditional,
    is_damaged,
    is_placeholder,
    to_simplified,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("１２０１１５１９８００１０１００１６", "120115198001010016"),  # full-width digits
        ("ＡＢｃ", "ABc"),  # full-width letters
        ("'120115198001010016", "120115198001010016"),  # Excel apostrophe
        ("  '120115 ", "120115"),
        ("''x", "x"),  # repeated apostrophes too: cleaning twice must change nothing (issue 10)
        ("\u3000张\u3000三\u3000", "张 三"),  # ideographic spaces
        ("宝坻区   牛道口镇\t东风村", "宝坻区 牛道口镇 东风村"),
        ("line1\r\nline2", "line1 line2"),
        ("\ufeffabc\u200b", "abc"),
        ("   ", None),
        ("\u3000", None),
        ("'", None),
        ("", None),
        (None, None),
    ],
)
def test_clean_text(raw: str | None, expected: str | None) -> None:
    assert clean_text(raw) == expected


def test_cell_text_numbers_from_spreadsheets() -> None:
    assert cell_text(41730.0) == "41730"
    assert cell_text(120115) == "120115"
    assert cell_text(float("nan")) is None
    assert cell_text(" ２ ") == "2"
    assert cell_text(None) is None


def test_placeholders_are_per_kind() -> None:
    for value in ("不详", "无", "-", "—", "－", "/", "NULL", "null", "N/A", " 不详 "):
        assert is_placeholder(value), value
    assert not is_placeholder("未知")  # a real sex value (GB/T 2261.1 code 0)
    assert not is_placeholder("张三")
    assert not is_placeholder(None)
    assert not is_placeholder("")
    assert not is_placeholder("19000101")  # not a generic placeholder ...
    assert is_placeholder("19000101", PLACEHOLDERS | DATE_PLACEHOLDERS)  # ... but a date one
    assert is_placeholder("1900年1月1日", DATE_PLACEHOLDERS)
    assert "未知" not in PLACEHOLDERS


@pytest.mark.parametrize(
    "value",
    ["確?;顒有Ч?", "张?", "?伟", "王？芳", "李\ufffd", "\ufffd", "锟斤拷", "张锟斤拷三", "烫烫烫", "屯屯屯"],
)
def test_damaged(value: str) -> None:
    assert is_damaged(value)


@pytest.mark.parametrize("value", ["张三", "what?", "???", "N/A", "欧阳娜娜", "120115198001010016", "李 ?"])
def test_not_damaged(value: str) -> None:
    assert not is_damaged(value)


def test_damaged_code() -> None:
    assert DAMAGED_TEXT == "damaged_text"


def test_to_simplified() -> None:
    values = ["寶坻區", "劉", None, "abc", "刘", "寶坻區", "東風村"]
    assert to_simplified(values) == ["宝坻区", "刘", None, "abc", "刘", "宝坻区", "东风村"]


def test_to_simplified_keeps_surnames() -> None:
    # s2t would corrupt these (于→於, 范→範, 干→幹); t2s must leave them alone.
    assert to_simplified(["于", "范", "干", "于小明", "范冰", "干宝"]) == [
        "于",
        "范",
        "干",
        "于小明",
        "范冰",
        "干宝",
    ]


def test_to_simplified_never_rewrites_valid_simplified_characters() -> None:
    # plain OpenCC t2s maps 沈→沉 and 乾→干: both are real surnames / name characters
    assert to_simplified(["沈思辉", "乾隆", "王𣵦", "劉小明", "鍾麗"]) == [
        "沈思辉",
        "乾隆",
        "王𣵦",
        "刘小明",
        "钟丽",
    ]
    assert not has_traditional("沈思辉") and has_traditional("劉德華")


def test_to_simplified_value_with_separator_is_not_misaligned() -> None:
    assert to_simplified(["劉\n張", "陳"]) == ["刘\n张", "陈"]


def test_to_simplified_empty() -> None:
    assert to_simplified([]) == []
    assert to_simplified([None, "x"]) == [None, "x"]


def test_has_traditional() -> None:
    assert has_traditional("劉德華")
    assert has_traditional("寶坻區")
    assert not has_traditional("刘德华")
    assert not has_traditional("于范干")
    assert not has_traditional("abc")


def test_gc_paused_restores_state() -> None:
    import gc

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block must not re-enable it
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_names_keep_their_characters_but_fold_full_width_ascii() -> None:
    from popdata.normalize.text import clean_name_text

    # U+F9D8 is a CJK compatibility ideograph: NFKC would rewrite it to 律, changing a name
    assert clean_name_text("\uf9d8小明") == "\uf9d8小明"
    assert clean_text("\uf9d8小明") == "律小明"
    assert clean_name_text("　张　三 ") == "张 三"
    assert clean_name_text("ＡＢ１２号") == "AB12号"
    assert clean_name_text("'王五") == "王五"
    assert clean_name_text("") is None
