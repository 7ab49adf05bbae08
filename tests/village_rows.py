"""Village direct reports (村级直报) for tests: a file of ``fp/village_reports`` as the intake app writes it.

The synthetic county (``popdata generate``) simulates the agencies' extracts; village reports
come from clerks through the intake app, so the generator writes none. Tests that need the feed's
files (the suites' defect tests, the pipeline fuzzing) write one with :func:`write_village_file`:
clean reports of every type for villages of the county's region reference, rendered by the app's
own :func:`popdata.intake.batch.render`, with a manifest.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from datetime import date, timedelta
from pathlib import Path

from popdata.generate.ids import check_character
from popdata.intake import batch

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "桂英",
    "建国",
)


def village_codes(landing: Path) -> list[str]:
    """The 12-digit village codes (level 村) of the region reference files under ``landing/stats/regions``."""
    codes: set[str] = set()
    for path in sorted((landing / "stats" / "regions").glob("*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                code = (row.get("统计用区划代码") or row.get("代码") or "").strip()
                if len(code) == 12 and code[-3:] != "000" and (row.get("级别") or "").strip() == "村":
                    codes.add(code)
    return sorted(codes)


def _id_number(region: str, born: date, male: bool, sequence: int) -> str:
    body = f"{region[:6]}{born:%Y%m%d}{sequence % 100:02d}{(sequence % 5) * 2 + (1 if male else 0)}"
    return body + check_character(body)


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def village_reports(
    villages: list[str], *, count: int, seed: int, last_day: date
) -> list[tuple[str, str, date, dict[str, str]]]:
    """``count`` clean reports ``(report_no, report_type, report_date, fields)`` of every type."""
    rng = random.Random(seed)
    kinds = ["出生", "出生", "死亡", "迁入", "迁出", "婚姻变动"]
    out = []
    for n in range(1, count + 1):
        kind = kinds[n % len(kinds)]
        village = villages[n % len(villages)]
        reported = last_day - timedelta(days=rng.randrange(0, 60))
        fields: dict[str, str] = {"region_code": village, "clerk": f"{village[-3:]}村计生专干"}
        adult_born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 40 * 365))
        male = rng.random() < 0.5
        if kind == "出生":
            born = reported - timedelta(days=rng.randrange(0, 20))
            mother_born = date(1980, 1, 1) + timedelta(days=rng.randrange(0, 12 * 365))
            fields |= {
                "sex": "1" if male else "2",
                "birth_date": born.isoformat(),
                "birth_order": str(rng.choice([1, 1, 2])),
                "mother_name": _name(rng),
                "mother_id": _id_number(village, mother_born, False, n),
                "father_name": _name(rng),
                "father_id": _id_number(village, mother_born - timedelta(days=400), True, n),
            }
            if rng.random() < 0.5:
                fields["name"] = _name(rng)
        else:
            fields |= {
                "name": _name(rng),
                "id_no": _id_number(village, adult_born, male, n),
                "sex": "1" if male else "2",
                "birth_date": adult_born.isoformat(),
            }
            event = (reported - timedelta(days=rng.randrange(0, 10))).isoformat()
            if kind == "死亡":
                fields["death_date"] = event
            elif kind in ("迁入", "迁出"):
                fields |= {"move_date": event, "move_place": "天津市和平区"}
            else:
                fields |= {"marital": rng.choice(["已婚", "离婚", "丧偶"]), "marital_date": event}
        out.append((f"VR{reported:%Y%m%d}{n:07d}", kind, reported, fields))
    return out


def write_village_file(
    landing: Path, *, count: int = 60, seed: int = 11, last_day: date = date(2014, 6, 20)
) -> Path:
    """Write ``village_reports_<last_day>_1.csv`` and its manifest under ``landing/fp/village_reports``."""
    villages = village_codes(landing)
    if not villages:
        raise ValueError(f"no village codes in {landing / 'stats' / 'regions'}")
    reports = village_reports(villages, count=count, seed=seed, last_day=last_day)
    data = batch.render(reports)
    folder = batch.feed_folder(landing)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"village_reports_{last_day:%Y%m%d}_1.csv"
    path.write_bytes(data)
    manifest = {
        "agency": "fp",
        "feed": "village_reports",
        "extract_date": last_day.isoformat(),
        "rows": len(reports),
        "sha256": hashlib.sha256(data).hexdigest(),
        "encoding": "utf-8",
    }
    path.with_name(path.name + ".manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False), encoding="utf-8"
    )
    return path
