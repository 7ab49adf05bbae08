"""Training/evaluation frames for the linkage model from a generated county's truth files.

Persons come from ``truth/persons.csv``; one mention per row of ``truth/records.csv``, made
from the person's true values and perturbed: id dropped (35 %) or one digit changed (5 %),
homophone given name (4 %), one character replaced (3 %), name missing (1 %), day/month
transposed (3 %), one date digit changed (3 %), date missing (1 %), sex missing (1 %), region
missing (20 %) / cut to the town (10 %) / another village (5 %), household number missing
(60 %), mother's id only on child mentions (80 %).

Usage (see README.md beside this file)::

    python include/popdata/linkage/model/make_training_frames.py TRUTH_DIR OUT_PREFIX [SEED]

writes OUT_PREFIX_mentions.pkl, OUT_PREFIX_persons.pkl, OUT_PREFIX_truth.pkl.

"""

from __future__ import annotations

import numpy as np
import pandas as pd

from popdata.generate.names import homophone_variant


def build(
    truth_dir: str, seed: int = 1, id_drop: float = 0.35
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(mentions, persons, truth: mention_id → person_key) for the county in ``truth_dir``."""
    rng = np.random.default_rng(seed)
    p = pd.read_csv(f"{truth_dir}/persons.csv", dtype=str, keep_default_na=False)
    p = p.replace({"": None})
    id_of = dict(zip(p.person_id, p.id_no, strict=False))
    persons = pd.DataFrame(
        {
            "person_key": p.person_id.str[1:].astype("int64"),
            "id_no": p.id_no,
            "name": p.name,
            "sex": p.sex.map({"M": "1", "F": "2"}),
            "birth_date": pd.to_datetime(p.birth_date, errors="coerce"),
            "region_code": p.region_code,
            "household_no": p.household_no,
            "mother_id": p.mother_person_id.map(id_of),
        }
    )
    r = pd.read_csv(f"{truth_dir}/records.csv", dtype=str, keep_default_na=False)
    n = len(r)
    pi = persons.set_index(persons.person_key)
    keys = r.person_id.str[1:].astype("int64").to_numpy()
    base = pi.loc[keys].reset_index(drop=True)
    m = base.copy()
    m.insert(0, "mention_id", [f"M{i:08d}" for i in range(n)])
    m["feed"] = r.feed.to_numpy()
    m["source_key"] = r.source_key.to_numpy()
    m["role"] = r.role.to_numpy()

    def u() -> np.ndarray:
        return rng.random(n)

    # ids
    ids = m.id_no.to_numpy(dtype=object).copy()
    x = u()
    ids[x < id_drop] = None
    bad = (x >= id_drop) & (x < id_drop + 0.05)
    for i in np.flatnonzero(bad):
        v = ids[i]
        if v:
            pos = int(rng.integers(0, 18))
            c = str((int(v[pos]) + 1) % 10) if v[pos].isdigit() else "0"
            ids[i] = v[:pos] + c + v[pos + 1 :]
    m["id_no"] = ids
    m["id_valid"] = [(v is not None) and (v == o) for v, o in zip(ids, base.id_no, strict=False)]
    # names
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"
    names = m.name.to_numpy(dtype=object).copy()
    x = u()
    for i in np.flatnonzero(x < 0.04):
        v = homophone_variant(names[i], rng) if names[i] else None
        if v:
            names[i] = v
    for i in np.flatnonzero((x >= 0.04) & (x < 0.07)):
        v = names[i]
        if v and len(v) >= 2:
            pos = int(rng.integers(1, len(v)))
            names[i] = v[:pos] + given[int(rng.integers(0, len(given)))] + v[pos + 1 :]
    names[x > 0.99] = None
    m["name"] = names
    # dob
    bd = m.birth_date.copy()
    x = u()
    for j in np.flatnonzero(x < 0.03).tolist():
        d = bd.iloc[j]
        if pd.notna(d) and d.day <= 12 and d.day != d.month:
            bd.iloc[j] = pd.Timestamp(d.year, d.day, d.month)
    for j in np.flatnonzero((x >= 0.03) & (x < 0.06)).tolist():
        d = bd.iloc[j]
        if pd.notna(d):
            s = d.strftime("%Y%m%d")
            for _ in range(10):
                pos = int(rng.integers(2, 8))
                s2 = s[:pos] + str(int(rng.integers(0, 10))) + s[pos + 1 :]
                t = pd.to_datetime(s2, format="%Y%m%d", errors="coerce")
                if pd.notna(t) and s2 != s:
                    bd.iloc[j] = t
                    break
    bd[x > 0.99] = pd.NaT
    m["birth_date"] = bd
    sex = m.sex.to_numpy(dtype=object).copy()
    sex[u() < 0.01] = None
    m["sex"] = sex
    reg = m.region_code.to_numpy(dtype=object).copy()
    x = u()
    allreg = persons.region_code.dropna().unique()
    for i in np.flatnonzero(x < 0.2):
        reg[i] = None
    for i in np.flatnonzero((x >= 0.2) & (x < 0.3)):
        if reg[i]:
            reg[i] = reg[i][:9] + "000"
    for i in np.flatnonzero((x >= 0.3) & (x < 0.35)):
        reg[i] = allreg[int(rng.integers(0, len(allreg)))]
    m["region_code"] = reg
    hh = m.household_no.to_numpy(dtype=object).copy()
    hh[u() < 0.6] = None
    m["household_no"] = hh
    mo = m.mother_id.to_numpy(dtype=object).copy()
    mo[(m.role.to_numpy() != "child") | (u() < 0.2)] = None
    m["mother_id"] = mo
    m["extract_date"] = pd.Timestamp("2014-06-30")
    truth = pd.Series(keys, index=m.mention_id, name="person_key")
    return m, persons, truth


if __name__ == "__main__":
    import sys

    mentions, persons, truth = build(sys.argv[1], seed=int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    prefix = sys.argv[2]
    mentions.drop(columns=["person_key"]).to_pickle(f"{prefix}_mentions.pkl")
    persons.to_pickle(f"{prefix}_persons.pkl")
    truth.to_pickle(f"{prefix}_truth.pkl")
