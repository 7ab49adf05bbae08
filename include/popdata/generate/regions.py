"""The county's statistical divisions (统计用区划代码), scaled with the population.

A county ``120115`` (天津市宝坻区) has 20–40 towns (乡级: 街道 001–099, 镇/乡 100–199)
and villages (村级: 居委会/社区 001–199, 村委会 200–399). Village sizes vary; a few
villages are "warning villages" (重点警示村) whose second births are all boys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from popdata.generate.reference import region_names


@dataclass(frozen=True)
class County:
    """The synthetic county: a town table and a village table.

    ``villages`` columns: ``code`` (12 digits), ``name``, ``town_code`` (12 digits),
    ``town_name``, ``urban`` (community 居委会, bool), ``urban_rural`` (城乡分类代码),
    ``weight`` (share of the resident population), ``warning`` (no second daughters).
    ``towns`` columns: ``code``, ``name``, ``street`` (街道, bool).
    """

    code: str
    name: str
    city: str
    towns: pd.DataFrame
    villages: pd.DataFrame

    @property
    def county_code12(self) -> str:
        """The county's own 12-digit code (``120115000000``)."""
        return self.code + "000000"


def town_count(persons: int) -> int:
    """Number of towns for a population: 20 at 10 000 persons or fewer, 40 at 1 000 000."""
    n = 20 + 10 * math.log10(max(persons, 1) / 10_000)
    return int(min(40, max(20, round(n))))


def build_county(persons: int, rng: np.random.Generator) -> County:
    """Build the county's towns and villages for ``persons`` inhabitants."""
    ref = region_names()
    n_towns = town_count(persons)
    n_streets = max(4, round(n_towns * 0.2))
    n_streets = min(n_streets, len(ref.streets))
    n_rural = n_towns - n_streets
    town_rows: list[tuple[str, str, bool]] = []
    for i in range(n_streets):
        town_rows.append((f"{ref.county_code}{i + 1:03d}000", ref.streets[i], True))
    for i in range(n_rural):
        town_rows.append((f"{ref.county_code}{101 + i:03d}000", ref.towns[i], False))
    towns = pd.DataFrame(town_rows, columns=["code", "name", "street"])

    n_villages = int(max(2 * n_towns, round(persons / 1300)))
    # streets get several communities, towns one or two communities and many villages
    town_weight = np.where(towns["street"].to_numpy(), 1.4, 1.0) * rng.uniform(0.7, 1.3, n_towns)
    per_town = np.maximum(2, np.round(n_villages * town_weight / town_weight.sum())).astype(int)
    per_town = np.minimum(per_town, 150)

    rows: list[tuple[str, str, str, str, bool, str, float]] = []
    for t in range(n_towns):
        tcode = str(towns.at[t, "code"])
        tname = str(towns.at[t, "name"])
        street = bool(towns.at[t, "street"])
        count = int(per_town[t])
        used: set[str] = set()
        if street:
            roots = rng.permutation(len(ref.community_roots))
            for j in range(min(count, len(roots))):
                name = ref.community_roots[int(roots[j])] + "社区"
                ur = "111" if j % 3 != 2 else "112"
                rows.append((f"{tcode[:9]}{j + 1:03d}", name, tcode, tname, True, ur, 2.0))
            continue
        n_comm = 1 if count < 8 else 2
        core = tname[1:-1] if len(tname) >= 4 else tname[:-1]
        comm_names = [core + "社区"]
        extra_root = ref.community_roots[int(rng.integers(len(ref.community_roots)))]
        comm_names.append(extra_root + "社区")
        for j in range(n_comm):
            ur = "121" if j == 0 else "122"
            rows.append((f"{tcode[:9]}{j + 1:03d}", comm_names[j], tcode, tname, True, ur, 1.6))
        for j in range(count - n_comm):
            for _ in range(50):
                name = (
                    ref.village_prefix[int(rng.integers(len(ref.village_prefix)))]
                    + ref.village_root[int(rng.integers(len(ref.village_root)))]
                    + ref.village_suffix[int(rng.integers(len(ref.village_suffix)))]
                    + "村"
                )
                if name not in used:
                    break
            used.add(name)
            ur = "210" if j < max(1, (count - n_comm) // 10) else "220"
            rows.append((f"{tcode[:9]}{201 + j:03d}", name, tcode, tname, False, ur, 1.0))
    villages = pd.DataFrame(
        rows, columns=["code", "name", "town_code", "town_name", "urban", "urban_rural", "weight"]
    )
    size = villages["weight"].to_numpy() * rng.lognormal(0.0, 0.45, len(villages))
    villages["weight"] = size / size.sum()
    rural_idx = np.flatnonzero(~villages["urban"].to_numpy())
    n_warning = max(1, round(0.03 * len(rural_idx)))
    warning = np.zeros(len(villages), dtype=bool)
    if len(rural_idx):
        # the warning villages are larger ones, so the pattern is visible
        order = rural_idx[np.argsort(-villages["weight"].to_numpy()[rural_idx], kind="stable")]
        pick = rng.choice(order[: max(n_warning * 3, 1)], size=min(n_warning, len(order)), replace=False)
        warning[np.sort(pick)] = True
    villages["warning"] = warning
    ref_county = ref.county_code
    return County(code=ref_county, name=ref.county_name, city=ref.city_name, towns=towns, villages=villages)


def village_full_names(county: County) -> npt.NDArray[np.str_]:
    """Full names of each village as offices write them (``宝坻区牛道口镇东风村``)."""
    v = county.villages
    return np.asarray((county.name + v["town_name"] + v["name"]).to_numpy(), dtype=np.str_)
