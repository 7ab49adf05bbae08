"""The true population of the synthetic county: households, persons and events.

Residents (户籍人口) live in households built from slots (户主, 配偶, 父亲, 母亲, 子/女,
儿媳, 孙子/孙女) with ages following a realistic pyramid and cohort fertility (one-child
policy in towns, a second child in villages). Migrants (流动人口) live in the county
with a hukou elsewhere. During the window ``start``–``end`` there are births (birth order,
sex ratio at birth rising with the order, "warning villages" with no second daughters),
deaths, and moves out of the registry (迁出, 出国(境)定居, 服兵役).

Everything is vectorised with numpy so a million persons take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd

from popdata.generate.ids import build_ids, to_15_digits, ymd
from popdata.generate.names import draw_given_names, draw_surnames
from popdata.generate.reference import region_names
from popdata.generate.regions import County

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# household slots
HEAD, SPOUSE, FATHER, MOTHER = 0, 1, 2, 3
CHILD0, N_CHILD = 4, 5
DIL = 9
GRAND0, N_GRAND = 10, 3
N_SLOTS = 13
NEWBORN_SLOT = 14

MIGRANT_SHARE = 0.06
ETHNICITIES = ("汉族", "回族", "满族", "蒙古族", "朝鲜族")
ETHNICITY_P = (0.964, 0.016, 0.012, 0.006, 0.002)

_HEAD_AGE_BANDS = np.array([20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 95])
_HEAD_AGE_W = np.array([0.3, 0.9, 1.0, 1.2, 1.35, 1.35, 1.15, 1.1, 0.9, 0.7, 0.55, 0.4, 0.2, 0.07])


@dataclass(frozen=True)
class Population:
    """The true population.

    ``persons`` (one row per person, position = person index) columns: ``person_id``,
    ``household`` (index into ``households``), ``slot``, ``relation`` (与户主关系, blank for
    migrants), ``male``, ``birth`` (datetime64[D]), ``birth_minute`` (-1 when unknown),
    ``death`` (NaT when alive at ``end``), ``migrant``, ``id_no``, ``id15`` (old number
    or blank), ``surname``, ``name``, ``former_name``, ``ethnicity``, ``marital``,
    ``village`` (index into ``county.villages``), ``region_code``, ``address``,
    ``registered_date`` (户籍登记日期; arrival date for migrants), ``move_date``,
    ``move_reason``, ``mother``, ``father`` (person indexes or -1), ``n_children``,
    ``all_girls`` (for parents: children ever born), ``only_child``, ``origin_code``,
    ``window_birth``.

    ``households`` columns: ``household_no`` (户号, blank for migrants), ``village``,
    ``address``, ``migrant``.

    ``births`` (true births in the window) columns: ``child``, ``mother``, ``father``,
    ``birth`` , ``birth_minute``, ``order``, ``male``, ``village``, ``household``,
    ``migrant``.
    """

    persons: pd.DataFrame
    households: pd.DataFrame
    births: pd.DataFrame
    county: County
    start: np.datetime64
    end: np.datetime64

    @property
    def years(self) -> float:
        """Length of the window in years."""
        return float((self.end - self.start).astype(np.int64)) / 365.25


@dataclass
class _Slots:
    """Households as fixed slot arrays (H × N_SLOTS) before flattening."""

    present: BoolArray
    age: FloatArray
    male: BoolArray
    relation: npt.NDArray[np.object_]
    marital: npt.NDArray[np.object_]
    mother: IntArray
    father: IntArray
    n_children: IntArray
    all_girls: BoolArray
    village: IntArray
    migrant: bool


def _children_ever(mother_birth_year: IntArray, urban: BoolArray, rng: np.random.Generator) -> IntArray:
    """Children ever born by the mother's cohort and place (towns: one-child policy)."""
    n = len(mother_birth_year)
    u = rng.random(n)
    out = np.zeros(n, dtype=np.int64)

    def pick(mask: BoolArray, values: list[int], p: list[float]) -> None:
        cum = np.cumsum(p)
        idx = np.searchsorted(cum, u[mask] * cum[-1], side="right")
        out[mask] = np.asarray(values)[np.minimum(idx, len(values) - 1)]

    y = mother_birth_year
    pick(y < 1945, [2, 3, 4, 5], [0.15, 0.35, 0.3, 0.2])
    pick((y >= 1945) & (y < 1955), [1, 2, 3, 4], [0.1, 0.35, 0.4, 0.15])
    pick((y >= 1955) & (y < 1965) & ~urban, [1, 2, 3], [0.35, 0.5, 0.15])
    pick((y >= 1955) & (y < 1965) & urban, [1, 2], [0.75, 0.25])
    pick((y >= 1965) & (y < 1980) & ~urban, [1, 2, 3], [0.55, 0.4, 0.05])
    pick((y >= 1965) & (y < 1980) & urban, [1, 2], [0.9, 0.1])
    pick((y >= 1980) & ~urban, [0, 1, 2], [0.1, 0.62, 0.28])
    pick((y >= 1980) & urban, [0, 1, 2], [0.15, 0.8, 0.05])
    return out


