"""The linking logic on tiny frames: exact ids, births, probabilistic bands, stable keys, merges."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from stdnum.cn import ric

from popdata.linkage.keys import (
    FrameRows,
    KeyRegistry,
    PriorLink,
    RelationGraph,
    best_candidates,
    closest_id,
    compare_attributes,
    older,
    plan_links,
    representative_persons,
)
from popdata.linkage.mentions import MENTION_COLUMNS, coerce_mentions
from popdata.linkage.thresholds import LinkThresholds
from popdata.normalize.ids import parse_id


def make_id(first17: str) -> str:
    """A valid 18-character identity number from its first 17 characters."""
    return first17 + ric.calc_check_digit(first17 + "0")


MOTHER = make_id("43010219880101002")  # a woman (even 17th digit) born 1988-01-01
CHILD = make_id("43010220140301001")  # a boy born 2014-03-01
OTHER = make_id("43010219500202003")  # a man born 1950-02-02


def mention(mid: str, **values: Any) -> dict[str, Any]:
    """A mention row: ``feed|key|role`` plus attributes (id_valid follows from the id)."""
    feed, key, role = mid.split("|")
    row: dict[str, Any] = dict.fromkeys(MENTION_COLUMNS)
    row.update(mention_id=mid, feed=feed, source_key=key, role=role, extract_date="2014-06-30")
    row.update(values)
    if row["id_no"] is not None and "id_valid" not in values:
        row["id_valid"] = parse_id(row["id_no"]).valid
    return row


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    return coerce_mentions(pd.DataFrame(list(rows)))


def fake_scorer(table: dict[str, tuple[int | str, float]]) -> Any:
    """A scorer returning, per mention, one candidate (a key, or the key of a valid id) and probability."""

    def score(mentions: pd.DataFrame, persons: pd.DataFrame) -> pd.DataFrame:
        by_id = dict(zip(persons["id_no"], persons["person_key"], strict=True))
        rows = []
        for mid in mentions["mention_id"]:
            if mid in table:
                target, p = table[mid]
                key = by_id[target] if isinstance(target, str) else target
                rows.append(
                    {
                        "mention_id": mid,
                        "person_key": key,
                        "match_probability": p,
                        "evidence": "name:exact,dob:exact",
                    }
                )
        return pd.DataFrame(rows, columns=["mention_id", "person_key", "match_probability", "evidence"])

    return score


def test_older_prefers_existing_keys_then_sequence_order() -> None:
    assert older(1000005, 1000002) == 1000002
    assert older(-1, 1000009) == 1000009
    assert older(-2, -1) == -1


def test_registry_merges_keep_the_older_key_and_record_only_existing_ones() -> None:
    registry = KeyRegistry({MOTHER: 1000003})
    assert registry.union(1000007, 1000003, "id_exact", {}) == 1000003
    assert [(m.old_key, m.new_key) for m in registry.merges] == [(1000007, 1000003)]
    placeholder = registry.mint("new")
    assert registry.union(placeholder, 1000007, "probabilistic", {}) == 1000003
    assert len(registry.merges) == 1  # a placeholder merged away never existed
    assert registry.has_ids(1000007) and registry.ids_of(placeholder) == (MOTHER,)


def test_exact_ids_link_and_invalid_or_missing_never_do() -> None:
    bad = MOTHER[:-1] + ("0" if MOTHER[-1] != "0" else "1")
    mentions = frame(
        mention("household_registry|A|subject", id_no=MOTHER, name="王芳"),
        mention("birth_approvals|B|wife", id_no=MOTHER, name="王芳"),
        mention("death_records|C|subject", id_no=bad, name="王芳"),
        mention("social_fee_cases|D|subject", name="王芳"),
    )
    plan = plan_links(mentions, id_keys={}, prior={})
    links = {link.mention_id: link for link in plan.resolved_links()}
    assert links["household_registry|A|subject"].person_key == links["birth_approvals|B|wife"].person_key
    assert links["household_registry|A|subject"].method == "id_exact"
    assert links["household_registry|A|subject"].match_probability == 1.0
    for mid in ("death_records|C|subject", "social_fee_cases|D|subject"):
        assert links[mid].method == "new" and links[mid].match_probability is None
    assert len({link.person_key for link in links.values()}) == 3
    assert plan.registry.new_ids == {MOTHER: links["household_registry|A|subject"].person_key}


def test_rerun_with_the_same_state_keeps_every_key() -> None:
    mentions = frame(
        mention("household_registry|A|subject", id_no=MOTHER, name="王芳"),
        mention("social_fee_cases|D|subject", name="李四"),
    )
    prior = {
        "household_registry|A|subject": PriorLink(1000001, "id_exact", 1.0),
        "social_fee_cases|D|subject": PriorLink(1000002, "new", None),
    }
    plan = plan_links(mentions, id_keys={MOTHER: 1000001}, prior=prior)
    assert [(link.person_key, link.method) for link in plan.resolved_links()] == [
        (1000001, "id_exact"),
        (1000002, "new"),
    ]
    assert not plan.registry.minted and not plan.registry.merges and not plan.registry.new_ids


def test_birth_certificate_links_by_number_and_merges_an_earlier_new_key() -> None:
    mentions = frame(
        mention("birth_certificates|C1|child", sex="1", birth_date="2014-03-01", mother_id=MOTHER),
        mention(
            "birth_registrations|R1|child", id_no=CHILD, sex="1", birth_date="2014-03-01", mother_id=MOTHER
        ),
    )
    # the certificate came first and got a key of its own; the registry already knew the child's id
    prior = {"birth_certificates|C1|child": PriorLink(1000005, "new", None)}
    plan = plan_links(
        mentions,
        id_keys={CHILD: 1000002},
        prior=prior,
        certificate_pairs=[("birth_certificates|C1|child", "birth_registrations|R1|child")],
    )
    links = {link.mention_id: link for link in plan.resolved_links()}
    assert links["birth_certificates|C1|child"].person_key == 1000002
    assert links["birth_certificates|C1|child"].method == "probabilistic"
    assert links["birth_certificates|C1|child"].match_probability == 1.0
    assert [(m.old_key, m.new_key, m.reason) for m in plan.registry.merges] == [
        (1000005, 1000002, "birth_certificate")
    ]


def test_birth_rule_by_mother_date_and_sex_and_not_for_twins() -> None:
    twin = make_id("43010220140301003")
    base = {"sex": "1", "birth_date": "2014-03-01", "mother_id": MOTHER}
    single = frame(
        mention("birth_certificates|C1|child", **base),
        mention("birth_registrations|R1|child", id_no=CHILD, name="张伟", **base),
    )
    plan = plan_links(single, id_keys={}, prior={}, thresholds=LinkThresholds(birth_rule=0.99))
    links = {link.mention_id: link for link in plan.resolved_links()}
    assert links["birth_certificates|C1|child"].person_key == links["birth_registrations|R1|child"].person_key
    assert links["birth_certificates|C1|child"].match_probability == 0.99
    twins = frame(
        mention("birth_certificates|C1|child", **base),
        mention("birth_registrations|R1|child", id_no=CHILD, name="张伟", **base),
        mention("birth_registrations|R2|child", id_no=twin, name="张强", **base),
    )
    links = {link.mention_id: link for link in plan_links(twins, id_keys={}, prior={}).resolved_links()}
    assert links["birth_certificates|C1|child"].method == "new"
    # a name that disagrees rules the pair out
    named = frame(
        mention("birth_certificates|C1|child", name="张三", **base),
        mention("birth_registrations|R1|child", id_no=CHILD, name="张伟", **base),
    )
    links = {link.mention_id: link for link in plan_links(named, id_keys={}, prior={}).resolved_links()}
    assert links["birth_certificates|C1|child"].method == "new"


def test_probabilistic_bands_review_and_id_corrections() -> None:
    typo = OTHER[:10] + ("9" if OTHER[10] != "9" else "8") + OTHER[11:]  # one wrong digit: invalid
    mentions = frame(
        mention("household_registry|A|subject", id_no=OTHER, name="李四", region_code="430102001001"),
        mention(
            "death_records|D1|subject",
            id_no=typo,
            name="李四",
            sex="1",
            birth_date="1950-02-02",
            region_code="430102001001",
        ),
        mention("prenatal_checks|P1|husband", name="李四", sex="1", region_code="430102001002"),
        mention("social_fee_cases|S1|subject", name="赵六"),
    )
    scorer = fake_scorer(
        {
            "death_records|D1|subject": (OTHER, 0.995),
            "prenatal_checks|P1|husband": (OTHER, 0.7),
            "social_fee_cases|S1|subject": (OTHER, 0.2),
        }
    )
    plan = plan_links(mentions, id_keys={}, prior={}, scorer=scorer)
    links = {link.mention_id: link for link in plan.resolved_links()}
    person = links["household_registry|A|subject"].person_key
    assert links["death_records|D1|subject"].person_key == person
    assert links["death_records|D1|subject"].method == "probabilistic"
    assert links["death_records|D1|subject"].match_probability == pytest.approx(0.995)
    assert links["prenatal_checks|P1|husband"].method == "new"
    assert links["prenatal_checks|P1|husband"].person_key != person
    assert links["social_fee_cases|S1|subject"].method == "new"
    [review] = plan.reviews
    assert review.mention_id == "prenatal_checks|P1|husband" and review.candidate_person_key == person
    assert review.candidate_mention_ids == ("household_registry|A|subject",)
    assert "name" in review.evidence_for and "region_code" in review.evidence_against
    [correction] = plan.corrections
    assert (correction.mention_id, correction.sent_id, correction.likely_id) == (
        "death_records|D1|subject",
        typo,
        OTHER,
    )
    assert plan.scored == 3


def test_a_link_never_merges_two_persons_holding_valid_ids() -> None:
    mentions = frame(
        mention("household_registry|A|subject", id_no=OTHER, name="李四"),
        mention("household_registry|B|subject", id_no=MOTHER, name="王芳"),
        mention("death_records|D1|subject", name="李四"),
    )
    prior = {
        "household_registry|A|subject": PriorLink(1000001, "id_exact", 1.0),
        "household_registry|B|subject": PriorLink(1000002, "id_exact", 1.0),
        "death_records|D1|subject": PriorLink(1000002, "probabilistic", 0.995),
    }
    scorer = fake_scorer({"death_records|D1|subject": (OTHER, 0.999)})
    plan = plan_links(mentions, id_keys={OTHER: 1000001, MOTHER: 1000002}, prior=prior, scorer=scorer)
    assert not plan.registry.merges
    links = {link.mention_id: link for link in plan.resolved_links()}
    assert links["death_records|D1|subject"].person_key == 1000001


def test_representative_persons_and_helpers() -> None:
    linked = frame(
        mention(
            "household_registry|A|subject",
            id_no=OTHER,
            name="李四",
            region_code="430102001001",
            household_no="H1",
            extract_date="2014-05-31",
        ),
        mention(
            "migrant_registrations|M|subject",
            id_no=OTHER,
            name="李四",
            region_code="430102001009",
            extract_date="2014-06-30",
        ),
        mention("death_records|D|subject", id_no=OTHER, name="李肆", extract_date="2014-06-30"),
    )
    linked["person_key"] = 7
    [person] = representative_persons(linked).to_dict("records")
    assert person["person_key"] == 7 and person["id_no"] == OTHER
    assert person["name"] == "李四" and person["sex"] == "1"
    assert person["birth_date"] == pd.Timestamp("1950-02-02")
    assert person["region_code"] == "430102001009" and person["household_no"] == "H1"
    assert person["mother_id"] is None
    assert closest_id("430102195002020039", ["110101199003071234", OTHER]) == OTHER
    agree, disagree = compare_attributes({"name": "李四", "sex": None}, {"name": "李四", "sex": "1"})
    assert (agree, disagree) == (("name",), ())
    scores = pd.DataFrame(
        {
            "mention_id": ["m", "m", "n"],
            "person_key": [2, 1, 3],
            "match_probability": [0.5, 0.5, 0.1],
            "evidence": ["", "", ""],
        }
    )
    assert best_candidates(scores)["person_key"].tolist() == [1, 3]


def test_thresholds_must_be_ordered(monkeypatch: pytest.MonkeyPatch) -> None:
    from popdata.linkage.thresholds import load_thresholds

    with pytest.raises(ValueError, match="above the link threshold"):
        LinkThresholds(link=0.9, review=0.95)
    monkeypatch.setenv("POPDATA_LINK_THRESHOLD", "0.95")
    assert load_thresholds().link == 0.95


WIFE = make_id("43010219880101002")  # the same woman as MOTHER
HUSBAND = make_id("43010219860505003")  # a man born 1986-05-05
TWIN_A = make_id("43010220140301001")
TWIN_B = make_id("43010220140301003")


def multi_scorer(table: dict[str, list[tuple[str, float]]]) -> Any:
    """A scorer returning, per mention, several candidates given by their valid ids."""

    def score(mentions: pd.DataFrame, persons: pd.DataFrame) -> pd.DataFrame:
        by_id = dict(zip(persons["id_no"], persons["person_key"], strict=True))
        rows = [
            {"mention_id": mid, "person_key": by_id[i], "match_probability": p, "evidence": "name=exact"}
            for mid in mentions["mention_id"]
            for i, p in table.get(mid, [])
        ]
        return pd.DataFrame(rows, columns=["mention_id", "person_key", "match_probability", "evidence"])

    return score


def couple(husband_household: str) -> pd.DataFrame:
    """A husband and a wife in the registry, and a birth approval naming him without an id."""
    return frame(
        mention("household_registry|H|subject", id_no=HUSBAND, name="张强", household_no=husband_household),
        mention("household_registry|W|subject", id_no=WIFE, name="王芳", household_no="100"),
        mention("birth_approvals|SY1|wife", id_no=WIFE, name="王芳", sex="2"),
        mention("birth_approvals|SY1|husband", name="张强", sex="1"),
    )


def test_relation_rule_links_a_review_candidate_of_the_same_household() -> None:
    scorer = multi_scorer({"birth_approvals|SY1|husband": [(HUSBAND, 0.9)]})
    plan = plan_links(couple("100"), id_keys={}, prior={}, scorer=scorer)
    links = {link.mention_id: link for link in plan.resolved_links()}
    husband = links["birth_approvals|SY1|husband"]
    assert husband.person_key == links["household_registry|H|subject"].person_key
    assert husband.method == "probabilistic"
    # odds 9 x Bayes factor 1000 -> 9000 / 9001
    assert husband.match_probability == pytest.approx(9000 / 9001)
    assert not plan.reviews
    # another household and never named together: no relation, the pair goes to clerical review
    plan = plan_links(couple("200"), id_keys={}, prior={}, scorer=scorer)
    links = {link.mention_id: link for link in plan.resolved_links()}
    assert links["birth_approvals|SY1|husband"].method == "new"
    assert [r.mention_id for r in plan.reviews] == ["birth_approvals|SY1|husband"]


def test_relation_rule_uses_persons_named_together_elsewhere_and_stays_stable() -> None:
    mentions = frame(
        mention("prenatal_checks|P1|wife", id_no=WIFE, name="王芳"),
        mention("prenatal_checks|P1|husband", id_no=HUSBAND, name="张强"),
        mention("birth_approvals|SY1|wife", id_no=WIFE, name="王芳"),
        mention("birth_approvals|SY1|husband", name="张强", sex="1"),
    )
    scorer = multi_scorer({"birth_approvals|SY1|husband": [(HUSBAND, 0.6)]})
    plan = plan_links(mentions, id_keys={}, prior={}, scorer=scorer)
    links = {link.mention_id: link for link in plan.resolved_links()}
    assert links["birth_approvals|SY1|husband"].person_key == links["prenatal_checks|P1|husband"].person_key
    # below the review threshold the relation is not consulted
    low = multi_scorer({"birth_approvals|SY1|husband": [(HUSBAND, 0.3)]})
    assert (
        plan_links(mentions, id_keys={}, prior={}, scorer=low).links["birth_approvals|SY1|husband"].method
        == "new"
    )
    # a re-run from the written state changes nothing
    keys = {HUSBAND: 1000001, WIFE: 1000002}
    prior = {
        link.mention_id: PriorLink(
            keys[HUSBAND]
            if link.person_key == links["prenatal_checks|P1|husband"].person_key
            else keys[WIFE],
            link.method,
            link.match_probability,
        )
        for link in links.values()
    }
    again = plan_links(mentions, id_keys=keys, prior=prior, scorer=scorer)
    assert not again.registry.merges and not again.registry.minted
    assert {m: (link.person_key, link.method) for m, link in again.links.items()} == {
        m: (p.person_key, p.method) for m, p in prior.items()
    }


def test_relation_rule_does_not_choose_between_twins() -> None:
    mentions = frame(
        mention("household_registry|M|subject", id_no=MOTHER, name="王芳"),
        mention("household_registry|A|subject", id_no=TWIN_A, name="李一", mother_id=MOTHER),
        mention("household_registry|B|subject", id_no=TWIN_B, name="李二", mother_id=MOTHER),
        mention("birth_certificates|C1|child", sex="1", birth_date="2014-03-01"),
        mention("birth_certificates|C1|mother", id_no=MOTHER, name="王芳"),
    )
    twins = multi_scorer({"birth_certificates|C1|child": [(TWIN_A, 0.9), (TWIN_B, 0.8)]})
    plan = plan_links(mentions, id_keys={}, prior={}, scorer=twins)
    assert plan.links["birth_certificates|C1|child"].method == "new"
    one = multi_scorer({"birth_certificates|C1|child": [(TWIN_A, 0.9)]})
    plan = plan_links(mentions, id_keys={}, prior={}, scorer=one)
    links = {link.mention_id: link for link in plan.resolved_links()}
    assert links["birth_certificates|C1|child"].person_key == links["household_registry|A|subject"].person_key


def test_representative_region_prefers_a_village_code() -> None:
    linked = frame(
        mention(
            "household_registry|A|subject", id_no=OTHER, region_code="430102001001", extract_date="2014-05-31"
        ),
        mention(
            "household_registry|B|subject", id_no=OTHER, region_code="430102001000", extract_date="2014-06-30"
        ),
    )
    linked["person_key"] = 7
    assert representative_persons(linked)["region_code"].tolist() == ["430102001001"]
    linked = linked.iloc[1:].copy()
    assert representative_persons(linked)["region_code"].tolist() == ["430102001000"]


def _same(left: Any, right: Any) -> bool:
    """Equal values of the same type (NaN and NaT equal themselves)."""
    if type(left) is not type(right):
        return False
    return bool(left == right) or bool(pd.isna(left) and pd.isna(right))


def test_frame_rows_are_the_records_of_to_dict_built_on_demand() -> None:
    mentions = frame(
        mention("household_registry|A|subject", id_no=OTHER, name="李四", sex="1", birth_date="1950-02-02"),
        mention("death_records|D|subject", name="李肆", household_no="H1"),
        mention("birth_certificates|C1|child", sex="9", mother_id=MOTHER),
    )
    linked = mentions.copy()
    linked["person_key"] = [7, 8, 9]
    persons = representative_persons(linked.iloc[:1])  # int keys, Arrow-backed and datetime columns
    for data, key in ((mentions, "mention_id"), (persons, "person_key")):
        records: dict[Any, dict[Any, Any]] = {r[key]: r for r in data.to_dict("records")}
        rows = FrameRows(data, key)
        assert list(rows) == list(records) and len(rows) == len(records)
        for k, record in records.items():
            assert k in rows
            got = rows[k]
            assert list(got) == list(record)
            assert all(_same(got[c], v) for c, v in record.items()), (got, record)
    rows = FrameRows(mentions, "mention_id")
    assert "nobody|X|subject" not in rows and rows.get("nobody|X|subject", {}) == {}
    with pytest.raises(KeyError):
        rows["nobody|X|subject"]
    # a repeated key: listed once, the last row kept (as a dict comprehension keeps it)
    twice = FrameRows(pd.DataFrame({"k": ["a", "b", "a"], "v": [1, 2, 3]}), "k")
    assert list(twice) == ["a", "b"] and len(twice) == 2
    assert twice["a"] == {"k": "a", "v": 3} and "b" in twice and "c" not in twice


def test_a_relation_graph_of_some_records_answers_as_the_whole_graph() -> None:
    mentions = frame(
        mention("prenatal_checks|P1|wife", id_no=WIFE, name="王芳", household_no="100"),
        mention("prenatal_checks|P1|husband", id_no=HUSBAND, name="张强"),
        mention("birth_approvals|SY1|wife", id_no=WIFE, name="王芳"),
        mention("birth_approvals|SY1|husband", name="张强", sex="1"),
        mention("household_registry|H|subject", id_no=HUSBAND, household_no="100"),
        mention("household_registry|O|subject", id_no=OTHER, household_no="100"),
        mention("household_registry|A|subject", id_no=TWIN_A, mother_id=WIFE),
    )
    plan = plan_links(mentions, id_keys={}, prior={})
    registry = plan.registry
    key = {i: k for i in (WIFE, HUSBAND, OTHER, TWIN_A) if (k := registry.key_of_id(i)) is not None}
    whole = RelationGraph.build(mentions, plan.links, registry, 0.9)
    part = RelationGraph.build(
        mentions, plan.links, registry, 0.9, records={"birth_approvals|SY1"}, keys=[key[TWIN_A]]
    )
    assert dict(part.record_keys) == {"birth_approvals|SY1": {"wife": key[WIFE]}}
    assert set(part.records_of) == {key[WIFE], key[TWIN_A]} < set(whole.records_of)
    record = "birth_approvals|SY1"
    for a in (key[WIFE], key[TWIN_A]):
        for b in (key[WIFE], key[TWIN_A]):
            assert part.relations(a, b, record) == whole.relations(a, b, record)
    assert part.relations(key[TWIN_A], key[WIFE], record) == ("mother",)
    assert whole.relations(key[WIFE], key[HUSBAND], record) == ("named_together", "household")
