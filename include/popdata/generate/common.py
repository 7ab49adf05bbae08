"""Helpers shared by the agency builders: numbering, couples, frames."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd

from popdata.generate.population import DIL, HEAD, SPOUSE, Population

IntArray = npt.NDArray[np.int64]
DayArray = npt.NDArray[np.datetime64]


def yearly_numbers(days: DayArray, fmt: Callable[[int, int], str]) -> npt.NDArray[np.object_]:
    """Numbers like ``CS2014000073``: a sequence per year in date order, ``fmt(year, seq)``."""
    d = days.astype("datetime64[D]")
    n = len(d)
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    years = d.astype("datetime64[Y]").astype(np.int64) + 1970
    order = np.lexsort((np.arange(n), d))
    seq: dict[int, int] = {}
    for i in order.tolist():
        y = int(years[i])
        seq[y] = seq.get(y, 0) + 1
        out[i] = fmt(y, seq[y])
    return out


def random_codes(rng: np.random.Generator, n: int, letters: str, digits: int) -> npt.NDArray[np.object_]:
    """``n`` distinct codes of one letter and ``digits`` digits (``R518576597``)."""
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    low, high = 10 ** (digits - 1), 10**digits
    draws = rng.integers(low, high, size=int(n * 1.2) + 20)
    _, first = np.unique(draws, return_index=True)
    values = draws[np.sort(first)][:n]
    while len(values) < n:  # pragma: no cover - astronomically unlikely
        more = rng.integers(low, high, size=n)
        values = np.unique(np.concatenate([values, more]))[:n]
    letter = np.asarray(list(letters), dtype=object)[rng.integers(len(letters), size=n)]
    out[:] = [f"{a}{v}" for a, v in zip(letter, values.tolist(), strict=True)]
    return out


def couples(pop: Population) -> pd.DataFrame:
    """Married couples living together: ``wife``, ``husband`` (person indexes), ``household``."""
    p = pop.persons
    hh = p["household"].to_numpy()
    slot = p["slot"].to_numpy()
    male = p["male"].to_numpy(dtype=bool)
    marital = p["marital"].to_numpy()
    n_h = int(hh.max()) + 1 if len(hh) else 0
    head = np.full(n_h, -1, dtype=np.int64)
    spouse = np.full(n_h, -1, dtype=np.int64)
    dil = np.full(n_h, -1, dtype=np.int64)
    son = np.full(n_h, -1, dtype=np.int64)
    idx = np.arange(len(p))
    head[hh[slot == HEAD]] = idx[slot == HEAD]
    spouse[hh[slot == SPOUSE]] = idx[slot == SPOUSE]
    dil[hh[slot == DIL]] = idx[slot == DIL]
    is_son = (slot >= 4) & (slot < 9) & (marital == "已婚") & male
    son[hh[is_son]] = idx[is_son]
    pairs: list[pd.DataFrame] = []
    ok = (head >= 0) & (spouse >= 0)
    h_idx = np.flatnonzero(ok)
    hm = male[head[h_idx]]
    pairs.append(
        pd.DataFrame(
            {
                "wife": np.where(hm, spouse[h_idx], head[h_idx]),
                "husband": np.where(hm, head[h_idx], spouse[h_idx]),
                "household": h_idx,
            }
        )
    )
    ok2 = (dil >= 0) & (son >= 0)
    d_idx = np.flatnonzero(ok2)
    pairs.append(pd.DataFrame({"wife": dil[d_idx], "husband": son[d_idx], "household": d_idx}))
    return pd.concat(pairs, ignore_index=True).sort_values("wife", kind="stable").reset_index(drop=True)


def pre_defects(n: int, rows: IntArray, column: str, kind: str) -> npt.NDArray[np.object_]:
    """The ``_pre`` column: ``[(column, kind)]`` on ``rows``, None elsewhere."""
    out = np.empty(n, dtype=object)
    for i in rows.tolist():
        out[i] = [(column, kind)]
    return out


def days_between(a: DayArray, b: DayArray) -> IntArray:
    """``b - a`` in days."""
    return (b.astype("datetime64[D]") - a.astype("datetime64[D]")).astype(np.int64)


def add_days(d: DayArray, n: IntArray | int) -> DayArray:
    """``d + n`` days."""
    return d.astype("datetime64[D]") + np.asarray(n, dtype=np.int64).astype("timedelta64[D]")


def town_name_of(pop: Population) -> dict[str, str]:
    """Town name by 12-digit village code."""
    v = pop.county.villages
    return dict(zip(v["code"].astype(str), v["town_name"].astype(str), strict=True))