def _boy_probability(order: IntArray, first_girl: BoolArray, urban: BoolArray) -> FloatArray:
    """P(boy) by birth order: SRB ≈105 for first births, ≈125 for second, ≈140 after."""
    p = np.where(order <= 1, 105 / 205, np.where(order == 2, 125 / 225, 140 / 240))
    # a rural second birth after a girl is where the sex ratio is most distorted
    p = np.where((order == 2) & first_girl & ~urban, 140 / 240, p)
    return p.astype(np.float64)


def _build_households(
    h: int,
    village_p: FloatArray,
    village_urban: BoolArray,
    rng: np.random.Generator,
    *,
    migrant: bool,
    start_year: int,
) -> _Slots:
    """Draw ``h`` households as slot arrays (residents or migrants)."""
    present = np.zeros((h, N_SLOTS), dtype=bool)
    age = np.zeros((h, N_SLOTS))
    male = np.zeros((h, N_SLOTS), dtype=bool)
    relation = np.full((h, N_SLOTS), "", dtype=object)
    marital = np.full((h, N_SLOTS), "", dtype=object)
    mother = np.full((h, N_SLOTS), -1, dtype=np.int64)
    father = np.full((h, N_SLOTS), -1, dtype=np.int64)
    n_children = np.zeros((h, N_SLOTS), dtype=np.int64)
    all_girls = np.zeros((h, N_SLOTS), dtype=bool)

    village = rng.choice(len(village_p), size=h, p=village_p)
    urban = village_urban[village]

    # --- head -------------------------------------------------------------------------
    if migrant:
        a_h = rng.uniform(18, 50, h) + rng.exponential(3.0, h)
    else:
        band = rng.choice(len(_HEAD_AGE_W), size=h, p=_HEAD_AGE_W / _HEAD_AGE_W.sum())
        a_h = rng.uniform(_HEAD_AGE_BANDS[band], _HEAD_AGE_BANDS[band + 1])
    p_married = np.interp(a_h, [20, 25, 30, 64, 75, 90], [0.35, 0.75, 0.9, 0.9, 0.72, 0.5])
    if migrant:
        p_married = p_married * 0.55
    married = rng.random(h) < p_married
    u = rng.random(h)
    status = np.where(
        married,
        "已婚",
        np.where(
            a_h < 32,
            "未婚",
            np.where(a_h >= 55, np.where(u < 0.8, "丧偶", "离婚"), np.where(u < 0.55, "离婚", "未婚")),
        ),
    )
    p_male_head = np.select(
        [status == "已婚", status == "丧偶", status == "未婚"], [0.92, 0.35, 0.72], default=0.5
    )
    male_h = rng.random(h) < p_male_head
    present[:, HEAD] = True
    age[:, HEAD] = a_h
    male[:, HEAD] = male_h
    relation[:, HEAD] = "户主"
    marital[:, HEAD] = status

    # --- spouse -----------------------------------------------------------------------
    gap = np.clip(rng.normal(2.0, 2.5, h), -5, 12)
    a_s = np.where(male_h, a_h - gap, a_h + gap)
    a_s = np.where(a_s < 19.5, 19.5 + rng.uniform(0, 3, h), a_s)
    present[:, SPOUSE] = married
    age[:, SPOUSE] = a_s
    male[:, SPOUSE] = ~male_h
    relation[:, SPOUSE] = np.where(married, "配偶", "")
    marital[:, SPOUSE] = np.where(married, "已婚", "")

    # the unit's mother (female partner) and father
    has_mother = married | (~male_h & np.isin(status, ["丧偶", "离婚"]))
    has_any_parent = has_mother | (male_h & np.isin(status, ["丧偶", "离婚"]))
    mother_age = np.where(married, np.where(male_h, a_s, a_h), np.where(~male_h, a_h, a_h - 2.0))
    mother_slot = np.where(married, np.where(male_h, SPOUSE, HEAD), np.where(~male_h, HEAD, -1))
    father_slot = np.where(married, np.where(male_h, HEAD, SPOUSE), np.where(male_h, HEAD, -1))

    # --- children of the head's unit ---------------------------------------------------
    mby = (start_year - mother_age).astype(np.int64)
    n_ever = np.where(has_any_parent, _children_ever(mby, urban, rng), 0)
    first_age = np.where(mby >= 1980, rng.uniform(22, 30, h), rng.uniform(20.5, 28, h))
    child_age = np.zeros((h, N_CHILD))
    offset = first_age.copy()
    girls_so_far = np.ones(h, dtype=bool)
    first_girl = np.zeros(h, dtype=bool)
    born = np.zeros(h, dtype=np.int64)
    for k in range(N_CHILD):
        ca = mother_age - offset
        exists = (k < n_ever) & (ca > 0.05)
        order = np.full(h, k + 1, dtype=np.int64)
        boy = rng.random(h) < _boy_probability(order, first_girl, urban)
        if k == 0:
            first_girl = ~boy
        slot = CHILD0 + k
        child_age[:, k] = np.where(exists, ca, -1.0)
        stays = np.where(
            ca < 20,
            True,
            rng.random(h) < np.clip((33 - ca) / 10, 0, 1) * np.where(boy, 0.95, 0.8),
        )
        if migrant:
            stays = stays & (ca < 16) & (rng.random(h) < 0.6)  # left-behind children stay home
        present[:, slot] = exists & stays
        age[:, slot] = ca
        male[:, slot] = boy
        relation[:, slot] = np.where(boy, "子", "女")
        marital[:, slot] = "未婚"
        mother[:, slot] = mother_slot
        father[:, slot] = father_slot
        girls_so_far &= ~(exists & boy)
        born += exists
        offset = offset + rng.uniform(2.0, 6.0, h)
    n_children[:, HEAD] = born
    n_children[:, SPOUSE] = np.where(married, born, 0)
    all_girls[:, HEAD] = girls_so_far & (born > 0)
    all_girls[:, SPOUSE] = girls_so_far & (born > 0) & married

    # --- three generations: a married son, his wife (儿媳) and their children ------------
    if not migrant:
        p3 = np.where(urban, 0.18, 0.35) * ((a_h >= 48) & (a_h <= 80))
        son_k = np.full(h, -1, dtype=np.int64)
        for k in range(N_CHILD - 1, -1, -1):
            ok = (child_age[:, k] >= 23) & (child_age[:, k] <= 45) & male[:, CHILD0 + k]
            son_k = np.where(ok, k, son_k)
        three = (son_k >= 0) & (rng.random(h) < p3)
        rows = np.flatnonzero(three)
        son_slot = CHILD0 + son_k[rows]
        present[rows, son_slot] = True
        marital[rows, son_slot] = "已婚"
        son_age = age[rows, son_slot]
        dil_age = son_age - np.clip(rng.normal(2.0, 2.0, len(rows)), -4, 8)
        dil_age = np.where(dil_age < 20.0, 20.0 + rng.uniform(0, 3, len(rows)), dil_age)
        present[rows, DIL] = True
        age[rows, DIL] = dil_age
        male[rows, DIL] = False
        relation[rows, DIL] = "儿媳"
        marital[rows, DIL] = "已婚"
        # other grown-up children have left the household
        for k in range(N_CHILD):
            grown = (age[rows, CHILD0 + k] >= 18) & (k != son_k[rows])
            present[rows[grown], CHILD0 + k] = False
        g_mby = (start_year - dil_age).astype(np.int64)
        g_n = _children_ever(g_mby, urban[rows], rng)
        g_offset = np.where(g_mby >= 1980, rng.uniform(22, 29, len(rows)), rng.uniform(21, 27, len(rows)))
        g_first_girl = np.zeros(len(rows), dtype=bool)
        g_girls = np.ones(len(rows), dtype=bool)
        g_born = np.zeros(len(rows), dtype=np.int64)
        for k in range(N_GRAND):
            ga = dil_age - g_offset
            exists = (k < g_n) & (ga > 0.05)
            order = np.full(len(rows), k + 1, dtype=np.int64)
            boy = rng.random(len(rows)) < _boy_probability(order, g_first_girl, urban[rows])
            if k == 0:
                g_first_girl = ~boy
            slot = GRAND0 + k
            present[rows, slot] = exists & ((ga < 20) | (rng.random(len(rows)) < 0.5))
            age[rows, slot] = ga
            male[rows, slot] = boy
            relation[rows, slot] = np.where(boy, "孙子", "孙女")
            marital[rows, slot] = "未婚"
            mother[rows, slot] = DIL
            father[rows, slot] = son_slot
            g_girls &= ~(exists & boy)
            g_born += exists
            g_offset = g_offset + rng.uniform(2.0, 6.0, len(rows))
        n_children[rows, DIL] = g_born
        n_children[rows, son_slot] = g_born
        all_girls[rows, DIL] = g_girls & (g_born > 0)
        all_girls[rows, son_slot] = g_girls & (g_born > 0)

        # --- the head's own parents (父亲/母亲) living in ------------------------------
        p_par = np.where(urban, 0.08, 0.12) * ((a_h >= 25) & (a_h <= 58)) * ~three
        with_par = rng.random(h) < p_par
        f_age = a_h + rng.uniform(24, 34, h)
        m_age = f_age - np.clip(rng.normal(2.0, 2.0, h), -4, 8)
        f_in = with_par & (rng.random(h) < 0.7) & (f_age < 97)
        m_in = with_par & ((rng.random(h) < 0.85) | ~f_in) & (m_age < 98)
        both = f_in & m_in
        present[:, FATHER] = f_in
        present[:, MOTHER] = m_in
        age[:, FATHER] = f_age
        age[:, MOTHER] = m_age
        male[:, FATHER] = True
        male[:, MOTHER] = False
        relation[:, FATHER] = "父亲"
        relation[:, MOTHER] = "母亲"
        marital[:, FATHER] = np.where(both, "已婚", "丧偶")
        marital[:, MOTHER] = np.where(both, "已婚", "丧偶")
        mother[:, HEAD] = np.where(m_in, MOTHER, -1)
        father[:, HEAD] = np.where(f_in, FATHER, -1)
        # the head's parents count the head among their children
        n_children[:, FATHER] = np.where(f_in, rng.integers(1, 5, h), 0)
        n_children[:, MOTHER] = np.where(
            m_in, np.where(f_in, n_children[:, FATHER], rng.integers(1, 5, h)), 0
        )

    return _Slots(
        present=present,
        age=age,
        male=male,
        relation=relation,
        marital=marital,
        mother=mother,
        father=father,
        n_children=n_children,
        all_girls=all_girls,
        village=village,
        migrant=migrant,
    )


