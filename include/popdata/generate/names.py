"""Chinese personal names (姓名) and their real-world spelling variations.

Names are drawn from embedded surname frequencies and given-name character pools by sex
and birth cohort. Helpers produce what agencies write instead: homophone spellings
(晓/小), Traditional characters (OpenCC ``s2t``: 劉 for 刘) and damaged text (``?`` or
U+FFFD left by a lossy conversion).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
import opencc

from popdata.generate.reference import name_pools

StrArray = npt.NDArray[np.object_]


def cohort_of(birth_year: npt.NDArray[np.int64]) -> npt.NDArray[np.str_]:
    """Cohort label for given-name pools: old (<1960), mid (<1980), young (<2000), child."""
    return np.select(
        [birth_year < 1960, birth_year < 1980, birth_year < 2000],
        ["old", "mid", "young"],
        default="child",
    ).astype(np.str_)


def draw_surnames(n: int, rng: np.random.Generator) -> StrArray:
    """``n`` surnames drawn by their frequency."""
    pools = name_pools()
    idx = rng.choice(len(pools.surnames), size=n, p=pools.surname_p)
    return np.asarray(pools.surnames, dtype=object)[idx]


def draw_given_names(
    male: npt.NDArray[np.bool_],
    birth_year: npt.NDArray[np.int64],
    rng: np.random.Generator,
    *,
    rare_rate: float = 0.0005,
) -> StrArray:
    """Given names (名) by sex and cohort; a few carry a rare character (生僻字)."""
    pools = name_pools()
    n = len(male)
    out = np.empty(n, dtype=object)
    cohorts = cohort_of(birth_year)
    for sex_flag, sex in ((True, "M"), (False, "F")):
        for cohort in ("old", "mid", "young", "child"):
            sel = np.flatnonzero((male == sex_flag) & (cohorts == cohort))
            if len(sel) == 0:
                continue
            pool = pools.given[sex][cohort]
            first = np.asarray(list(str(pool["first"])), dtype=object)
            second = np.asarray(list(str(pool["second"])), dtype=object)
            single = rng.random(len(sel)) < float(pool["single_share"])
            a = first[rng.integers(len(first), size=len(sel))]
            b = second[rng.integers(len(second), size=len(sel))]
            names = np.where(single, b, a + b)
            out[sel] = names
    rare_pick = np.flatnonzero(rng.random(n) < rare_rate)
    if len(rare_pick):
        rare_chars = np.asarray(list(pools.rare), dtype=object)
        chosen = rare_chars[rng.integers(len(rare_chars), size=len(rare_pick))]
        for i, ch in zip(rare_pick, chosen, strict=True):
            name = str(out[i])
            out[i] = name[:-1] + str(ch)
    return out


def homophone_variant(name: str, rng: np.random.Generator) -> str | None:
    """The name with one given-name character replaced by a homophone, or None."""
    if len(name) < 2:
        return None
    table = name_pools().homophones
    positions = [i for i in range(1, len(name)) if name[i] in table]
    if not positions:
        return None
    pos = positions[int(rng.integers(len(positions)))]
    return name[:pos] + table[name[pos]] + name[pos + 1 :]


@lru_cache(maxsize=2)
def _converter(config: str) -> opencc.OpenCC:
    """A cached OpenCC converter (``s2t`` or ``t2s``)."""
    return opencc.OpenCC(config)


def to_traditional(values: list[str]) -> list[str]:
    """Convert values to Traditional characters (one OpenCC call for the whole list)."""
    if not values:
        return []
    joined = "\n".join(v.replace("\n", "\u2028") for v in values)
    converted = str(_converter("s2t").convert(joined)).split("\n")
    return [v.replace("\u2028", "\n") for v in converted]


def damage(value: str, rng: np.random.Generator, *, allow_fffd: bool) -> str:
    """Damage a name as a lossy conversion does: ``?`` for a character, U+FFFD, or mojibake.

    The result always contains ``?`` or U+FFFD (the detectable signature).
    """
    if not value:
        return "?"
    style = int(rng.integers(3))
    if style == 2:
        moji = value.encode("utf-8").decode("gbk", errors="replace")
        if not allow_fffd:
            moji = moji.replace("\ufffd", "?")
        if "?" in moji or "\ufffd" in moji:
            return moji
        style = 0
    pos = int(rng.integers(len(value)))
    mark = "\ufffd" if (style == 1 and allow_fffd) else "?"
    return value[:pos] + mark + value[pos + 1 :]
