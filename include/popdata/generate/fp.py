"""Family planning feeds (人口计生委): approvals, assistance rolls, social fees, targets.

XLSX from Excel for the county office; some town offices send their own CSV in GBK, and
one town office works in Traditional characters and sends Big5. Birth approvals
(生育服务登记 / 再生育审批) follow the policy of the time: a first child is registered
(一孩生育服务登记), a second child is approved for rural one-daughter families (再生育),
for couples of two only children (双独二孩) and, from 2014-02-14, for couples with one
only child (单独二孩). Out-of-policy births lead to social maintenance fee cases
(社会抚养费征收). Assistance rolls (奖励扶助 / 特别扶助) pay eligible parents each year.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pandas as pd

from popdata.generate.common import add_days, couples, pre_defects, yearly_numbers
from popdata.generate.feeds import ANNUAL_TARGETS, ASSISTANCE_ROLLS, BIRTH_APPROVALS, SOCIAL_FEE_CASES
from popdata.generate.ids import ymd
from popdata.generate.population import Population
from popdata.generate.rates import DefectRates
from popdata.generate.schedule import incremental_periods
from popdata.generate.writer import FeedTable, Group, Period, period_index

SINGLE_CHILD_POLICY = np.datetime64("2014-02-14", "D")
"""Tianjin's 单独二孩 policy took effect on this date."""

PROGRAMS = (
    "农村部分计划生育家庭奖励扶助",
    "计划生育特别扶助(独生子女死亡)",
    "计划生育特别扶助(独生子女伤残)",
    "独生子女父母奖励",
)
AMOUNTS = {
    PROGRAMS[0]: {2012: 960, 2013: 960, 2014: 960},
    PROGRAMS[1]: {2012: 1620, 2013: 1620, 2014: 4080},
    PROGRAMS[2]: {2012: 1320, 2013: 1320, 2014: 3240},
    PROGRAMS[3]: {2012: 120, 2013: 120, 2014: 120},
}
INCOME = {"urban": 29_000, "rural": 15_000}
"""Per-capita income (yuan) that social maintenance fees are multiples of."""


def fp_offices(pop: Population, rates: DefectRates, rng: np.random.Generator) -> tuple[dict[str, int], str]:
    """Towns whose office sends GBK CSV (town code → group id) and the Big5 town ('' if none)."""
    towns = pop.county.towns["code"].astype(str).tolist()
    chosen = [t for t, u in zip(towns, rng.random(len(towns)), strict=True) if u < rates.fp_csv_offices]
    big5 = ""
    if rates.big5_office:
        rural = [t for t in towns if int(t[6:9]) >= 100 and t not in chosen]
        if rural:
            big5 = rural[int(rng.integers(len(rural)))]
    groups = {t: 2 + i for i, t in enumerate(sorted(chosen))}
    return groups, big5


def _office_groups(csv_towns: dict[str, int], big5: str, *, with_big5: bool) -> dict[int, Group]:
    """The county XLSX group plus one CSV group per town office."""
    groups: dict[int, Group] = {0: Group(seq=None, fmt="xlsx", encoding="xlsx", office="county", excel=True)}
    seq = 2
    for town, gid in sorted(csv_towns.items(), key=lambda kv: kv[1]):
        groups[gid] = Group(seq=seq, fmt="csv", encoding="gbk", office=town, excel=True, always=False)
        seq += 1
    if with_big5 and big5:
        groups[1] = Group(
            seq=seq, fmt="csv", encoding="big5", office=big5, traditional=True, excel=False, always=False
        )
    return groups


def _group_of(region: npt.NDArray[np.object_], csv_towns: dict[str, int], big5: str) -> npt.NDArray[np.int64]:
    """Group id per row from the region's town."""
    out = np.zeros(len(region), dtype=np.int64)
    for i, code in enumerate(region.tolist()):
        town = str(code)[:9] + "000"
        if town in csv_towns:
            out[i] = csv_towns[town]
        elif big5 and town == big5:
            out[i] = 1
    return out


def _start(pop: Population) -> dt.date:
    """The first day of the window's first year."""
    return dt.date(pop.start.astype(dt.date).year, 1, 1)