def _single_households(
    count: int, village_p: FloatArray, rng: np.random.Generator, *, migrant: bool
) -> _Slots:
    """``count`` one-person households (a single worker or a widowed elder)."""
    h = count
    present = np.zeros((h, N_SLOTS), dtype=bool)
    present[:, HEAD] = True
    age = np.zeros((h, N_SLOTS))
    elder = rng.random(h) < (0.1 if migrant else 0.6)
    age[:, HEAD] = np.where(elder, rng.uniform(62, 90, h), rng.uniform(20, 45, h))
    male = np.zeros((h, N_SLOTS), dtype=bool)
    male[:, HEAD] = rng.random(h) < np.where(elder, 0.35, 0.7)
    relation = np.full((h, N_SLOTS), "", dtype=object)
    relation[:, HEAD] = "户主"
    marital = np.full((h, N_SLOTS), "", dtype=object)
    marital[:, HEAD] = np.where(elder, "丧偶", "未婚")
    n_children = np.zeros((h, N_SLOTS), dtype=np.int64)
    n_children[:, HEAD] = np.where(elder, rng.integers(1, 4, h), 0)
    return _Slots(
        present=present,
        age=age,
        male=male,
        relation=relation,
        marital=marital,
        mother=np.full((h, N_SLOTS), -1, dtype=np.int64),
        father=np.full((h, N_SLOTS), -1, dtype=np.int64),
        n_children=n_children,
        all_girls=np.zeros((h, N_SLOTS), dtype=bool),
        village=rng.choice(len(village_p), size=h, p=village_p),
        migrant=migrant,
    )


