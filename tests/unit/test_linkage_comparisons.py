"""Comparison features for Chinese names and dates (popdata.linkage.comparisons)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from popdata.linkage import comparisons as cmp


@pytest.mark.parametrize(
    ("name", "surname_key", "full_key"),
    [
        ("单文华", "shan", "shan wen hua"),
        ("曾小伟", "zeng", "zeng xiao wei"),
        ("解明", "xie", "xie ming"),
        ("区建国", "ou", "ou jian guo"),
        ("朴正", "piao", "piao zheng"),
        ("查海生", "zha", "zha hai sheng"),
        ("欧阳娜娜", "ou yang", "ou yang na na"),
        ("张伟", "zhang", "zhang wei"),
    ],
)
def test_pinyin_key_uses_surname_readings(name: str, surname_key: str, full_key: str) -> None:
    assert cmp.pinyin_key(name) == (surname_key, full_key)


def test_homophones_share_a_pinyin_key() -> None:
    assert cmp.pinyin_key("张伟")[1] == cmp.pinyin_key("张玮")[1]
    assert cmp.pinyin_key("王晓明")[1] == cmp.pinyin_key("王小明")[1]
    # 曾 read as a surname (zeng) matches a homophone surname typed by a clerk (增)
    assert cmp.pinyin_key("曾伟")[1] == cmp.pinyin_key("增伟")[1]
    assert cmp.pinyin_key("张伟")[1] != cmp.pinyin_key("章强")[1]


def test_split_name_keeps_compound_surnames() -> None:
    assert cmp.split_name("司马光") == ("司马", "光")
    assert cmp.split_name("司马") == ("司", "马")  # two characters: surname + given name
    assert cmp.split_name("王五") == ("王", "五")


def test_prepare_frame_derives_keys_and_nulls() -> None:
    df = pd.DataFrame(
        {
            "mention_id": ["a", "b"],
            "id_no": ["", None],
            "name": ["单文华", None],
            "sex": ["1", "x"],
            "birth_date": pd.to_datetime(["1980-03-04", None]),
            "region_code": ["120115111201", float("nan")],
        }
    )
    out = cmp.prepare_frame(df, "mention_id")
    assert out.loc[0, "name_py"] == "shan wen hua"
    assert out.loc[0, "dob"] == "19800304"
    assert out.loc[0, "birth_ym"] == "198003"
    assert out.loc[0, "name_pad"] == "单文华_____"
    assert out.loc[0, "id_no"] is None
    assert out.loc[1, "sex"] is None and out.loc[1, "dob"] is None and out.loc[1, "region_code"] is None
    assert out.loc[1, "household_no"] is None  # absent column → all null


def _level(spec: cmp.ComparisonSpec, left: dict[str, object], right: dict[str, object]) -> str:
    """The label of the first level of ``spec`` whose SQL holds for (left, right), via DuckDB."""
    cols = {f"{k}_l": [v] for k, v in left.items()} | {f"{k}_r": [v] for k, v in right.items()}
    frame = pd.DataFrame(cols)
    con = duckdb.connect()
    con.register("pairs", frame)
    for lv in spec.levels:
        if lv.sql == "ELSE":
            return lv.label
        if con.execute(f"SELECT ({lv.sql}) FROM pairs").fetchone() == (True,):
            return lv.label
    raise AssertionError("no level matched")


def _name_cols(name: str) -> dict[str, object]:
    f = cmp.prepare_frame(pd.DataFrame({"u": ["x"], "name": [name]}), "u").iloc[0]
    return {c: f[c] for c in ("name", "name_py", "surname_py", "name_pad")} | {"name_len": int(f["name_len"])}


@pytest.mark.parametrize(
    ("left", "right", "label"),
    [
        ("张晓伟", "张晓伟", "exact"),
        ("张晓伟", "张小伟", "pinyin"),
        ("张晓伟", "张晓强", "one_char"),
        ("王晓伟", "李晓伟", "one_char_other"),
        ("张伟", "张强", "one_char_other"),
        ("张晓伟", "张晓", "else"),
        ("张晓伟", "李明", "else"),
    ],
)
def test_name_levels(left: str, right: str, label: str) -> None:
    assert _level(cmp.NAME, _name_cols(left), _name_cols(right)) == label


def _dob_cols(dob: str | None) -> dict[str, object]:
    return {"dob": dob, "birth_ym": dob[:6] if dob else None}


@pytest.mark.parametrize(
    ("left", "right", "label"),
    [
        ("19800304", "19800304", "exact"),
        ("19800304", "19800403", "transposed"),
        ("19800304", "19800305", "one_digit"),
        ("19800304", "19810304", "one_digit"),
        ("19800304", "19800321", "year_month"),
        ("19800304", "19750101", "else"),
        ("19800304", None, "null"),
    ],
)
def test_dob_levels(left: str, right: str | None, label: str) -> None:
    assert _level(cmp.DOB, _dob_cols(left), _dob_cols(right)) == label


@pytest.mark.parametrize(
    ("left", "right", "label"),
    [
        ("120115111201", "120115111201", "village"),
        ("120115111201", "120115111000", "town"),
        ("120115111201", "120115104201", "county"),
        ("120115111201", "130225000000", "else"),
        (None, "120115111201", "null"),
    ],
)
def test_region_levels(left: str | None, right: str, label: str) -> None:
    assert _level(cmp.REGION, {"region_code": left}, {"region_code": right}) == label


def test_gamma_labels_number_levels_like_splink() -> None:
    labels = cmp.DOB.gamma_labels()
    assert labels[-1] == "null"
    assert labels[4] == "exact" and labels[3] == "transposed" and labels[0] == "else"


def test_settings_dict_is_link_only_with_all_comparisons() -> None:
    s = cmp.settings_dict(1e-5)
    assert s["link_type"] == "link_only"
    assert [c["output_column_name"] for c in s["comparisons"]] == [c.name for c in cmp.COMPARISONS]
    assert len(s["blocking_rules_to_generate_predictions"]) == len(cmp.BLOCKING_RULES)


def test_ids_in_scientific_notation_are_compared_as_missing() -> None:
    assert cmp.comparable_id("1.20115E+17") is None
    assert cmp.comparable_id(None) is None
    assert cmp.comparable_id("43010219500202003x") == "43010219500202003X"  # invalid but id-shaped
    assert cmp.comparable_id("430102500202003") == "430102500202003"
    out = cmp.prepare_frame(
        pd.DataFrame({"u": ["a", "b"], "id_no": ["3.41222E+17", "430102195002020039"]}), "u"
    )
    assert out["id_no"].tolist() == [None, "430102195002020039"]