def birth_approvals(
    pop: Population,
    rng: np.random.Generator,
    end: dt.date,
    csv_towns: dict[str, int],
    big5: str,
) -> tuple[FeedTable, pd.DataFrame]:
    """Applications for births in the window and for births still to come.

    Returns the feed and, per window birth, the approval it is linked to
    (``birth``, ``app_no``, ``category``, ``decision``).
    """
    p = pop.persons
    b = pop.births
    start64 = pop.start
    end64 = np.datetime64(end, "D")
    only = p["only_child"].to_numpy(dtype=bool)
    urban = pop.county.villages["urban"].to_numpy(dtype=bool)[p["village"].to_numpy()]

    # --- applications tied to births ----------------------------------------------------
    res = np.flatnonzero(~b["migrant"].to_numpy(dtype=bool) & (b["father"].to_numpy() >= 0))
    mother = b["mother"].to_numpy()[res]
    father = b["father"].to_numpy()[res]
    order = b["order"].to_numpy()[res]
    birth = b["birth"].to_numpy().astype("datetime64[D]")[res]
    apply = add_days(birth, -rng.integers(120, 280, len(res)))
    both_only = only[mother] & only[father]
    one_only = only[mother] ^ only[father]
    # first child girl: the mother's earlier children (rural 再生育)
    first_girl = _first_child_girl(p, mother)
    rural = ~urban[mother]
    u = rng.random(len(res))
    category = np.full(len(res), "", dtype=object)
    decision = np.full(len(res), "", dtype=object)
    applies = np.zeros(len(res), dtype=bool)
    first = order == 1
    applies |= first & (u < 0.85)
    category[first] = "一孩生育服务登记"
    decision[first] = "批准"
    second = order == 2
    e_dudu = second & both_only
    e_rural = second & ~both_only & rural & first_girl
    e_dandu = second & ~both_only & ~e_rural & one_only & (apply >= SINGLE_CHILD_POLICY)
    eligible = e_dudu | e_rural | e_dandu
    category[e_dudu] = "双独二孩"
    category[e_rural] = "再生育"
    category[e_dandu] = "单独二孩"
    decision[eligible] = "批准"
    applies |= eligible & (u < 0.9)
    refused = second & ~eligible & (u < 0.25)
    category[refused] = np.where(
        one_only[refused] & (apply[refused] >= SINGLE_CHILD_POLICY), "单独二孩", "再生育"
    )
    decision[refused] = "不予批准"
    applies |= refused
    third = order >= 3
    t_apply = third & (u < 0.2)
    category[t_apply] = "再生育"
    decision[t_apply] = "不予批准"
    applies |= t_apply
    applies &= apply >= start64
    a_idx = np.flatnonzero(applies)

    # --- applications for births still to come -------------------------------------------
    cp = couples(pop)
    wife = cp["wife"].to_numpy()
    husband = cp["husband"].to_numpy()
    mothers_in_window = np.zeros(len(p), dtype=bool)
    mothers_in_window[b["mother"].to_numpy()] = True
    w_age = (end64 - p["birth"].to_numpy().astype("datetime64[D]")[wife]).astype(np.int64) / 365.25
    kids = p["n_children"].to_numpy()[wife]
    resident = ~p["migrant"].to_numpy(dtype=bool)[wife] & ~mothers_in_window[wife]
    window = int((end64 - start64).astype(np.int64))
    future_first = resident & (kids == 0) & (w_age >= 21) & (w_age <= 34) & (rng.random(len(wife)) < 0.25)
    dandu = resident & (kids == 1) & (only[wife] ^ only[husband]) & (w_age >= 23) & (w_age <= 40)
    dandu &= rng.random(len(wife)) < 0.10
    policy_days = int((end64 - SINGLE_CHILD_POLICY).astype(np.int64))
    dandu &= policy_days > 0
    f_apply = add_days(np.full(len(wife), start64), rng.integers(0, window + 1, len(wife)))
    d_apply = add_days(
        np.full(len(wife), SINGLE_CHILD_POLICY), rng.integers(0, max(policy_days, 1), len(wife))
    )
    extra = future_first | dandu
    x_idx = np.flatnonzero(extra)
    x_cat = np.where(dandu[x_idx], "单独二孩", "一孩生育服务登记")
    x_apply = np.where(dandu[x_idx], d_apply[x_idx], f_apply[x_idx])
    x_dec = np.where(rng.random(len(x_idx)) < 0.94, "批准", "不予批准")

    all_wife = np.concatenate([mother[a_idx], wife[x_idx]])
    all_husband = np.concatenate([father[a_idx], husband[x_idx]])
    all_cat = np.concatenate([category[a_idx], x_cat.astype(object)])
    all_apply = np.concatenate([apply[a_idx], x_apply]).astype("datetime64[D]")
    all_dec = np.concatenate([decision[a_idx], x_dec.astype(object)])
    all_birth = np.concatenate([res[a_idx], np.full(len(x_idx), -1)])
    n = len(all_wife)
    waits = np.where(rng.random(n) < 0.9, rng.integers(3, 40, n), rng.integers(40, 120, n))
    decided = add_days(all_apply, waits)
    app_no = yearly_numbers(all_apply, lambda y, s: f"SY{y}{s:05d}")
    region = p["region_code"].to_numpy()[all_wife]
    names = p["name"].to_numpy()
    ids = p["id_no"].to_numpy()
    husband_known = rng.random(n) < 0.95
    periods = incremental_periods(_start(pop), end, months_per_file=3)
    base = pd.DataFrame(
        {
            "app_no": app_no,
            "wife_name": names[all_wife],
            "wife_id": ids[all_wife],
            "husband_name": np.where(husband_known, names[all_husband], ""),
            "husband_id": np.where(husband_known, ids[all_husband], ""),
            "category": all_cat,
            "apply_date": all_apply,
            "decision_date": decided,
            "decision": all_dec,
            "region_code": region,
            "_p_wife": all_wife,
            "_p_husband": np.where(husband_known, all_husband, -1),
            "_key": app_no,
        }
    )
    entered = add_days(all_apply, rng.integers(0, 10, n))
    p_apply = period_index(entered, periods)
    p_dec = period_index(decided, periods)
    pending_now = (p_dec < 0) | (p_dec > p_apply)
    first_rows = base.copy()
    first_rows["_extract"] = np.where(pending_now, entered, decided)
    first_rows.loc[pending_now, "decision"] = "待审"
    first_rows.loc[pending_now, "decision_date"] = pd.NaT
    later = pending_now & (p_dec >= 0)
    second_rows = base[later].copy()
    second_rows["_extract"] = decided[later]
    frame = pd.concat([first_rows, second_rows], ignore_index=True)
    n_first, n_second = len(first_rows), len(second_rows)
    frame["_pre"] = pre_defects(
        n_first + n_second, np.arange(n_first, n_first + n_second), "decision", "status_update"
    )
    frame["_group"] = _group_of(frame["region_code"].to_numpy(), csv_towns, big5)
    link = pd.DataFrame(
        {
            "birth": all_birth,
            "app_no": app_no,
            "category": all_cat,
            "decision": np.where(p_dec >= 0, all_dec, "待审"),
            "emitted": p_apply >= 0,
        }
    )
    link = link[(link["birth"] >= 0) & link["emitted"]].drop(columns="emitted")
    groups = _office_groups(csv_towns, big5, with_big5=True)
    return FeedTable(BIRTH_APPROVALS, frame, periods, groups), link.reset_index(drop=True)