def _concat_slots(parts: list[_Slots]) -> _Slots:
    """Stack several slot sets (same kind) into one."""
    return _Slots(
        present=np.concatenate([p.present for p in parts]),
        age=np.concatenate([p.age for p in parts]),
        male=np.concatenate([p.male for p in parts]),
        relation=np.concatenate([p.relation for p in parts]),
        marital=np.concatenate([p.marital for p in parts]),
        mother=np.concatenate([p.mother for p in parts]),
        father=np.concatenate([p.father for p in parts]),
        n_children=np.concatenate([p.n_children for p in parts]),
        all_girls=np.concatenate([p.all_girls for p in parts]),
        village=np.concatenate([p.village for p in parts]),
        migrant=parts[0].migrant,
    )


def _take(slots: _Slots, rows: IntArray) -> _Slots:
    """The households ``rows`` of a slot set."""
    return _Slots(
        present=slots.present[rows],
        age=slots.age[rows],
        male=slots.male[rows],
        relation=slots.relation[rows],
        marital=slots.marital[rows],
        mother=slots.mother[rows],
        father=slots.father[rows],
        n_children=slots.n_children[rows],
        all_girls=slots.all_girls[rows],
        village=slots.village[rows],
        migrant=slots.migrant,
    )


@dataclass
class _Births:
    """Window births chosen for a slot set: household row, mother slot, date, order, sex."""

    household: IntArray
    mother_slot: IntArray
    father_slot: IntArray
    day: IntArray  # days after start
    order: IntArray
    male: BoolArray


