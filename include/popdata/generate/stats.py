"""Statistics bureau feed (统计局): the statistical division codes (统计用区划代码).

One full snapshot, UTF-8 CSV: the county row ``<6 digits>000000`` (级别 县), the towns
(乡) and the villages (村) with their parent codes and urban–rural codes (城乡分类代码).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from popdata.generate.feeds import REGIONS
from popdata.generate.regions import County
from popdata.generate.writer import FeedTable, Group, Period


def region_table(county: County) -> pd.DataFrame:
    """The clean reference table: code, name, level, parent_code, urban_rural."""
    rows: list[dict[str, str]] = [
        {
            "code": county.county_code12,
            "name": county.name,
            "level": "县",
            "parent_code": "",
            "urban_rural": "",
        }
    ]
    villages = county.villages
    for code, name in zip(county.towns["code"].astype(str), county.towns["name"].astype(str), strict=True):
        rows.append(
            {
                "code": code,
                "name": name,
                "level": "乡",
                "parent_code": county.county_code12,
                "urban_rural": "",
            }
        )
        sub = villages[villages["town_code"] == code]
        for v_code, v_name, ur in zip(sub["code"], sub["name"], sub["urban_rural"], strict=True):
            rows.append(
                {
                    "code": str(v_code),
                    "name": str(v_name),
                    "level": "村",
                    "parent_code": code,
                    "urban_rural": str(ur),
                }
            )
    return pd.DataFrame(rows)


def regions(county: County, start: dt.date) -> FeedTable:
    """The regions feed: one snapshot dated the last day before the window's first year."""
    frame = region_table(county)
    extract = dt.date(start.year - 1, 12, 31)
    frame["_extract"] = np.datetime64(extract, "D")
    frame["_period"] = 0
    frame["_key"] = frame["code"]
    groups = {0: Group(seq=None, fmt="csv", encoding="utf-8", office="county")}
    return FeedTable(
        REGIONS, frame, [Period(extract, extract, extract)], groups, incremental=False, value_defects=False
    )