def _first_child_girl(p: pd.DataFrame, mothers: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Was each mother's eldest child (living with her) a girl?"""
    mother_of = p["mother"].to_numpy()
    birth = p["birth"].to_numpy().astype("datetime64[D]")
    male = p["male"].to_numpy(dtype=bool)
    kids = np.flatnonzero(mother_of >= 0)
    order = np.lexsort((birth[kids], mother_of[kids]))
    kids = kids[order]
    eldest: dict[int, bool] = {}
    for k in kids.tolist():
        m = int(mother_of[k])
        if m not in eldest:
            eldest[m] = not bool(male[k])
    return np.array([eldest.get(int(m), False) for m in mothers.tolist()], dtype=bool)


def social_fee_cases(
    pop: Population,
    approvals: pd.DataFrame,
    rng: np.random.Generator,
    end: dt.date,
    csv_towns: dict[str, int],
) -> tuple[FeedTable, pd.DataFrame]:
    """Cases for out-of-policy births (second births without approval, third births)."""
    p = pop.persons
    b = pop.births
    end64 = np.datetime64(end, "D")
    approved = set(approvals.loc[approvals["decision"] == "批准", "birth"].tolist())
    order = b["order"].to_numpy()
    resident = ~b["migrant"].to_numpy(dtype=bool)
    idx = np.arange(len(b))
    out_of_policy = resident & (order >= 2) & np.array([i not in approved for i in idx.tolist()], dtype=bool)
    p_case = np.where(order >= 3, 0.85, 0.7)
    chosen = np.flatnonzero(out_of_policy & (rng.random(len(b)) < p_case))
    birth = b["birth"].to_numpy().astype("datetime64[D]")[chosen]
    decision = add_days(birth, rng.integers(60, 300, len(chosen)))
    keep = decision <= end64
    chosen, decision = chosen[keep], decision[keep]
    n = len(chosen)
    mother = b["mother"].to_numpy()[chosen]
    father = b["father"].to_numpy()[chosen]
    party = np.where((father >= 0) & (rng.random(n) < 0.3), father, mother)
    urban = pop.county.villages["urban"].to_numpy(dtype=bool)[p["village"].to_numpy()[party]]
    income = np.where(urban, INCOME["urban"], INCOME["rural"])
    multiple = np.where(order[chosen] >= 3, rng.uniform(4, 6, n), rng.uniform(2, 4, n))
    assessed = np.round(income * multiple, -2)
    u = rng.random(n)
    status = np.where(u < 0.55, "已结案", np.where(u < 0.9, "执行中", "申请法院强制执行"))
    collected = np.where(
        status == "已结案",
        assessed,
        np.where(status == "执行中", np.round(assessed * rng.uniform(0.2, 0.8, n), -2), 0.0),
    )
    case_no = yearly_numbers(decision, lambda y, s: f"ZS0115{y}{s:04d}")
    ids = p["id_no"].to_numpy()
    base = pd.DataFrame(
        {
            "case_no": case_no,
            "id_no": ids[party],
            "name": p["name"].to_numpy()[party],
            "decision_date": decision,
            "assessed": assessed,
            "collected": collected,
            "status": status,
            "region_code": p["region_code"].to_numpy()[party],
            "_extract": add_days(decision, rng.integers(0, 15, n)),
            "_p_subject": party,
            "_key": case_no,
        }
    )
    # cases being enforced collect more later: an update with the same case number
    upd = (status == "执行中") & (rng.random(n) < 0.5)
    upd_date = add_days(decision, rng.integers(90, 300, n))
    upd &= upd_date <= end64
    later = base[upd].copy()
    later["_extract"] = upd_date[upd]
    later["collected"] = later["assessed"]
    later["status"] = "已结案"
    frame = pd.concat([base, later], ignore_index=True)
    frame["_pre"] = pre_defects(len(frame), np.arange(len(base), len(frame)), "status", "status_update")
    frame["_group"] = _group_of(frame["region_code"].to_numpy(), csv_towns, "")
    link = pd.DataFrame({"birth": chosen, "case_no": case_no})
    groups = _office_groups(csv_towns, "", with_big5=False)
    periods = incremental_periods(_start(pop), end, months_per_file=3)
    return FeedTable(SOCIAL_FEE_CASES, frame, periods, groups), link


def assistance_rolls(
    pop: Population, rng: np.random.Generator, rates: DefectRates, end: dt.date
) -> FeedTable:
    """One roll per program and year, made in March for the persons eligible on 1 January."""
    p = pop.persons
    n = len(p)
    birth = p["birth"].to_numpy().astype("datetime64[D]")
    by, _, _ = ymd(birth)
    death = p["death"].to_numpy().astype("datetime64[D]")
    move = p["move_date"].to_numpy().astype("datetime64[D]")
    resident = ~p["migrant"].to_numpy(dtype=bool) & ~p["window_birth"].to_numpy(dtype=bool)
    urban = pop.county.villages["urban"].to_numpy(dtype=bool)[p["village"].to_numpy()]
    kids = p["n_children"].to_numpy()
    girls = p["all_girls"].to_numpy(dtype=bool)
    male = p["male"].to_numpy(dtype=bool)
    u_take = rng.random(n)
    u_special = rng.random(n)
    u_after = rng.random(n)
    youngest = _youngest_child_year(p)
    rows: list[pd.DataFrame] = []
    periods: list[Period] = []
    start_year = pop.start.astype(dt.date).year
    eligible_prev: list[npt.NDArray[np.bool_]] = [np.zeros(n, dtype=bool) for _ in PROGRAMS]
    years = [y for y in range(start_year, end.year + 1) if dt.date(y, 3, 31) <= end]
    for k, year in enumerate(years):
        made = dt.date(year, 3, 31)
        jan1 = np.datetime64(dt.date(year, 1, 1), "D")
        present = resident & (np.isnat(move) | (move >= jan1))
        alive = np.isnat(death) | (death >= jan1)
        age = year - by
        crit = [
            ~urban & (age >= 60) & ((kids == 1) | ((kids == 2) & girls)) & (u_take < 0.85),
            (age >= 49) & (kids == 1) & (u_special < 0.01),
            (age >= 49) & (kids == 1) & (u_special >= 0.01) & (u_special < 0.02),
            (kids == 1)
            & (youngest > year - 18)
            & (u_take < np.where(urban, 0.7, 0.4))
            & (male | (u_special < 0.3)),
        ]
        for prog_idx, program in enumerate(PROGRAMS):
            eligible = present & crit[prog_idx]
            on_roll = eligible & alive
            # died last year, still on this year's roll (paid after death)
            stale = eligible & ~alive & eligible_prev[prog_idx] & (u_after < rates.paid_after_death)
            stale &= death >= np.datetime64(dt.date(year - 1, 1, 1), "D")
            idx = np.flatnonzero(on_roll | stale)
            eligible_prev[prog_idx] = on_roll
            amount = float(AMOUNTS[program].get(year, max(AMOUNTS[program].values())))
            ids = p["id_no"].to_numpy()[idx]
            frame = pd.DataFrame(
                {
                    "id_no": ids,
                    "name": p["name"].to_numpy()[idx],
                    "sex": np.where(male[idx], "M", "F"),
                    "birth_date": birth[idx],
                    "program": program,
                    "year": year,
                    "amount": amount,
                    "region_code": p["region_code"].to_numpy()[idx],
                    "_extract": np.datetime64(made, "D"),
                    "_period": k,
                    "_group": prog_idx + 1,
                    "_p_subject": idx,
                    "_key": [f"{i}|{program}|{year}" for i in ids.tolist()],
                }
            )
            frame["_pre"] = pre_defects(len(idx), np.flatnonzero(stale[idx]), "", "paid_after_death")
            rows.append(frame)
        periods.append(Period(made, dt.date(year, 1, 1), dt.date(year, 12, 31)))
    table = pd.concat(rows, ignore_index=True)
    groups = {
        i + 1: Group(seq=i + 1, fmt="xlsx", encoding="xlsx", office=PROGRAMS[i], excel=True, always=False)
        for i in range(len(PROGRAMS))
    }
    return FeedTable(ASSISTANCE_ROLLS, table, periods, groups, incremental=False)


def _youngest_child_year(p: pd.DataFrame) -> npt.NDArray[np.int64]:
    """Birth year of each person's youngest linked child (-9999 when none)."""
    out = np.full(len(p), -9999, dtype=np.int64)
    by, _, _ = ymd(p["birth"].to_numpy().astype("datetime64[D]"))
    for col in ("mother", "father"):
        parent = p[col].to_numpy()
        ok = parent >= 0
        np.maximum.at(out, parent[ok], by[ok])
    return out


def annual_targets(
    pop: Population, checks_per_year: pd.Series, rng: np.random.Generator, end: dt.date
) -> FeedTable:
    """Yearly targets per town and for the county: couples checked, fee collection rate."""
    towns = pop.county.towns
    county12 = pop.county.county_code12
    rows: list[dict[str, object]] = []
    periods: list[Period] = []
    start_year = pop.start.astype(dt.date).year
    years = [y for y in range(start_year, end.year + 1) if dt.date(y, 1, 15) <= end]
    for k, year in enumerate(years):
        made = dt.date(year, 1, 15)
        expected = float(checks_per_year.get(year, 0.0))
        share = rng.dirichlet(np.ones(len(towns)) * 5)
        town_targets = np.maximum(1, np.round(expected * share * rng.uniform(1.0, 1.3, len(towns)))).astype(
            int
        )
        rate_c = int(60 + 5 * (year - start_year))
        rows.append(
            {
                "region_code": county12,
                "year": year,
                "indicator": "孕前优生健康检查(对)",
                "target": int(town_targets.sum()),
                "_period": k,
            }
        )
        rows.append(
            {
                "region_code": county12,
                "year": year,
                "indicator": "社会抚养费征收到位率(%)",
                "target": rate_c,
                "_period": k,
            }
        )
        for t, code in enumerate(towns["code"].astype(str).tolist()):
            rows.append(
                {
                    "region_code": code,
                    "year": year,
                    "indicator": "孕前优生健康检查(对)",
                    "target": int(town_targets[t]),
                    "_period": k,
                }
            )
            rows.append(
                {
                    "region_code": code,
                    "year": year,
                    "indicator": "社会抚养费征收到位率(%)",
                    "target": int(rate_c + rng.integers(-10, 11)),
                    "_period": k,
                }
            )
        periods.append(Period(made, dt.date(year, 1, 1), dt.date(year, 12, 31)))
    frame = pd.DataFrame(rows)
    frame["_extract"] = np.array([np.datetime64(periods[int(i)].extract, "D") for i in frame["_period"]])
    frame["_key"] = frame["region_code"] + "|" + frame["year"].astype(str) + "|" + frame["indicator"]
    groups = {0: Group(seq=None, fmt="xlsx", encoding="xlsx", office="county", excel=False)}
    return FeedTable(ANNUAL_TARGETS, frame, periods, groups, incremental=False, value_defects=False)
