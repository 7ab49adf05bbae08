"""Comparison features and Splink comparison/blocking definitions for Chinese person records.

Character-level string distances (Jaro-Winkler, Levenshtein) carry almost no signal on 2–3
character Chinese names (``张伟`` vs ``张玮``: JW 0.667), so names are compared on derived keys
computed here in Python before Splink sees them:

* ``name``     – the Simplified name as given (Traditional → Simplified is done upstream);
* ``name_py``  – a normalised pinyin key: the surname with its *surname* reading (单 shan,
  曾 zeng, 解 xie, 区 ou, 朴 piao, 查 zha …, compound surnames 欧阳 司马 … kept whole) and each
  given-name character with its most common reading, toneless, space-separated.  Homophone
  spellings (晓/小, 伟/玮) and a heteronym surname typed with a homophone (曾/增) share a key;
* ``surname_py`` – the surname part of that key (blocking);
* ``name_len`` / ``name_pad`` – the length in characters and the name padded to a fixed width,
  so that DuckDB's ``hamming`` can count differing positions ("one character different");
* ``dob`` (``YYYYMMDD``), ``birth_year``, ``birth_ym`` – birth date strings.

Every comparison level has a short label (``exact``, ``pinyin``, ``one_char`` …) used to build
the ``evidence`` string of a scored pair; labels never contain record values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd
from pypinyin import Style, pinyin

#: Surname readings that differ from the character's most common reading (姓氏读音).
SURNAME_READINGS: dict[str, str] = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "区": "ou",
    "朴": "piao",
    "查": "zha",
    "仇": "qiu",
    "盖": "ge",
    "乐": "yue",
    "缪": "miao",
    "尉": "yu",
    "秘": "bi",
    "繁": "po",
    "员": "yun",
    "种": "chong",
    "召": "shao",
    "折": "she",
    "句": "gou",
    "覃": "qin",
    "翟": "zhai",
    "长": "chang",
    "重": "chong",
    "万俟": "mo qi",
    "尉迟": "yu chi",
    "长孙": "zhang sun",
    "澹台": "tan tai",
}

#: Two-character surnames (复姓) recognised when splitting a name into surname + given name.
COMPOUND_SURNAMES: frozenset[str] = frozenset(
    {
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "司空",
        "夏侯",
        "令狐",
        "澹台",
        "万俟",
        "轩辕",
        "端木",
        "独孤",
        "南宫",
        "西门",
    }
)

#: Width of ``name_pad``: names are padded (or cut) to this many characters.
NAME_PAD_WIDTH = 8
_PAD_CHAR = "_"


@lru_cache(maxsize=20_000)
def char_reading(char: str) -> str:
    """The most common toneless pinyin reading of one character (the character itself if none)."""
    readings = pinyin(char, style=Style.NORMAL, heteronym=False, errors="default")
    return readings[0][0] if readings and readings[0] else char


def split_name(name: str) -> tuple[str, str]:
    """Split a Chinese name into (surname, given name); compound surnames stay whole."""
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    return name[:1], name[1:]


def surname_pinyin(surname: str) -> str:
    """Pinyin of a surname with its surname reading (单 → shan, 曾 → zeng, 区 → ou)."""
    if surname in SURNAME_READINGS:
        return SURNAME_READINGS[surname]
    return " ".join(SURNAME_READINGS.get(c) or char_reading(c) for c in surname)


@lru_cache(maxsize=500_000)
def pinyin_key(name: str) -> tuple[str, str]:
    """The (surname key, full-name key) of a Simplified Chinese name.

    The full key is the surname reading followed by each given-name character's most common
    reading, toneless and space-separated: ``pinyin_key("曾小伟") == ("zeng", "zeng xiao wei")``.
    """
    surname, given = split_name(name)
    s_key = surname_pinyin(surname)
    parts = [s_key, *(char_reading(c) for c in given)]
    return s_key, " ".join(p for p in parts if p)


def _clean_values(series: pd.Series) -> list[str | None]:
    """Stripped strings, with empty strings and missing values (None, NaN, NA) as ``None``."""
    out: list[str | None] = []
    for v in series.tolist():
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            out.append(None)
        else:
            text = str(v).strip()
            out.append(text or None)
    return out


#: The shape of an identity number worth comparing: 18 characters (17 digits and a digit or X),
#: or an old 15-digit number. Anything else (``1.20115E+17``: digits lost in a spreadsheet) is
#: no evidence either way and is compared as missing.
_ID_SHAPE = re.compile(r"\d{17}[\dX]|\d{15}")


def comparable_id(value: str | None) -> str | None:
    """``value`` when it has the shape of an identity number (valid or not), else ``None``.

    An id mangled into scientific notation keeps only its first digits, which many persons
    share: comparing it would count as an id *disagreement* against the true person.
    """
    if value is None:
        return None
    text = value.strip().upper()
    return text if _ID_SHAPE.fullmatch(text) else None


def _obj(values: list[Any]) -> pd.Series:
    """An object-dtype series (pandas 3 would otherwise infer ``str`` and turn None into NaN)."""
    return pd.Series(values, dtype="object")


def prepare_frame(df: pd.DataFrame, uid_column: str) -> pd.DataFrame:
    """The Splink input frame of mentions or persons: derived keys, one column set for both.

    ``uid_column`` (``mention_id`` or ``person_key``) becomes the string ``unique_id``.  Input
    columns: ``id_no``, ``name``, ``sex``, ``birth_date``, ``region_code``, ``household_no``,
    ``mother_id``; missing ones are treated as all-null.
    """
    n = len(df)
    cols: dict[str, pd.Series] = {"unique_id": _obj([str(v) for v in df[uid_column].tolist()])}
    for col in ("id_no", "name", "sex", "region_code", "household_no", "mother_id"):
        cols[col] = _obj(_clean_values(df[col]) if col in df.columns else [None] * n)
    cols["id_no"] = _obj([comparable_id(v) for v in cols["id_no"].tolist()])

    names: list[str | None] = cols["name"].tolist()
    keys = [pinyin_key(v) if v else (None, None) for v in names]
    cols["surname_py"] = _obj([k[0] for k in keys])
    cols["name_py"] = _obj([k[1] for k in keys])
    cols["name_len"] = pd.Series([len(v) if v else None for v in names], dtype="Int64")
    cols["name_pad"] = _obj(
        [v.ljust(NAME_PAD_WIDTH, _PAD_CHAR)[:NAME_PAD_WIDTH] if v else None for v in names]
    )

    dob_list: list[str | None] = [None] * n
    if "birth_date" in df.columns:
        bd = pd.to_datetime(df["birth_date"], errors="coerce")
        dob_list = [v.strftime("%Y%m%d") if not pd.isna(v) else None for v in bd.tolist()]
    cols["dob"] = _obj(dob_list)
    cols["birth_year"] = _obj([v[:4] if v else None for v in dob_list])
    cols["birth_ym"] = _obj([v[:6] if v else None for v in dob_list])
    cols["sex"] = _obj([v if v in ("1", "2") else None for v in cols["sex"].tolist()])
    return pd.DataFrame(cols)


@dataclass(frozen=True)
class Level:
    """One comparison level: short evidence label, SQL condition, optional TF column."""

    label: str
    sql: str
    tf_column: str | None = None
    is_null: bool = False


@dataclass(frozen=True)
class ComparisonSpec:
    """A comparison: output column name (``gamma_<name>``), evidence key and ordered levels."""

    name: str
    key: str
    levels: tuple[Level, ...]

    def to_splink(self) -> dict[str, Any]:
        """The Splink comparison dict (levels in order, null level first)."""
        levels: list[dict[str, Any]] = []
        for lv in self.levels:
            d: dict[str, Any] = {"sql_condition": lv.sql, "label_for_charts": lv.label}
            if lv.is_null:
                d["is_null_level"] = True
            if lv.tf_column:
                d["tf_adjustment_column"] = lv.tf_column
                d["tf_adjustment_weight"] = 1.0
            levels.append(d)
        return {"output_column_name": self.name, "comparison_levels": levels}

    def gamma_labels(self) -> dict[int, str]:
        """Map Splink's comparison vector value (``gamma_*``) to the level label.

        Splink numbers the null level -1 and the other levels from n-1 (first) down to 0
        (the final "else" level).
        """
        non_null = [lv for lv in self.levels if not lv.is_null]
        mapping = {-1: "null"}
        for i, lv in enumerate(non_null):
            mapping[len(non_null) - 1 - i] = lv.label
        return mapping


def _null(*cols: str) -> Level:
    """The null level: any of ``cols`` missing on either side."""
    cond = " OR ".join(f'"{c}_l" IS NULL OR "{c}_r" IS NULL' for c in cols)
    return Level("null", cond, is_null=True)


_ELSE = Level("else", "ELSE")

NAME = ComparisonSpec(
    "name",
    "name",
    (
        _null("name"),
        Level("exact", '"name_l" = "name_r"', tf_column="name"),
        Level("pinyin", '"name_py_l" = "name_py_r"', tf_column="name_py"),
        # one given-name character different (names of 3+ characters: for a 2-character name
        # one different character leaves only the surname or only the given name in common)
        Level(
            "one_char",
            '"name_len_l" = "name_len_r" AND "name_len_l" >= 3 '
            'AND hamming("name_pad_l", "name_pad_r") = 1 AND "surname_py_l" = "surname_py_r"',
        ),
        # any other single different character: the surname (王晓伟/李晓伟) or a 2-character name
        Level(
            "one_char_other",
            '"name_len_l" = "name_len_r" AND hamming("name_pad_l", "name_pad_r") = 1',
        ),
        _ELSE,
    ),
)

DOB = ComparisonSpec(
    "dob",
    "dob",
    (
        _null("dob"),
        Level("exact", '"dob_l" = "dob_r"'),
        Level(
            "transposed",
            'substr("dob_l", 1, 4) = substr("dob_r", 1, 4) '
            'AND substr("dob_l", 5, 2) = substr("dob_r", 7, 2) '
            'AND substr("dob_l", 7, 2) = substr("dob_r", 5, 2)',
        ),
        Level("one_digit", 'hamming("dob_l", "dob_r") = 1'),
        Level("year_month", '"birth_ym_l" = "birth_ym_r"'),
        _ELSE,
    ),
)

SEX = ComparisonSpec(
    "sex",
    "sex",
    (_null("sex"), Level("agree", '"sex_l" = "sex_r"'), Level("disagree", "ELSE")),
)

REGION = ComparisonSpec(
    "region",
    "region",
    (
        _null("region_code"),
        Level("village", '"region_code_l" = "region_code_r"'),
        Level("town", 'substr("region_code_l", 1, 9) = substr("region_code_r", 1, 9)'),
        Level("county", 'substr("region_code_l", 1, 6) = substr("region_code_r", 1, 6)'),
        _ELSE,
    ),
)

ID_NO = ComparisonSpec(
    "id_no",
    "id",
    (
        _null("id_no"),
        Level("exact", '"id_no_l" = "id_no_r"'),
        Level(
            "near",
            'length("id_no_l") = 18 AND length("id_no_r") = 18 AND hamming("id_no_l", "id_no_r") <= 2',
        ),
        _ELSE,
    ),
)

MOTHER = ComparisonSpec(
    "mother_id",
    "mother",
    (_null("mother_id"), Level("exact", '"mother_id_l" = "mother_id_r"'), _ELSE),
)

HOUSEHOLD = ComparisonSpec(
    "household_no",
    "household",
    (_null("household_no"), Level("exact", '"household_no_l" = "household_no_r"'), _ELSE),
)

#: All comparisons, in evidence order.
COMPARISONS: tuple[ComparisonSpec, ...] = (NAME, DOB, SEX, REGION, ID_NO, MOTHER, HOUSEHOLD)

#: Blocking rules for prediction (a pair is scored when any rule holds; Splink de-duplicates).
#: Chosen so a 1 000 000-person county stays tractable: each rule's blocks are small
#: (tens of persons per birth date; a full-name pinyin within a year or a town is rarer still).
BLOCKING_RULES: tuple[str, ...] = (
    'l."dob" = r."dob"',
    'l."name_py" = r."name_py" AND l."birth_year" = r."birth_year"',
    'l."name_py" = r."name_py" AND substr(l."region_code", 1, 9) = substr(r."region_code", 1, 9)',
    'l."surname_py" = r."surname_py" AND l."birth_ym" = r."birth_ym" AND l."sex" = r."sex"',
    'l."id_no" = r."id_no"',
    'l."mother_id" = r."mother_id"',
    'l."household_no" = r."household_no"',
)


def settings_dict(probability_two_random_records_match: float = 1e-4) -> dict[str, Any]:
    """The untrained Splink settings dict (link_only, ``unique_id``) for these comparisons."""
    return {
        "link_type": "link_only",
        "unique_id_column_name": "unique_id",
        "probability_two_random_records_match": probability_two_random_records_match,
        "comparisons": [c.to_splink() for c in COMPARISONS],
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": br, "sql_dialect": "duckdb"} for br in BLOCKING_RULES
        ],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "em_convergence": 0.0001,
        "max_iterations": 25,
    }
