"""Health feeds (卫生健康委 / hospitals): birth certificates, death records, prenatal checks.

All three are incremental UTF-8 CSVs with a BOM. A birth certificate (出生医学证明) is
issued days after a hospital birth; a death certificate (死亡医学证明) is reported by the
hospital or township health centre (卫生院); free pre-pregnancy checks (免费孕前优生健康
检查) are done by couples planning a pregnancy, most months before a birth.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from popdata.generate.common import (
    add_days,
    couples,
    pre_defects,
    random_codes,
    town_name_of,
    yearly_numbers,
)
from popdata.generate.events import Plan
from popdata.generate.feeds import BIRTH_CERTIFICATES, DEATH_RECORDS, PRENATAL_CHECKS
from popdata.generate.population import Population
from popdata.generate.reference import region_names
from popdata.generate.schedule import incremental_periods
from popdata.generate.writer import FeedTable, Group

UTF8_BOM = Group(seq=None, fmt="csv", encoding="utf-8-sig", office="county")

CAUSES_OLD = (
    "I21.9",
    "I63.9",
    "I64",
    "C34.9",
    "C16.9",
    "C22.0",
    "C15.9",
    "J44.9",
    "J18.9",
    "E14.9",
    "I50.9",
    "N18.9",
    "I10",
)
CAUSES_YOUNG = ("V89.2", "W19", "C34.9", "I21.9", "K74.6", "X70", "C22.0", "I64", "W69")


def _facilities(
    pop: Population, region: np.ndarray, rng: np.random.Generator, p_hospital: float
) -> list[str]:
    """County hospitals, or the township health centre (卫生院) of the person's town."""
    ref = region_names()
    towns = town_name_of(pop)
    out: list[str] = []
    u = rng.random(len(region))
    h = rng.integers(len(ref.hospitals), size=len(region))
    for code, x, k in zip(region, u, h, strict=True):
        town = towns.get(str(code), "")
        if x < p_hospital or not town or town.endswith("街道"):
            out.append(ref.hospitals[int(k)])
        else:
            out.append(town + "卫生院")
    return out


def birth_certificates(pop: Population, plan: Plan, rng: np.random.Generator, end: dt.date) -> FeedTable:
    """One certificate per hospital birth, in the extract of its issue date."""
    b = pop.births
    p = pop.persons
    sel = np.flatnonzero(plan.has_cert)
    n = len(sel)
    child = b["child"].to_numpy()[sel]
    mother = b["mother"].to_numpy()[sel]
    father = b["father"].to_numpy()[sel]
    names = p["name"].to_numpy()
    ids = p["id_no"].to_numpy()
    region = p["region_code"].to_numpy()[mother]
    preterm = rng.random(n) < 0.08
    weeks = np.where(preterm, rng.integers(32, 37, n), rng.integers(37, 42, n))
    weight = np.round(rng.normal(3300, 380, n) - np.where(preterm, 700, 0), -1)
    weight = np.clip(weight, 1500, 4900).astype(np.int64)
    named = rng.random(n) < 0.3
    father_known = (father >= 0) & (rng.random(n) < 0.93)
    frame = pd.DataFrame(
        {
            "cert_no": random_codes(rng, n, "KLMNOPQR", 9),
            "child_name": np.where(named, names[child], ""),
            "child_sex": np.where(b["male"].to_numpy(dtype=bool)[sel], "M", "F"),
            "birth_date": b["birth"].to_numpy()[sel],
            "birth_date__minute": b["birth_minute"].to_numpy()[sel],
            "birth_order": b["order"].to_numpy()[sel],
            "gestation_weeks": weeks,
            "birth_weight_g": weight,
            "facility": _facilities(pop, region, rng, 0.7),
            "mother_name": names[mother],
            "mother_id": ids[mother],
            "father_name": np.where(father_known, names[np.maximum(father, 0)], ""),
            "father_id": np.where(father_known, ids[np.maximum(father, 0)], ""),
            "region_code": region,
            "issue_date": plan.cert_issue[sel],
            "_extract": plan.cert_issue[sel],
            "_p_child": child,
            "_p_mother": mother,
            "_p_father": np.where(father_known, father, -1),
            "_ref": sel,
        }
    )
    frame["_key"] = frame["cert_no"]
    frame["_pre"] = pre_defects(n, np.flatnonzero(plan.not_registered[sel]), "", "birth_not_registered")
    start = dt.date(pop.start.astype(dt.date).year, 1, 1)
    return FeedTable(BIRTH_CERTIFICATES, frame, incremental_periods(start, end), {0: UTF8_BOM})


