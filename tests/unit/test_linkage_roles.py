"""Person roles in the feed configs: loaded, validated, turned into source keys and mention SQL."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from popdata.config.feeds import Feed, default_feeds, feed_by_id
from popdata.linkage.mentions import MENTION_COLUMNS, coerce_mentions, mentions_sql
from popdata.linkage.roles import mention_id, person_feeds, source_key, source_key_sql, split_mention_id

BASE = {
    "agency": "health",
    "feed": "demo",
    "title_zh": "示例",
    "kind": "incremental",
    "key": ["no"],
    "columns": [
        {"name": "no", "headers": ["编号"], "type": "code"},
        {"name": "child_name", "headers": ["姓名"], "type": "name"},
        {"name": "mother_id", "headers": ["母亲身份证号"], "type": "id_number"},
        {"name": "mother_name", "headers": ["母亲姓名"], "type": "name"},
        {"name": "birth_date", "headers": ["出生日期"], "type": "date"},
    ],
}


def _feed(persons: list[dict[str, str]]) -> Feed:
    return Feed.model_validate({**BASE, "persons": persons})


def test_every_shipped_feed_with_persons_has_valid_roles() -> None:
    feeds = default_feeds()
    with_persons = {f.feed for f in person_feeds(feeds)}
    assert with_persons == {f.feed for f in feeds} - {"annual_targets", "regions"}
    certs = feed_by_id("health__birth_certificates")
    assert [p.role for p in certs.persons] == ["child", "mother", "father"]
    assert certs.person("mother").sex_literal == "2" and certs.person("mother").sex_column is None
    assert certs.person("child").sex_column == "child_sex"
    assert certs.person("child").mother_id == "mother_id"
    assert feed_by_id("fp__birth_approvals").person("husband").sex_literal == "1"


def test_literal_sex_and_columns_are_checked() -> None:
    feed = _feed([{"role": "mother", "id": "mother_id", "name": "mother_name", "sex": "'2'"}])
    assert feed.person("mother").sex_literal == "2"
    with pytest.raises(ValidationError, match="literal"):
        _feed([{"role": "mother", "id": "mother_id", "sex": "'3'"}])
    with pytest.raises(ValidationError, match="no column 'nope'"):
        _feed([{"role": "mother", "id": "nope"}])
    with pytest.raises(ValidationError, match="has type name, expected id_number"):
        _feed([{"role": "mother", "id": "mother_name"}])
    with pytest.raises(ValidationError, match="listed more than once"):
        _feed([{"role": "mother", "id": "mother_id"}, {"role": "mother", "name": "mother_name"}])
    with pytest.raises(ValidationError, match="only a child"):
        _feed([{"role": "mother", "id": "mother_id", "mother_id": "mother_id"}])
    with pytest.raises(ValidationError, match="role"):
        _feed([{"role": "aunt", "name": "mother_name"}])
    with pytest.raises(ValidationError, match="extra"):
        _feed([{"role": "child", "name": "child_name", "shoe_size": "no"}])


def test_source_keys_join_normalised_key_values() -> None:
    rolls = feed_by_id("fp__assistance_rolls")
    assert source_key(["110101199003071234", "奖励扶助", 2013]) == "110101199003071234|奖励扶助|2013"
    assert source_key(["A", None]) == "A|"
    sql = source_key_sql(rolls, "r")
    assert sql.startswith("concat_ws('|', ") and '"id_no"' in sql and '"year"' in sql
    single = source_key_sql(feed_by_id("health__birth_certificates"))
    assert single == """coalesce(CAST(r."cert_no" AS text), '')"""
    mid = mention_id("assistance_rolls", "110|奖励扶助|2013", "subject")
    assert split_mention_id(mid) == ("assistance_rolls", "110|奖励扶助|2013", "subject")


def test_mention_sql_binds_values_and_quotes_config_identifiers() -> None:
    statement, params = mentions_sql(feed_by_id("health__birth_certificates"))
    text = str(statement)
    assert text.count("UNION ALL") == 2
    assert params == {
        "feed": "birth_certificates",
        "role_0": "child",
        "role_1": "mother",
        "sex_1": "2",
        "role_2": "father",
        "sex_2": "1",
    }
    assert 'FROM core."birth_certificates" r' in text
    assert 'r."mother_id_valid"' in text  # the child's mother id only when valid
    # a father is a person of the record only when an id or a name is given
    assert 'WHERE r."father_id" IS NOT NULL OR r."father_name" IS NOT NULL' in text
    with pytest.raises(ValueError, match="no persons"):
        mentions_sql(feed_by_id("stats__regions"))


def test_coerce_mentions_gives_interface_dtypes() -> None:
    import pandas as pd

    raw = pd.DataFrame(
        [
            {
                "mention_id": "f|1|subject",
                "feed": "f",
                "source_key": "1",
                "role": "subject",
                "id_no": None,
                "id_valid": None,
                "name": "张三",
                "sex": "9",
                "birth_date": None,
                "region_code": None,
                "household_no": None,
                "mother_id": None,
                "extract_date": "2014-06-30",
            },
        ]
    )
    out = coerce_mentions(raw)
    assert tuple(out.columns) == MENTION_COLUMNS
    row = out.iloc[0]
    assert row["sex"] is None
    assert not row["id_valid"]
    assert str(out["birth_date"].dtype) == "datetime64[ns]" and pd.isna(row["birth_date"])
    assert str(out["extract_date"].dtype) == "datetime64[ns]"
