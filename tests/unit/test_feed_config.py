"""Feed configs load into frozen, validated models and fail with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from popdata.config.feeds import Column, FeedConfigError, default_feeds, load_feed_file, normalise_header

GOOD = """
agency: police
feed: household_registry
title_zh: 户籍人口
kind: snapshot
key: [id_no]
columns:
  - {name: id_no, headers: [公民身份号码, 身份证号], type: id_number, required: true}
  - {name: name, headers: [姓名], type: name, required: true}
"""


def test_shipped_feeds_load_and_cover_the_slice() -> None:
    feeds = {f.feed_id: f for f in default_feeds()}
    registry = feeds["police__household_registry"]
    assert registry.kind == "snapshot" and registry.key == ("id_no",)
    assert {c.name for c in registry.required_columns} == {
        "id_no",
        "name",
        "sex",
        "birth_date",
        "household_no",
        "region_code",
    }
    assert registry.header_map()[normalise_header("户籍地址编码")] == "region_code"
    assert "stats__regions" in feeds


def test_models_are_frozen() -> None:
    column = Column(name="id_no", headers=("身份证号",), type="id_number")
    with pytest.raises(ValidationError):
        column.required = True


def test_header_normalisation_ignores_width_spaces_and_bom() -> None:
    assert normalise_header("\ufeff出生体重（克）") == normalise_header("出生体重(克)")
    assert normalise_header(" 姓 名 ") == "姓名"


def test_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "police__household_registry.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_feed_file(path).dag_id == "ingest__police__household_registry"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("type: name", "type: nickname"), "type"),
        (("key: [id_no]", "key: [cert_no]"), "key columns ['cert_no']"),
        (("[姓名]", "[身份证号]"), "header '身份证号' is used by both"),
        (("agency: police", "agency: court"), "agency"),
        (("name: name,", "name: Name,"), "snake_case"),
    ],
)
def test_bad_files_fail_naming_the_file_and_field(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "police__household_registry.yaml"
    path.write_text(GOOD.replace(*change), encoding="utf-8")
    with pytest.raises(FeedConfigError) as info:
        load_feed_file(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_file_name_must_match_the_feed(tmp_path: Path) -> None:
    path = tmp_path / "police__other.yaml"
    path.write_text(GOOD, encoding="utf-8")
    with pytest.raises(FeedConfigError, match=r"must be named police__household_registry\.yaml"):
        load_feed_file(path)
