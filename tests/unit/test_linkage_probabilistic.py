"""Splink scoring of mentions against persons (popdata.linkage.probabilistic)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from popdata.linkage import probabilistic as prob
from popdata.linkage.comparisons import COMPARISONS

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"


def _persons(n: int = 400, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = [
        SURNAMES[rng.integers(len(SURNAMES))] + "".join(GIVEN[rng.integers(len(GIVEN))] for _ in range(2))
        for _ in range(n)
    ]
    dob = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 365 * 60, n), unit="D")
    return pd.DataFrame(
        {
            "person_key": np.arange(1, n + 1, dtype="int64"),
            "id_no": [f"120115{d:%Y%m%d}{i:03d}X" for i, d in enumerate(dob)],
            "name": names,
            "sex": rng.choice(["1", "2"], n),
            "birth_date": dob,
            "region_code": [f"120115{100 + t:03d}{200 + v:03d}" for t, v in rng.integers(0, 5, (n, 2))],
            "household_no": [f"1000{i // 3:05d}" for i in range(n)],
            "mother_id": [None] * n,
        }
    )


def _mentions(persons: pd.DataFrame) -> pd.DataFrame:
    """Each person mentioned once without an id; every third with a homophone/typo/transposed date."""
    m = persons.drop(columns=["person_key"]).copy()
    m.insert(0, "mention_id", [f"m{k}" for k in persons["person_key"]])
    m["id_no"] = None
    m["id_valid"] = False
    m["household_no"] = None
    m.loc[m.index % 3 == 1, "name"] = m.loc[m.index % 3 == 1, "name"].str.slice(0, 2) + "玮"
    m.loc[m.index % 3 == 2, "birth_date"] = m.loc[m.index % 3 == 2, "birth_date"] + pd.Timedelta(days=1)
    m["feed"] = "birth_certificates"
    m["source_key"] = m["mention_id"]
    m["role"] = "child"
    m["extract_date"] = pd.Timestamp("2014-06-30")
    return m


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    persons = _persons()
    mentions = _mentions(persons)
    mentions["id_no"] = persons["id_no"].where(persons.index % 2 == 0, None).to_numpy()  # ids for EM
    out = tmp_path_factory.mktemp("model") / "model.json"
    return prob.train_model(mentions, persons, out, u_max_pairs=1e5)


def test_train_model_writes_loadable_smoothed_json(trained_model: Path) -> None:
    settings = prob.load_model_settings(trained_model)
    assert settings["link_type"] == "link_only"
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level"):
                assert level["m_probability"] >= prob.M_FLOOR / 2
                assert level["u_probability"] is not None


def test_default_model_artefact_loads() -> None:
    settings = prob.load_model_settings()
    names = [c["output_column_name"] for c in settings["comparisons"]]
    assert names == [c.name for c in COMPARISONS]


def test_missing_model_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        prob.load_model_settings(tmp_path / "nope.json")


def test_score_candidates_ranks_the_right_person_first() -> None:
    persons = _persons()
    mentions = _mentions(persons).iloc[:30]
    res = prob.score_candidates(mentions, persons)  # the versioned model
    assert list(res.columns) == prob.OUTPUT_COLUMNS
    assert res["person_key"].dtype == "int64"
    top = res.drop_duplicates("mention_id")
    assert len(top) == len(mentions)
    expected = top["mention_id"].str.slice(1).astype("int64")
    assert (top["person_key"].to_numpy() == expected.to_numpy()).all()
    assert (top["match_probability"] > 0.9).mean() >= 0.9
    exact = top[top["mention_id"] == "m1"].iloc[0]
    assert exact["evidence"].startswith("name=exact;dob=exact;sex=agree;region=village;id=null")
    assert (res["match_probability"] >= 0.01).all()


def test_evidence_has_no_raw_values(trained_model: Path) -> None:
    persons = _persons()
    mentions = _mentions(persons).iloc[:20]
    res = prob.score_candidates(mentions, persons, model_path=trained_model, min_probability=0.0)
    values = {str(v) for col in ("name", "id_no", "region_code", "household_no") for v in persons[col]}
    values |= {f"{d:%Y%m%d}" for d in persons["birth_date"]} | {
        f"{d:%Y-%m-%d}" for d in persons["birth_date"]
    }
    for ev in res["evidence"]:
        keys = [part.split("=")[0] for part in ev.split(";")]
        assert keys == [c.key for c in COMPARISONS]
        assert not any(v in ev for v in values)
        assert all(part.split("=")[1].replace("_", "").isalpha() for part in ev.split(";"))


def test_prior_follows_the_number_of_persons(trained_model: Path) -> None:
    persons = _persons()
    mention = _mentions(persons).iloc[[1]]
    small = prob.score_candidates(mention, persons.iloc[:50], model_path=trained_model, min_probability=0.0)
    large = prob.score_candidates(mention, persons, model_path=trained_model, min_probability=0.0)
    w_small = small.loc[small["person_key"] == 2, "match_weight"].iloc[0]
    w_large = large.loc[large["person_key"] == 2, "match_weight"].iloc[0]
    assert w_small > w_large


def test_empty_inputs_give_empty_frame() -> None:
    res = prob.score_candidates(_mentions(_persons()).iloc[:0], _persons())
    assert list(res.columns) == prob.OUTPUT_COLUMNS and res.empty


def test_smooth_parameters_floors_zero_m() -> None:
    model = {
        "comparisons": [
            {
                "comparison_levels": [
                    {"is_null_level": True},
                    {"m_probability": 1.0, "u_probability": 0.01},
                    {"m_probability": 0.0, "u_probability": None},
                ]
            }
        ]
    }
    out = prob.smooth_parameters(json.loads(json.dumps(model)), m_floor=0.01)
    levels = out["comparisons"][0]["comparison_levels"]
    assert levels[2]["m_probability"] == pytest.approx(0.01 / 1.01)
    assert levels[2]["u_probability"] == levels[2]["m_probability"]
    assert sum(lv["m_probability"] for lv in levels[1:]) == pytest.approx(1.0)
