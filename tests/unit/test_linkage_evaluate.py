"""Scoring harness: pairwise counts on tiny frames computed by hand, truth key mapping, merges."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import pandas as pd
import pytest

from popdata.linkage.evaluate import (
    EvaluationReport,
    evaluate,
    load_truth,
    map_truth_keys,
    resolve_merges,
)


def _truth(rows: list[tuple[str, str, str, str]], **extra: list[bool]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["feed", "source_key", "role", "person_id"])
    for name, values in extra.items():
        frame[name] = values
    return frame


def _link(rows: list[tuple[str, str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["feed", "source_key", "role", "person_key", "method"])


def _group(report: EvaluationReport, feed: str, role: str) -> tuple[int, int, int]:
    g = next(g for g in report.groups if (g.feed, g.role) == (feed, role))
    return g.pairs.tp, g.pairs.predicted, g.pairs.true


# Five mentions, truth persons A A A B B; predicted keys k1 k1 k2 k2 k2.
#   true pairs: C(3,2) + C(2,2) = 4; predicted pairs: C(2,2) + C(3,2) = 4
#   cells: (k1,A)=2 -> 1, (k2,A)=1 -> 0, (k2,B)=2 -> 1: TP = 2
TRUTH = _truth(
    [
        ("reg", "1", "subject", "A"),
        ("reg", "2", "subject", "A"),
        ("bc", "c1", "mother", "A"),
        ("bc", "c1", "child", "B"),
        ("reg", "3", "subject", "B"),
    ]
)
LINK = _link(
    [
        ("reg", "1", "subject", "k1", "id_exact"),
        ("reg", "2", "subject", "k1", "id_exact"),
        ("bc", "c1", "mother", "k2", "probabilistic"),
        ("bc", "c1", "child", "k2", "new"),
        ("reg", "3", "subject", "k2", "id_exact"),
    ]
)


def _brute(link: pd.DataFrame, truth: pd.DataFrame) -> tuple[int, int, int]:
    """Enumerate pairs (the definition) to check the contingency arithmetic."""
    m = link.merge(truth, on=["feed", "source_key", "role"])
    rows = list(m[["person_key", "person_id"]].itertuples(index=False))
    pred = sum(a.person_key == b.person_key for a, b in combinations(rows, 2))
    true = sum(a.person_id == b.person_id for a, b in combinations(rows, 2))
    tp = sum(a.person_key == b.person_key and a.person_id == b.person_id for a, b in combinations(rows, 2))
    return tp, pred, true


def test_overall_pairwise_counts_by_hand() -> None:
    report = evaluate(LINK, TRUTH)
    pairs = report.overall.pairs
    assert (pairs.tp, pairs.predicted, pairs.true) == (2, 4, 4) == _brute(LINK, TRUTH)
    assert pairs.precision == pytest.approx(0.5)
    assert pairs.recall == pytest.approx(0.5)
    assert pairs.f1 == pytest.approx(0.5)
    assert not report.passed
    assert report.methods == {"id_exact": 3, "probabilistic": 1, "new": 1}


def test_per_feed_role_counts_pairs_touching_the_group() -> None:
    report = evaluate(LINK, TRUTH)
    # reg/subject = mentions 1, 2, 3. Pairs with at least one of them:
    #   true: A{1,2,bc-m}: all 3 pairs touch; B{bc-c,3}: 1 -> 4
    #   predicted: k1{1,2}: 1; k2{bc-m,bc-c,3}: (m,3),(c,3) -> 3
    #   TP: (k1,A){1,2}: 1; (k2,B){bc-c,3}: 1 -> 2
    assert _group(report, "reg", "subject") == (2, 3, 4)
    # bc/mother = one mention (A, k2): true pairs (m,1),(m,2) = 2; predicted (m,c),(m,3) = 2; TP 0
    assert _group(report, "bc", "mother") == (0, 2, 2)
    # bc/child = one mention (B, k2): true (c,3) = 1; predicted (c,m),(c,3) = 2; TP (c,3) = 1
    assert _group(report, "bc", "child") == (1, 2, 1)
    child = next(g for g in report.groups if g.role == "child")
    assert child.pairs.precision == pytest.approx(0.5)
    assert not child.passed
    assert child.methods == {"new": 1}


def test_perfect_links_pass_and_singletons_are_vacuous() -> None:
    link = TRUTH.rename(columns={"person_id": "person_key"}).assign(method="id_exact")
    report = evaluate(link, TRUTH)
    assert report.passed
    assert report.overall.pairs.precision == report.overall.pairs.recall == 1.0
    solo = evaluate(link.iloc[[0]], TRUTH.iloc[[0]])
    assert solo.overall.pairs.predicted == 0
    assert solo.overall.pairs.precision is None
    assert solo.passed  # no predicted pair cannot break precision
    empty = evaluate(link.iloc[0:0], TRUTH)
    assert empty.overall.scored == 0 and empty.missing_from_link == 5
    assert not empty.passed  # an empty record_link is not a pass


def test_contingency_matches_brute_force_on_a_random_frame() -> None:
    import numpy as np

    rng = np.random.default_rng(7)
    n = 300
    truth = _truth(
        [
            (f"f{rng.integers(3)}", str(i), ("subject", "mother")[i % 2], f"P{rng.integers(40)}")
            for i in range(n)
        ]
    )
    link = truth.copy()
    # mostly right, with some splits and merges
    noise = rng.random(n)
    keys = truth["person_id"].to_numpy().copy()
    keys[noise < 0.1] = [f"X{rng.integers(5)}" for _ in range(int((noise < 0.1).sum()))]
    link["person_key"] = keys
    link = link.drop(columns="person_id").assign(method="probabilistic")
    p = evaluate(link, truth).overall.pairs
    assert (p.tp, p.predicted, p.true) == _brute(link, truth)


def test_dedupe_conflicts_missing_and_unknown() -> None:
    truth = _truth(
        [
            ("reg", "1", "subject", "A"),
            ("reg", "1", "subject", "A"),  # re-sent: one mention
            ("reg", "2", "subject", "A"),
            ("reg", "9", "subject", "A"),  # conflict: two persons
            ("reg", "9", "subject", "B"),
            ("reg", "4", "subject", "C"),  # accepted, not linked
            ("reg", "5", "subject", "D"),  # rejected line, not linked
            ("reg", "6", "subject", "E"),  # unmapped key
        ],
        accepted=[True, True, True, True, True, True, False, True],
        mapped=[True, True, True, True, True, True, True, False],
    )
    link = _link(
        [
            ("reg", "1", "subject", "k1", "id_exact"),
            ("reg", "2", "subject", "k1", "id_exact"),
            ("reg", "2", "subject", "k7", "id_exact"),  # a second key for the same mention
            ("reg", "9", "subject", "k9", "id_exact"),
            ("reg", "77", "subject", "k77", "new"),  # unknown to the truth
        ]
    )
    r = evaluate(link, truth)
    assert r.truth_mentions == 5  # 1, 2, 9, 4, 5
    assert r.truth_conflicts == 1
    assert r.truth_unmapped == 1
    assert r.truth_not_accepted == 1
    assert r.link_mentions == 4
    assert r.link_conflicts == 1
    assert r.link_without_truth == 2  # 9 (conflict, not scored) and 77
    assert r.missing_from_link == 1
    assert r.examples["missing_from_link"][0]["source_key"] == "4"
    assert r.overall.accepted == 3  # 1, 2, 4
    assert r.overall.linked == 2
    assert r.overall.coverage == pytest.approx(2 / 3)
    assert r.overall.scored == 2
    assert (r.overall.pairs.tp, r.overall.pairs.predicted, r.overall.pairs.true) == (1, 1, 1)
    assert {e["person_id"] for e in r.examples["truth_conflicts"]} == {"A", "B"}


def test_report_renders_and_serialises() -> None:
    report = evaluate(LINK, TRUTH)
    table = report.format_table()
    assert "FAIL" in table and "reg" in table and "verdict: FAIL" in table
    data = json.loads(json.dumps(report.to_dict()))
    assert data["overall"]["tp_pairs"] == 2
    assert data["passed"] is False
    assert {g["role"] for g in data["groups"]} == {"subject", "mother", "child"}


def test_resolve_merges_follows_chains_and_survives_cycles() -> None:
    merges = pd.DataFrame({"old_key": ["a", "b", "x", "y"], "new_key": ["b", "c", "y", "x"]})
    out = resolve_merges(pd.Series(["a", "b", "c", "d", "x"]), merges)
    assert out.tolist()[:4] == ["c", "c", "c", "d"]
    assert out.tolist()[4] in {"x", "y"}
    assert resolve_merges(pd.Series(["a"]), merges.iloc[0:0]).tolist() == ["a"]


def test_map_truth_keys_uses_the_sent_value_normalised() -> None:
    records = pd.DataFrame(
        {
            "feed": ["household_registry"] * 4 + ["assistance_rolls"] * 2 + ["birth_certificates"],
            "file_name": ["r.csv"] * 4 + ["a.xlsx"] * 2 + ["b.csv"],
            "line_no": ["2", "3", "4", "5", "2", "3", "2"],
            "source_key": [
                "120115194809257755",
                "120115194809257755",
                "120115194809257755",
                "120115194809257755",
                "120115194809257755|低保|2013",
                "120115194809257755|低保|2013",
                "Q496157222",
            ],
            "role": ["subject"] * 6 + ["child"],
            "person_id": ["P1"] * 7,
        }
    )
    defects = pd.DataFrame(
        [
            # 15-digit (pre defect) then full-width and a stray space: the last cell defect wins
            ("household_registry", "r.csv", "2", "id_no", "id_15_digit", "120115480925775"),
            (
                "household_registry",
                "r.csv",
                "2",
                "id_no",
                "fullwidth_digits",
                "１２０１１５４８０９２５７７５",
            ),
            ("household_registry", "r.csv", "2", "id_no", "stray_space", "１２０１１５４８０９２５７７５ "),
            # wrong check character: kept as sent (never corrected)
            ("household_registry", "r.csv", "3", "id_no", "wrong_check_character", "120115194809257750"),
            # 15-digit alone: upgraded back to the same 18-digit number
            ("household_registry", "r.csv", "4", "id_no", "id_15_digit", "120115480925775"),
            # Excel scientific notation: digits lost, cannot be mapped
            ("assistance_rolls", "a.xlsx", "2", "id_no", "scientific_notation_id", "1.2011519480925776e+17"),
            ("assistance_rolls", "a.xlsx", "3", "id_no", "leading_apostrophe", "'120115194809257755"),
            ("household_registry", "r.csv", "5", "name", "stray_space", " 于连山"),  # not a key column
        ],
        columns=["feed", "file_name", "line_no", "column", "kind", "value"],
    )
    out = map_truth_keys(records, defects)
    assert out["source_key"].tolist() == [
        "120115194809257755",
        "120115194809257750",
        "120115194809257755",
        "120115194809257755",
        "120115194809257755|低保|2013",  # unmapped: the truth key is kept for the record
        "120115194809257755|低保|2013",
        "Q496157222",
    ]
    assert out["mapped"].tolist() == [True, True, True, True, False, True, True]
    assert out["truth_key"].tolist() == records["source_key"].tolist()


def test_load_truth_drops_quarantined_files_and_flags_rejected_lines(tmp_path: Path) -> None:
    (tmp_path / "records.csv").write_text(
        "agency,feed,file_name,line_no,source_key,role,person_id\n"
        "health,birth_certificates,b1.csv,2,C1,child,P1\n"
        "health,birth_certificates,b1.csv,3,C2,child,P2\n"
        "health,birth_certificates,bq.csv,2,C9,child,P9\n"
        "police,household_registry,r1.csv,2,120115194809257755,subject,P1\n"
        "police,household_registry,r2.csv,2,120115195308017942,subject,P2\n",
        encoding="utf-8",
    )
    (tmp_path / "files.csv").write_text(
        "agency,feed,file_name,extract_date,expected_status\n"
        "health,birth_certificates,b1.csv,2014-01-31,loaded_with_rejections\n"
        "health,birth_certificates,bq.csv,2014-02-28,quarantined\n"
        "police,household_registry,r1.csv,2014-04-30,loaded\n"
        "police,household_registry,r2.csv,2014-05-31,loaded\n"
        "police,household_registry,r3.csv,2014-06-30,quarantined\n",
        encoding="utf-8",
    )
    (tmp_path / "defects.csv").write_text(
        "agency,feed,file_name,line_no,physical_line,column,kind,value,rejects_row\n"
        "health,birth_certificates,b1.csv,3,3,name,damaged_text,??,true\n"
        "health,birth_certificates,bq.csv,0,0,,no_data_rows,,false\n",
        encoding="utf-8",
    )
    truth = load_truth(tmp_path)
    assert truth["source_key"].tolist() == ["C1", "C2", "120115194809257755", "120115195308017942"]
    assert truth["accepted"].tolist() == [True, False, True, True]
    # the latest delivered registry snapshot is r2 (r3 is quarantined): r1 is superseded
    assert truth["current"].tolist() == [True, True, False, True]
    assert truth["mapped"].all()


def test_superseded_snapshot_mentions_are_scored_but_not_required() -> None:
    truth = _truth(
        [("reg", "1", "subject", "A"), ("reg", "2", "subject", "A"), ("reg", "3", "subject", "B")],
        current=[False, True, True],
    )
    link = _link([("reg", "2", "subject", "k1", "id_exact"), ("reg", "3", "subject", "k2", "new")])
    r = evaluate(link, truth)
    assert r.truth_superseded == 1
    assert r.missing_from_link == 0
    assert r.overall.accepted == 2 and r.overall.coverage == 1.0
    both = evaluate(pd.concat([link, _link([("reg", "1", "subject", "k1", "id_exact")])]), truth)
    assert (both.overall.pairs.tp, both.overall.pairs.predicted, both.overall.pairs.true) == (1, 1, 1)