def death_records(pop: Population, plan: Plan, rng: np.random.Generator, end: dt.date) -> FeedTable:
    """One death certificate per certified death, in the extract of its report date."""
    p = pop.persons
    sel = np.flatnonzero(plan.certified)
    who = plan.death_person[sel]
    n = len(who)
    death = p["death"].to_numpy().astype("datetime64[D]")[who]
    birth = p["birth"].to_numpy().astype("datetime64[D]")[who]
    age = (death - birth).astype(np.int64) / 365.25
    old = np.asarray(CAUSES_OLD, dtype=object)[rng.integers(len(CAUSES_OLD), size=n)]
    young = np.asarray(CAUSES_YOUNG, dtype=object)[rng.integers(len(CAUSES_YOUNG), size=n)]
    region = p["region_code"].to_numpy()[who]
    # a baby who died before its registration never had an identity number
    reg = p["registered_date"].to_numpy().astype("datetime64[D]")[who]
    no_id = p["window_birth"].to_numpy(dtype=bool)[who] & (np.isnat(reg) | (reg > death))
    frame = pd.DataFrame(
        {
            "death_cert_no": yearly_numbers(death, lambda y, s: f"D{y % 100:02d}{s:07d}"),
            "name": p["name"].to_numpy()[who],
            "id_no": np.where(no_id, "", p["id_no"].to_numpy()[who]),
            "sex": np.where(p["male"].to_numpy(dtype=bool)[who], "M", "F"),
            "birth_date": birth,
            "death_date": death,
            "cause_icd10": np.where(age >= 55, old, young),
            "region_code": region,
            "reporting_unit": _facilities(pop, region, rng, 0.75),
            "_extract": plan.death_report[sel],
            "_p_subject": who,
            "_ref": sel,
        }
    )
    frame["_key"] = frame["death_cert_no"]
    frame["_pre"] = pre_defects(n, np.flatnonzero(plan.never_cancelled[sel]), "", "death_not_cancelled")
    start = dt.date(pop.start.astype(dt.date).year, 1, 1)
    return FeedTable(DEATH_RECORDS, frame, incremental_periods(start, end), {0: UTF8_BOM})


def prenatal_checks(pop: Population, rng: np.random.Generator, end: dt.date) -> FeedTable:
    """Couples' free pre-pregnancy checks: before most births, and couples still planning."""
    p = pop.persons
    b = pop.births
    start64 = pop.start
    end64 = np.datetime64(end, "D")
    resident_birth = ~b["migrant"].to_numpy(dtype=bool) & (b["father"].to_numpy() >= 0)
    checked = resident_birth & (rng.random(len(b)) < 0.55)
    bsel = np.flatnonzero(checked)
    b_date = add_days(b["birth"].to_numpy()[bsel], -rng.integers(290, 520, len(bsel)))
    wives = [b["mother"].to_numpy()[bsel]]
    husbands = [b["father"].to_numpy()[bsel]]
    dates = [b_date]
    # couples planning a child who are checked but have no birth in the window
    cp = couples(pop)
    w = cp["wife"].to_numpy()
    age = (start64 - p["birth"].to_numpy().astype("datetime64[D]")[w]).astype(np.int64) / 365.25
    mothers = set(b["mother"].to_numpy()[checked].tolist())
    few_children = p["n_children"].to_numpy()[w] <= 1
    planning = (
        (age >= 21)
        & (age <= 36)
        & few_children
        & ~p["migrant"].to_numpy(dtype=bool)[w]
        & np.array([x not in mothers for x in w.tolist()], dtype=bool)
        & (rng.random(len(w)) < 0.12 * pop.years / 2.5)
    )
    window = int((end64 - start64).astype(np.int64))
    wives.append(w[planning])
    husbands.append(cp["husband"].to_numpy()[planning])
    dates.append(
        add_days(np.full(int(planning.sum()), start64), rng.integers(0, window + 1, int(planning.sum())))
    )
    wife = np.concatenate(wives)
    husband = np.concatenate(husbands)
    check = np.concatenate(dates).astype("datetime64[D]")
    keep = (check >= start64) & (check <= end64)
    wife, husband, check = wife[keep], husband[keep], check[keep]
    n = len(wife)
    region = p["region_code"].to_numpy()[wife]
    ids = p["id_no"].to_numpy()
    names = p["name"].to_numpy()
    facilities = np.where(
        rng.random(n) < 0.5,
        "宝坻区计划生育服务站",
        np.asarray(_facilities(pop, region, rng, 0.6), dtype=object),
    )
    frame = pd.DataFrame(
        {
            "check_no": yearly_numbers(check, lambda y, s: f"YQ{y}{s:06d}"),
            "wife_name": names[wife],
            "wife_id": ids[wife],
            "husband_name": names[husband],
            "husband_id": ids[husband],
            "check_date": check,
            "facility": facilities,
            "region_code": region,
            "result": np.where(rng.random(n) < 0.85, "正常", "风险人群"),
            "_extract": add_days(check, rng.integers(0, 25, n)),
            "_p_wife": wife,
            "_p_husband": husband,
        }
    )
    frame["_key"] = frame["check_no"]
    frame = frame.sort_values("check_no", kind="stable").reset_index(drop=True)
    start = dt.date(pop.start.astype(dt.date).year, 1, 1)
    return FeedTable(PRENATAL_CHECKS, frame, incremental_periods(start, end), {0: UTF8_BOM})
