"""Resident identity numbers (公民身份号码, GB 11643-1999) and date helpers.

18 characters: 6-digit address code, 8-digit birth date, 3-digit sequence (odd for men,
even for women) and an ISO 7064 MOD 11-2 check character computed with python-stdnum.
Old 15-digit numbers (6 + YYMMDD + 3) are derived from the 18-digit ones.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from stdnum.cn import ric

DayArray = npt.NDArray[np.datetime64]
IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.object_]


def ymd(days: DayArray) -> tuple[IntArray, IntArray, IntArray]:
    """Split ``datetime64[D]`` values into year, month and day integer arrays."""
    d = days.astype("datetime64[D]")
    years = d.astype("datetime64[Y]")
    months = d.astype("datetime64[M]")
    y = years.astype(np.int64) + 1970
    m = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
    dd = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    return y, m, dd


def check_character(body17: str) -> str:
    """The check character for the first 17 digits (stdnum's ISO 7064 MOD 11-2)."""
    return str(ric.calc_check_digit(body17 + "0"))


def build_ids(
    address_codes: npt.NDArray[np.str_] | StrArray,
    birth_dates: DayArray,
    male: npt.NDArray[np.bool_],
    rng: np.random.Generator,
    *,
    max_sequence: npt.NDArray[np.int64] | None = None,
) -> StrArray:
    """Unique valid 18-digit numbers for people with these address codes and birth dates.

    ``max_sequence`` (per person, default 999) caps the 3-digit sequence, e.g. below 996
    for people whose old 15-digit number must upgrade with the ``19`` century.
    """
    n = len(birth_dates)
    if n == 0:
        return np.empty(0, dtype=object)
    y, m, d = ymd(birth_dates)
    date_int = y * 10_000 + m * 100 + d
    addr_int = np.array([int(a) for a in address_codes], dtype=np.int64)
    cap = np.full(n, 999, dtype=np.int64) if max_sequence is None else max_sequence
    parity = np.where(male, 1, 0)

    def draw(count: int, caps: IntArray, par: IntArray) -> IntArray:
        half = rng.integers(0, (caps + 1) // 2, size=count)
        seq = half * 2 + par
        seq = np.where(seq == 0, 2, seq)
        return np.minimum(seq, caps - ((caps - par) % 2))

    seq = draw(n, cap, parity)
    for _ in range(100):
        key = addr_int * 10**11 + date_int * 1000 + seq
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        dup_sorted = np.zeros(n, dtype=bool)
        dup_sorted[1:] = sorted_key[1:] == sorted_key[:-1]
        dup = order[dup_sorted]
        if len(dup) == 0:
            break
        seq[dup] = draw(len(dup), cap[dup], parity[dup])
    else:  # pragma: no cover - needs > 500 people born on one day in one county
        raise RuntimeError("could not find unique identity numbers")
    bodies = [
        f"{a:06d}{dt:08d}{s:03d}"
        for a, dt, s in zip(addr_int.tolist(), date_int.tolist(), seq.tolist(), strict=True)
    ]
    out = np.empty(n, dtype=object)
    out[:] = [b + str(ric.calc_check_digit(b + "0")) for b in bodies]
    return out


def to_15_digits(id18: str) -> str:
    """The old 15-digit form of an 18-digit number (address + YYMMDD + sequence)."""
    return id18[:6] + id18[8:17]


def upgrade_15(id15: str) -> str:
    """Upgrade a 15-digit number to 18 digits (century 18 for sequences 996–999)."""
    century = "18" if id15[12:15] in ("996", "997", "998", "999") else "19"
    body = id15[:6] + century + id15[6:15]
    return body + check_character(body)


def wrong_check(id18: str, rng: np.random.Generator) -> str:
    """The same number with a different, wrong check character."""
    good = id18[-1]
    choices = [c for c in "0123456789X" if c != good]
    return id18[:-1] + choices[int(rng.integers(len(choices)))]


def is_valid_check(id18: str) -> bool:
    """True when ``id18`` has 18 characters, 17 digits and the right check character."""
    if len(id18) != 18 or not id18[:17].isdigit():
        return False
    return id18[17].upper() == check_character(id18[:17])
