"""Small embedded reference data for the synthetic county generator.

Name pools (姓氏, 名字用字), region names (街道/镇/乡, 村/社区 name parts), migrants'
home counties (户籍地) and hospital names live as small files in ``data/`` next to this
module, so the generator never needs anything outside the package.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt


def _read_text(name: str) -> str:
    """Return the text of ``data/<name>`` shipped with the package."""
    return resources.files("popdata.generate").joinpath("data", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class NamePools:
    """Surnames (百家姓 with frequencies) and given-name character pools."""

    surnames: tuple[str, ...]
    surname_p: npt.NDArray[np.float64]
    given: dict[str, dict[str, dict[str, Any]]]
    rare: str
    homophones: dict[str, str]


@dataclass(frozen=True)
class RegionNames:
    """Name material for the county, its towns (乡级) and villages (村级)."""

    county_code: str
    county_name: str
    city_name: str
    streets: tuple[str, ...]
    towns: tuple[str, ...]
    village_prefix: tuple[str, ...]
    village_root: tuple[str, ...]
    village_suffix: tuple[str, ...]
    community_roots: tuple[str, ...]
    origin_codes: tuple[str, ...]
    origin_names: tuple[str, ...]
    origin_p: npt.NDArray[np.float64]
    hospitals: tuple[str, ...]
    clerks: tuple[str, ...]


@lru_cache(maxsize=1)
def name_pools() -> NamePools:
    """Load the embedded name pools (cached)."""
    rows = list(csv.DictReader(io.StringIO(_read_text("surnames.csv"))))
    weights = np.array([float(r["weight"]) for r in rows])
    given = json.loads(_read_text("given_names.json"))
    return NamePools(
        surnames=tuple(r["surname"] for r in rows),
        surname_p=weights / weights.sum(),
        given={sex: given[sex] for sex in ("M", "F")},
        rare=str(given["rare"]),
        homophones=dict(given["homophones"]),
    )


@lru_cache(maxsize=1)
def region_names() -> RegionNames:
    """Load the embedded region name material (cached)."""
    data = json.loads(_read_text("regions.json"))
    origins = data["origins"]
    weights = np.array([float(o[2]) for o in origins])
    return RegionNames(
        county_code=data["county"]["code"],
        county_name=data["county"]["name"],
        city_name=data["county"]["city"],
        streets=tuple(data["streets"]),
        towns=tuple(data["towns"]),
        village_prefix=tuple(data["village_prefix"]),
        village_root=tuple(data["village_root"]),
        village_suffix=tuple(data["village_suffix"]),
        community_roots=tuple(data["community_roots"]),
        origin_codes=tuple(o[0] for o in origins),
        origin_names=tuple(o[1] for o in origins),
        origin_p=weights / weights.sum(),
        hospitals=tuple(data["hospitals"]),
        clerks=tuple(data["clerks"]),
    )
