"""Police feeds (公安局户政): household registry, birth registrations, cancellations, migrants.

CSV in GB18030 (some offices GBK). The household registry (户籍人口) is a full monthly
snapshot; the others are incremental. A birth is registered (出生登记) weeks after the
birth, mostly with the birth certificate number; a death or a move out cancels the
hukou (户口注销) — except the deaths that are never cancelled; migrants (流动人口)
register their residence (居住登记) on arrival and renew it every year.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pandas as pd

from popdata.generate.common import add_days, pre_defects, yearly_numbers
from popdata.generate.events import NAT, Plan
from popdata.generate.feeds import (
    BIRTH_REGISTRATIONS,
    HOUSEHOLD_REGISTRY,
    HUKOU_CANCELLATIONS,
    MIGRANT_REGISTRATIONS,
)
from popdata.generate.ids import ymd
from popdata.generate.population import Population
from popdata.generate.rates import DefectRates
from popdata.generate.schedule import incremental_periods, snapshot_dates
from popdata.generate.writer import FeedTable, Group, Period

STATUS_BY_REASON = {"死亡": "死亡", "迁出": "迁出"}


def police_groups(rng: np.random.Generator, rates: DefectRates) -> dict[int, Group]:
    """The police office's encoding: GB18030, or GBK (chosen once per feed)."""
    gbk = bool(rng.random() < rates.police_gbk)
    return {0: Group(seq=None, fmt="csv", encoding="gbk" if gbk else "gb18030", office="county")}


def _start(pop: Population) -> dt.date:
    """The first day of the window's first year."""
    return dt.date(pop.start.astype(dt.date).year, 1, 1)


def birth_registrations(
    pop: Population,
    plan: Plan,
    cert_no: np.ndarray,
    rng: np.random.Generator,
    rates: DefectRates,
    end: dt.date,
) -> FeedTable:
    """Registrations of resident births (``cert_no``: per birth, blank when none)."""
    b = pop.births
    p = pop.persons
    sel = np.flatnonzero(~np.isnat(plan.reg_date))
    n = len(sel)
    child = b["child"].to_numpy()[sel]
    mother = b["mother"].to_numpy()[sel]
    father = b["father"].to_numpy()[sel]
    reg = plan.reg_date[sel]
    ids = p["id_no"].to_numpy()
    with_cert = np.where(rng.random(n) < 0.95, cert_no[sel], "")
    frame = pd.DataFrame(
        {
            "reg_no": yearly_numbers(reg, lambda y, s: f"CS{y}{s:06d}"),
            "child_id": ids[child],
            "child_name": p["name"].to_numpy()[child],
            "sex": np.where(b["male"].to_numpy(dtype=bool)[sel], "M", "F"),
            "birth_date": b["birth"].to_numpy()[sel],
            "birth_cert_no": with_cert,
            "mother_id": ids[mother],
            "father_id": np.where(father >= 0, ids[np.maximum(father, 0)], ""),
            "household_no": p["household_no"].to_numpy()[mother],
            "region_code": p["region_code"].to_numpy()[mother],
            "reg_date": reg,
            "_extract": reg,
            "_p_child": child,
            "_p_mother": mother,
            "_p_father": father,
            "_ref": sel,
        }
    )
    frame["_key"] = frame["reg_no"]
    frame["_pre"] = pre_defects(
        n, np.flatnonzero(plan.home_birth[sel]), "", "registration_without_certificate"
    )
    return FeedTable(
        BIRTH_REGISTRATIONS, frame, incremental_periods(_start(pop), end), police_groups(rng, rates)
    )