def _window_births(
    slots: _Slots,
    village_urban: BoolArray,
    village_warning: BoolArray,
    window_days: int,
    rng: np.random.Generator,
) -> _Births:
    """Choose the mothers who give birth in the window and draw each birth."""
    years = window_days / 365.25
    hh: list[IntArray] = []
    ms: list[IntArray] = []
    fs: list[IntArray] = []
    orders: list[IntArray] = []
    for m_slot in (HEAD, SPOUSE, DIL):
        is_mother = slots.present[:, m_slot] & ~slots.male[:, m_slot]
        if m_slot == DIL:
            partner_slot = np.full(len(is_mother), -1, dtype=np.int64)
            for k in range(N_CHILD):
                partner_slot = np.where(slots.marital[:, CHILD0 + k] == "已婚", CHILD0 + k, partner_slot)
            partner_ok = partner_slot >= 0
        else:
            other = SPOUSE if m_slot == HEAD else HEAD
            partner_slot = np.full(len(is_mother), other, dtype=np.int64)
            partner_ok = slots.present[:, other] & slots.male[:, other]
        a = slots.age[:, m_slot]
        n_prev = slots.n_children[:, m_slot]
        urban = village_urban[slots.village]
        p0 = np.interp(a, [18, 20, 23, 27, 31, 35, 40, 45], [0.05, 0.35, 0.55, 0.6, 0.42, 0.22, 0.06, 0.0])
        p1 = np.where(urban, 0.045, 0.13) * np.interp(a, [20, 25, 38, 44], [0.5, 1.0, 0.6, 0.0])
        p2 = np.where(urban, 0.004, 0.02) * (a < 42)
        p = np.select([n_prev == 0, n_prev == 1], [p0, p1], default=p2) * (years / 2.5)
        if slots.migrant:
            p = p * 0.7
        chosen = is_mother & partner_ok & (a >= 18) & (a <= 45) & (rng.random(len(a)) < np.minimum(p, 0.9))
        rows = np.flatnonzero(chosen)
        hh.append(rows)
        ms.append(np.full(len(rows), m_slot, dtype=np.int64))
        fs.append(partner_slot[rows])
        orders.append(n_prev[rows] + 1)
    household = np.concatenate(hh)
    mother_slot = np.concatenate(ms)
    father_slot = np.concatenate(fs)
    order = np.concatenate(orders)
    sort = np.lexsort((mother_slot, household))
    household, mother_slot, father_slot, order = (
        household[sort],
        mother_slot[sort],
        father_slot[sort],
        order[sort],
    )
    # the youngest earlier child (at the window start) sets the earliest next birth
    child_slots = np.arange(CHILD0, CHILD0 + N_CHILD)
    grand_slots = np.arange(GRAND0, GRAND0 + N_GRAND)
    ages_c = np.where(slots.age[:, child_slots] > 0.05, slots.age[:, child_slots], np.inf).min(axis=1)
    ages_g = np.where(slots.age[:, grand_slots] > 0.05, slots.age[:, grand_slots], np.inf).min(axis=1)
    youngest = np.where(mother_slot == DIL, ages_g[household], ages_c[household])
    earliest = np.clip(np.ceil((1.2 - youngest) * 365.25), 0, None)
    earliest = np.where(np.isfinite(earliest), earliest, 0).astype(np.int64)
    ok = earliest <= window_days
    household, mother_slot, father_slot, order, earliest = (
        household[ok],
        mother_slot[ok],
        father_slot[ok],
        order[ok],
        earliest[ok],
    )
    day = earliest + (rng.random(len(household)) * (window_days + 1 - earliest)).astype(np.int64)
    urban = village_urban[slots.village[household]]
    # was the first child a girl (for the rural second-birth pattern)?
    first_slot = np.where(mother_slot == DIL, GRAND0, CHILD0)
    first_girl = ~slots.male[household, first_slot] & (order == 2)
    boy = rng.random(len(household)) < _boy_probability(order, first_girl, urban)
    warning = village_warning[slots.village[household]]
    boy = np.where(warning & (order == 2), True, boy)
    return _Births(household, mother_slot, father_slot, day, order, boy)


def _household_sizes(slots: _Slots, births: _Births) -> IntArray:
    """Persons per household including the window's newborns."""
    sizes = slots.present.sum(axis=1).astype(np.int64)
    np.add.at(sizes, births.household, 1)
    return sizes


def _trim(
    slots: _Slots, births: _Births, target: int, village_p: FloatArray, rng: np.random.Generator
) -> tuple[_Slots, _Births]:
    """Keep whole households up to ``target`` persons, pad with one-person households."""
    sizes = _household_sizes(slots, births)
    cum = np.cumsum(sizes)
    keep = int(np.searchsorted(cum, target, side="right"))
    kept = int(cum[keep - 1]) if keep > 0 else 0
    rows = np.arange(keep)
    slots_kept = _take(slots, rows)
    sel = births.household < keep
    births_kept = _Births(
        births.household[sel],
        births.mother_slot[sel],
        births.father_slot[sel],
        births.day[sel],
        births.order[sel],
        births.male[sel],
    )
    missing = target - kept
    if missing > 0:
        pad = _single_households(missing, village_p, rng, migrant=slots.migrant)
        slots_kept = _concat_slots([slots_kept, pad])
    return slots_kept, births_kept


def _address_numbers(n: int, urban: BoolArray, rng: np.random.Generator) -> list[str]:
    """House numbers: ``123号`` in villages, ``12号楼3门402`` in communities."""
    bldg = rng.integers(1, 40, n)
    unit = rng.integers(1, 5, n)
    floor = rng.integers(1, 7, n)
    room = rng.integers(1, 3, n)
    house = rng.integers(1, 400, n)
    return [
        f"{b}号楼{u}门{f}0{r}" if ur else f"{hn}号"
        for b, u, f, r, hn, ur in zip(bldg, unit, floor, room, house, urban, strict=True)
    ]


def build_population(
    persons: int,
    county: County,
    rng: np.random.Generator,
    *,
    start: date,
    end: date,
) -> Population:
    """Build exactly ``persons`` people living in ``county`` over the window ``start``–``end``."""
    if persons < 1:
        raise ValueError("persons must be at least 1")
    ref = region_names()
    v = county.villages
    v_urban = v["urban"].to_numpy(dtype=bool)
    v_warning = v["warning"].to_numpy(dtype=bool)
    v_p = v["weight"].to_numpy(dtype=np.float64)
    v_p = v_p / v_p.sum()
    # migrants live mostly in the streets' communities and town centres
    m_w = v_p * np.where(v_urban, 3.0, 0.6)
    m_p = m_w / m_w.sum()
    start64 = np.datetime64(start, "D")
    end64 = np.datetime64(end, "D")
    window_days = int((end64 - start64).astype(np.int64))
    start_year = start.year

    n_migrants = round(persons * MIGRANT_SHARE) if persons >= 50 else 0
    n_residents = persons - n_migrants

    res = _build_households(
        int(n_residents / 2.6) + 20, v_p, v_urban, rng, migrant=False, start_year=start_year
    )
    res_births = _window_births(res, v_urban, v_warning, window_days, rng)
    res, res_births = _trim(res, res_births, n_residents, v_p, rng)

    if n_migrants:
        mig = _build_households(
            int(n_migrants / 1.6) + 10, m_p, v_urban, rng, migrant=True, start_year=start_year
        )
        mig_births = _window_births(mig, v_urban, v_warning, window_days, rng)
        mig, mig_births = _trim(mig, mig_births, n_migrants, m_p, rng)
        parts = [(res, res_births), (mig, mig_births)]
    else:
        parts = [(res, res_births)]

    frames: list[pd.DataFrame] = []
    birth_frames: list[pd.DataFrame] = []
    hh_frames: list[pd.DataFrame] = []
    hh_offset = 0
    person_offset = 0
    for slots, births in parts:
        frame, bframe = _flatten(slots, births, hh_offset, person_offset, start64)
        frames.append(frame)
        birth_frames.append(bframe)
        hh_frames.append(
            pd.DataFrame({"village": slots.village, "migrant": np.full(len(slots.village), slots.migrant)})
        )
        hh_offset += len(slots.village)
        person_offset += len(frame)
    people = pd.concat(frames, ignore_index=True)
    births_df = pd.concat(birth_frames, ignore_index=True)
    households = pd.concat(hh_frames, ignore_index=True)
    assert len(people) == persons, (len(people), persons)

    _add_households(households, county, rng)
    _add_identity(people, households, county, rng, start64, end64, ref.origin_codes, ref.origin_p)
    _add_events(people, rng, start64, end64)
    people["person_id"] = [f"P{i + 1:08d}" for i in range(len(people))]
    births_df["birth"] = people["birth"].to_numpy()[births_df["child"].to_numpy()]
    births_df["birth_minute"] = people["birth_minute"].to_numpy()[births_df["child"].to_numpy()]
    return Population(
        persons=people, households=households, births=births_df, county=county, start=start64, end=end64
    )