def cancellations(pop: Population, plan: Plan) -> pd.DataFrame:
    """Every hukou cancellation (deaths and moves): person, reason, date, death date."""
    p = pop.persons
    d_ok = ~np.isnat(plan.cancel_date)
    deaths = pd.DataFrame(
        {
            "person": plan.death_person[d_ok],
            "reason": "死亡",
            "cancel_date": plan.cancel_date[d_ok],
            "death_date": p["death"].to_numpy().astype("datetime64[D]")[plan.death_person[d_ok]],
        }
    )
    move = p["move_date"].to_numpy().astype("datetime64[D]")
    m_idx = np.flatnonzero(~np.isnat(move))
    moves = pd.DataFrame(
        {
            "person": m_idx,
            "reason": p["move_reason"].to_numpy()[m_idx],
            "cancel_date": move[m_idx],
            "death_date": np.full(len(m_idx), NAT),
        }
    )
    out = pd.concat([deaths, moves], ignore_index=True)
    # a window birth that was never registered has no hukou to cancel
    registered = ~p["registered_date"].isna().to_numpy()
    out = out[registered[out["person"].to_numpy()]]
    return out.sort_values(["cancel_date", "person"], kind="stable").reset_index(drop=True)


def hukou_cancellations(
    pop: Population, cancel: pd.DataFrame, rng: np.random.Generator, rates: DefectRates, end: dt.date
) -> FeedTable:
    """The cancellation feed (注销): one row per cancellation, by cancellation date."""
    p = pop.persons
    who = cancel["person"].to_numpy()
    date = cancel["cancel_date"].to_numpy().astype("datetime64[D]")
    frame = pd.DataFrame(
        {
            "cancel_no": yearly_numbers(date, lambda y, s: f"ZX1201{y}{s:05d}"),
            "id_no": p["id_no"].to_numpy()[who],
            "name": p["name"].to_numpy()[who],
            "reason": cancel["reason"].to_numpy(),
            "cancel_date": date,
            "death_date": cancel["death_date"].to_numpy(),
            "region_code": p["region_code"].to_numpy()[who],
            "_extract": date,
            "_p_subject": who,
        }
    )
    frame["_key"] = frame["cancel_no"]
    return FeedTable(
        HUKOU_CANCELLATIONS, frame, incremental_periods(_start(pop), end), police_groups(rng, rates)
    )


def household_registry(
    pop: Population,
    plan: Plan,
    cancel: pd.DataFrame,
    rng: np.random.Generator,
    rates: DefectRates,
    end: dt.date,
    snapshots: int,
) -> FeedTable:
    """Monthly full snapshots of the registered residents (户籍人口)."""
    p = pop.persons
    n = len(p)
    resident = ~p["migrant"].to_numpy(dtype=bool)
    reg = p["registered_date"].to_numpy().astype("datetime64[D]")
    c_date = np.full(n, NAT)
    c_reason = np.full(n, "", dtype=object)
    who = cancel["person"].to_numpy()
    c_date[who] = cancel["cancel_date"].to_numpy().astype("datetime64[D]")
    c_reason[who] = cancel["reason"].to_numpy()
    status_cancelled = np.array([STATUS_BY_REASON.get(r, "注销") for r in c_reason], dtype=object)
    id_shown = np.where(plan.id15, p["id15"].to_numpy(), p["id_no"].to_numpy())
    frames: list[pd.DataFrame] = []
    periods: list[Period] = []
    for k, snap in enumerate(snapshot_dates(end, snapshots)):
        s64 = np.datetime64(snap, "D")
        month_start = np.datetime64(dt.date(snap.year, snap.month, 1), "D")
        registered = resident & ~np.isnat(reg) & (reg <= s64)
        gone_before = ~np.isnat(c_date) & (c_date < month_start)
        gone_now = ~np.isnat(c_date) & (c_date >= month_start) & (c_date <= s64)
        include = registered & ~gone_before
        idx = np.flatnonzero(include)
        status = np.where(gone_now[idx], status_cancelled[idx], "正常")
        frame = pd.DataFrame(
            {
                "id_no": id_shown[idx],
                "name": p["name"].to_numpy()[idx],
                "former_name": p["former_name"].to_numpy()[idx],
                "sex": np.where(p["male"].to_numpy(dtype=bool)[idx], "M", "F"),
                "ethnicity": p["ethnicity"].to_numpy()[idx],
                "birth_date": p["birth"].to_numpy()[idx],
                "household_no": p["household_no"].to_numpy()[idx],
                "relation": p["relation"].to_numpy()[idx],
                "region_code": p["region_code"].to_numpy()[idx],
                "address": p["address"].to_numpy()[idx],
                "marital": p["marital"].to_numpy()[idx],
                "status": status,
                "registered_date": reg[idx],
                "_extract": np.full(len(idx), s64),
                "_period": k,
                "_p_subject": idx,
                "_key": p["id_no"].to_numpy()[idx],
            }
        )
        frame["_pre"] = pre_defects(len(idx), np.flatnonzero(plan.id15[idx]), "id_no", "id_15_digit")
        frames.append(frame)
        periods.append(Period(snap, dt.date(snap.year, snap.month, 1), snap))
    table = pd.concat(frames, ignore_index=True)
    return FeedTable(HOUSEHOLD_REGISTRY, table, periods, police_groups(rng, rates), incremental=False)


def migrant_registrations(
    pop: Population, rng: np.random.Generator, rates: DefectRates, end: dt.date
) -> FeedTable:
    """Residence registrations (居住登记) of migrants aged 16+: on arrival, renewed yearly."""
    p = pop.persons
    start64 = pop.start
    end64 = np.datetime64(end, "D")
    migrant = p["migrant"].to_numpy(dtype=bool)
    birth = p["birth"].to_numpy().astype("datetime64[D]")
    arrival = p["registered_date"].to_numpy().astype("datetime64[D]")
    death = p["death"].to_numpy().astype("datetime64[D]")
    age_end = (end64 - birth).astype(np.int64) / 365.25
    who = np.flatnonzero(migrant & (age_end >= 16) & ~np.isnat(arrival))
    window = int((end64 - start64).astype(np.int64))
    leaves = np.where(
        rng.random(len(who)) < 0.2,
        start64 + rng.integers(0, window + 1, len(who)).astype("timedelta64[D]"),
        NAT,
    )
    person: list[int] = []
    dates: list[np.datetime64] = []
    first = arrival[who]
    for k in range(0, 40):
        d = add_days(first, 365 * k)
        ok = (d <= end64) & (d >= start64)
        ok &= np.isnat(leaves) | (d < leaves)
        ok &= np.isnat(death[who]) | (d < death[who])
        ok &= (d - birth[who]).astype(np.int64) >= 16 * 365
        person.extend(who[ok].tolist())
        dates.extend(d[ok].tolist())
        if (d > end64).all():
            break
    who_r = np.asarray(person, dtype=np.int64)
    reg: npt.NDArray[np.datetime64] = np.asarray(dates, dtype="datetime64[D]")
    order = np.lexsort((who_r, reg))
    who_r, reg = who_r[order], reg[order]
    yy, mm, dd = ymd(reg)
    expiry = np.array(
        [
            dt.date(a + 1, b, 28 if (b == 2 and c == 29) else c)
            for a, b, c in zip(yy.tolist(), mm.tolist(), dd.tolist(), strict=True)
        ],
        dtype="datetime64[D]",
    )
    frame = pd.DataFrame(
        {
            "reg_no": yearly_numbers(reg, lambda y, s: f"JZ{y}{s:06d}"),
            "id_no": p["id_no"].to_numpy()[who_r],
            "name": p["name"].to_numpy()[who_r],
            "sex": np.where(p["male"].to_numpy(dtype=bool)[who_r], "M", "F"),
            "birth_date": birth[who_r],
            "hukou_region_code": p["origin_code"].to_numpy()[who_r],
            "residence_region_code": p["region_code"].to_numpy()[who_r],
            "reg_date": reg,
            "expiry_date": expiry,
            "marital": p["marital"].to_numpy()[who_r],
            "_extract": reg,
            "_p_subject": who_r,
        }
    )
    frame["_key"] = frame["reg_no"]
    return FeedTable(
        MIGRANT_REGISTRATIONS, frame, incremental_periods(_start(pop), end), police_groups(rng, rates)
    )