def _flatten(
    slots: _Slots, births: _Births, hh_offset: int, person_offset: int, start64: np.datetime64
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn slot arrays plus newborns into one row per person (ordered by household, slot)."""
    h = len(slots.village)
    idx_map = np.full((h, N_SLOTS), -1, dtype=np.int64)
    hh_idx, slot_idx = np.nonzero(slots.present)
    n_base = len(hh_idx)
    nb = len(births.household)
    # final order: by household, then slot (newborns last in their household)
    all_hh = np.concatenate([hh_idx, births.household])
    all_slot = np.concatenate([slot_idx, np.full(nb, NEWBORN_SLOT)])
    order = np.lexsort((np.arange(n_base + nb), all_slot, all_hh))
    position = np.empty(n_base + nb, dtype=np.int64)
    position[order] = np.arange(n_base + nb)
    idx_map[hh_idx, slot_idx] = position[:n_base] + person_offset

    n = n_base + nb
    male = np.concatenate([slots.male[hh_idx, slot_idx], births.male])
    age_days = np.round(slots.age[hh_idx, slot_idx] * 365.25).astype(np.int64)
    birth_base = start64 - age_days.astype("timedelta64[D]")
    birth_new = start64 + births.day.astype("timedelta64[D]")
    mother_slot = slots.mother[hh_idx, slot_idx]
    father_slot = slots.father[hh_idx, slot_idx]
    mother_base = np.where(mother_slot >= 0, idx_map[hh_idx, np.maximum(mother_slot, 0)], -1)
    father_base = np.where(father_slot >= 0, idx_map[hh_idx, np.maximum(father_slot, 0)], -1)
    mother_new = idx_map[births.household, births.mother_slot]
    father_new = np.where(
        births.father_slot >= 0, idx_map[births.household, np.maximum(births.father_slot, 0)], -1
    )
    rel_new = np.where(
        births.mother_slot == DIL,
        np.where(births.male, "孙子", "孙女"),
        np.where(births.male, "子", "女"),
    )
    n_children = slots.n_children[hh_idx, slot_idx].copy()
    all_girls = slots.all_girls[hh_idx, slot_idx].copy()

    def cat(a: npt.NDArray[np.generic], b: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        return np.concatenate([a, b])

    data = {
        "household": cat(hh_idx, births.household) + hh_offset,
        "slot": all_slot,
        "male": male,
        "birth": cat(birth_base, birth_new).astype("datetime64[D]"),
        "relation": cat(slots.relation[hh_idx, slot_idx], rel_new.astype(object)),
        "marital": cat(slots.marital[hh_idx, slot_idx], np.full(nb, "未婚", dtype=object)),
        "mother": cat(mother_base, mother_new),
        "father": cat(father_base, father_new),
        "n_children": cat(n_children, np.zeros(nb, dtype=np.int64)),
        "all_girls": cat(all_girls, np.zeros(nb, dtype=bool)),
        "window_birth": cat(np.zeros(n_base, dtype=bool), np.ones(nb, dtype=bool)),
        "migrant": np.full(n, slots.migrant),
    }
    frame = pd.DataFrame(data)
    frame = frame.iloc[order].reset_index(drop=True)
    # a newborn counts among its parents' children
    new_pos = position[n_base:] + person_offset
    counts = frame["n_children"].to_numpy().copy()
    for parent in (mother_new, father_new):
        ok = parent >= 0
        np.add.at(counts, parent[ok] - person_offset, 1)
    frame["n_children"] = counts
    bframe = pd.DataFrame(
        {
            "child": new_pos,
            "mother": mother_new,
            "father": father_new,
            "order": births.order,
            "male": births.male,
            "household": births.household + hh_offset,
            "migrant": np.full(nb, slots.migrant),
        }
    )
    bframe = bframe.sort_values("child", kind="stable").reset_index(drop=True)
    return frame, bframe


def _add_households(households: pd.DataFrame, county: County, rng: np.random.Generator) -> None:
    """Household numbers (户号) for residents and the address of every household."""
    n = len(households)
    migrant = households["migrant"].to_numpy(dtype=bool)
    gaps = rng.integers(1, 9, n)
    numbers = 100_000_000 + np.cumsum(np.where(migrant, 0, gaps))
    households["household_no"] = np.where(migrant, "", numbers.astype(str)).astype(object)
    v = county.villages
    village = households["village"].to_numpy()
    urban = v["urban"].to_numpy(dtype=bool)[village]
    numbers_txt = _address_numbers(n, urban, rng)
    prefix = (county.city + county.name + v["town_name"] + v["name"]).to_numpy()[village]
    households["address"] = [p + s for p, s in zip(prefix, numbers_txt, strict=True)]


def _add_identity(
    people: pd.DataFrame,
    households: pd.DataFrame,
    county: County,
    rng: np.random.Generator,
    start64: np.datetime64,
    end64: np.datetime64,
    origin_codes: tuple[str, ...],
    origin_p: FloatArray,
) -> None:
    """Names, ID numbers, addresses, region codes, ethnicity and registration dates."""
    n = len(people)
    hh = people["household"].to_numpy()
    slot = people["slot"].to_numpy()
    male = people["male"].to_numpy(dtype=bool)
    migrant = people["migrant"].to_numpy(dtype=bool)
    birth = people["birth"].to_numpy().astype("datetime64[D]")
    by, _, _ = ymd(birth)
    window_birth = people["window_birth"].to_numpy(dtype=bool)
    village = households["village"].to_numpy()[hh]
    people["village"] = village
    people["region_code"] = county.villages["code"].to_numpy()[village]
    people["address"] = households["address"].to_numpy()[hh]
    people["household_no"] = households["household_no"].to_numpy()[hh]

    # --- origin and ID address code ---------------------------------------------------
    origins = np.asarray(origin_codes, dtype=object)
    hh_origin = origins[rng.choice(len(origins), size=len(households), p=origin_p)]
    own_origin = origins[rng.choice(len(origins), size=n, p=origin_p)]
    married_in = (slot == SPOUSE) | (slot == DIL)
    outsider = (
        np.where(married_in & ~male, rng.random(n) < 0.3, rng.random(n) < 0.03) & ~window_birth & ~migrant
    )
    old_code = (by < 2001) & (rng.random(n) < np.interp(by, [1930, 1980, 2000], [0.6, 0.3, 0.1]))
    addr = np.where(old_code, "120224", county.code).astype(object)
    addr = np.where(outsider, own_origin, addr)
    mig_origin = hh_origin[hh]
    addr = np.where(migrant, mig_origin, addr)
    people["origin_code"] = np.where(migrant, mig_origin, county.code)
    eligible15 = np.isin(addr, ["120224", "120221"]) & (by < 1950) & ~migrant
    max_seq = np.where(eligible15, 995, 999).astype(np.int64)
    ids = build_ids(addr.astype(object), birth, male, rng, max_sequence=max_seq)
    people["id_no"] = ids
    people["id15_eligible"] = eligible15
    people["id15"] = np.where(
        eligible15, [to_15_digits(x) if e else "" for x, e in zip(ids, eligible15, strict=True)], ""
    )

    # --- names ----------------------------------------------------------------------
    surname = draw_surnames(n, rng)
    # the unit's surname: children and grandchildren take the father's surname
    father = people["father"].to_numpy()
    head_pos = np.full(len(households), -1, dtype=np.int64)
    is_head = slot == HEAD
    head_pos[hh[is_head]] = np.flatnonzero(is_head)
    head_of = head_pos[hh]
    # the head's father shares the head's surname
    surname = np.where((slot == FATHER) & (head_of >= 0), surname[np.maximum(head_of, 0)], surname)
    # children in slot order: parents come before children within a household
    for _ in range(3):
        surname = np.where(father >= 0, surname[np.maximum(father, 0)], surname)
    given = draw_given_names(male, by, rng)
    people["surname"] = surname
    people["name"] = [s + g for s, g in zip(surname, given, strict=True)]
    former = (by < 1975) & (rng.random(n) < 0.02)
    former_given = draw_given_names(male, by, rng, rare_rate=0.0)
    people["former_name"] = np.where(former, [s + g for s, g in zip(surname, former_given, strict=True)], "")
    eth = np.asarray(ETHNICITIES, dtype=object)[
        rng.choice(len(ETHNICITIES), size=len(households), p=ETHNICITY_P)
    ]
    people["ethnicity"] = eth[hh]
    urban = county.villages["urban"].to_numpy(dtype=bool)[village]
    people["only_child"] = (by >= 1972) & (rng.random(n) < np.where(urban, 0.55, 0.3))

    # --- registration date (户籍登记日期) and arrival of migrants ----------------------
    reg = birth + rng.integers(5, 60, n).astype("timedelta64[D]")
    marriage_in = birth + (rng.uniform(21, 28, n) * 365.25).astype(np.int64).astype("timedelta64[D]")
    reg = np.where(outsider, np.minimum(marriage_in, start64 - np.timedelta64(1, "D")), reg)
    window_days = int((end64 - start64).astype(np.int64))
    moved_in = (
        outsider
        & (birth < start64 - np.timedelta64(20 * 365, "D"))
        & (birth > start64 - np.timedelta64(36 * 365, "D"))
        & (rng.random(n) < 0.12)
    )
    reg = np.where(moved_in, start64 + rng.integers(0, window_days, n).astype("timedelta64[D]"), reg)
    arrival = start64 - rng.integers(-window_days, 6 * 365, n).astype("timedelta64[D]")
    arrival = np.maximum(arrival, birth)
    reg = np.where(migrant & ~window_birth, arrival, reg)
    reg = np.where(window_birth, np.datetime64("NaT"), reg)
    people["registered_date"] = reg.astype("datetime64[D]")
    people["birth_minute"] = np.where(window_birth, rng.integers(0, 24 * 60, n), -1)


def _add_events(
    people: pd.DataFrame, rng: np.random.Generator, start64: np.datetime64, end64: np.datetime64
) -> None:
    """Deaths and moves out of the registry during the window."""
    n = len(people)
    birth = people["birth"].to_numpy().astype("datetime64[D]")
    window_days = int((end64 - start64).astype(np.int64))
    years = window_days / 365.25
    age = (start64 - birth).astype(np.int64) / 365.25
    q = np.minimum(0.45, np.exp(-10.2 + 0.095 * np.maximum(age, 1.0)))
    q = np.where(age < 1, 0.004, q)
    begin = np.maximum(birth, start64)
    alive_days = (end64 - begin).astype(np.int64)
    p_die = 1 - (1 - q) ** np.maximum(alive_days / 365.25, 0)
    dies = rng.random(n) < p_die
    death = begin + (rng.random(n) * np.maximum(alive_days, 0)).astype(np.int64).astype("timedelta64[D]")
    death = np.where(dies, death, np.datetime64("NaT"))

    migrant = people["migrant"].to_numpy(dtype=bool)
    male = people["male"].to_numpy(dtype=bool)
    p_move = np.where((age >= 16) & (age <= 45), 0.008, 0.0015) * years
    soldier = male & (age >= 17) & (age <= 21) & (rng.random(n) < 0.012 * years)
    moves = ~migrant & ((rng.random(n) < p_move) | soldier)
    move_date = begin + (rng.random(n) * np.maximum(alive_days, 0)).astype(np.int64).astype("timedelta64[D]")
    u = rng.random(n)
    reason = np.where(
        soldier, "服兵役", np.where(u < 0.93, "迁出", np.where(u < 0.96, "出国(境)定居", "其他"))
    )
    moves = moves & (alive_days > 0)
    # moved away first: a later death is not known to the county
    first_move = moves & (~dies | (move_date < death))
    people["death"] = np.where(first_move, np.datetime64("NaT"), death).astype("datetime64[D]")
    people["move_date"] = np.where(first_move, move_date, np.datetime64("NaT")).astype("datetime64[D]")
    people["move_reason"] = np.where(first_move, reason, "").astype(object)
