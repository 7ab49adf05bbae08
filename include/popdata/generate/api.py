"""``generate_county``: build a synthetic county and write its agency extracts and truth.

Output layout::

    <out>/landing/<agency>/<feed>/<file>[.manifest.json]   the agencies' drop zone
    <out>/truth/{persons,records,births,deaths,defects,files,regions}.csv, summary.json

The same seed gives byte-identical files: every random draw comes from
``numpy.random.default_rng`` streams derived from the seed, nothing reads the clock,
and XLSX files get fixed ZIP timestamps.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from popdata.generate import fp, health, police, stats
from popdata.generate.events import Plan, plan_events
from popdata.generate.population import Population, build_population
from popdata.generate.rates import DefectRates
from popdata.generate.regions import build_county
from popdata.generate.truth import TruthSink, iso_dates
from popdata.generate.writer import FeedTable, FeedWriter
from popdata.progress import progress_bar

GENERATOR_VERSION = 1


@dataclass(frozen=True)
class GenerationSummary:
    """What one generation produced."""

    out: Path
    persons: int
    seed: int
    files: int
    rows_by_feed: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    files_by_feed: dict[str, int] = field(default_factory=dict)


def _rng(seed: int, stream: int) -> np.random.Generator:
    """An independent random stream for one part of the generation."""
    return np.random.default_rng([seed, stream])


def _prepare(out: Path, overwrite: bool) -> None:
    """Make sure ``landing/`` and ``truth/`` can be written (fresh)."""
    for sub in ("landing", "truth"):
        target = out / sub
        if target.exists() and any(target.iterdir()):
            if not overwrite:
                raise FileExistsError(f"{target} is not empty (pass overwrite=True to replace it)")
            shutil.rmtree(target)
    out.mkdir(parents=True, exist_ok=True)


def generate_county(
    out: Path,
    *,
    persons: int,
    seed: int,
    rates: DefectRates | None = None,
    progress: bool = False,
    start_year: int = 2012,
    end_date: dt.date = dt.date(2014, 6, 30),
    snapshots: int = 2,
    overwrite: bool = False,
) -> GenerationSummary:
    """Generate a county of ``persons`` people and write its extracts and ground truth.

    ``rates`` sets the defect rates (default :class:`DefectRates`; ``DefectRates.none()``
    for clean data). ``snapshots`` is the number of monthly household-registry
    snapshots (the last month ends up to ``end_date``). ``progress`` shows rich progress
    bars on stdout when it is a terminal (nothing otherwise; see :mod:`popdata.progress`).
    ``overwrite`` replaces existing ``landing/`` and ``truth/`` folders.
    """
    started = time.perf_counter()
    if persons < 1:
        raise ValueError("persons must be at least 1")
    start = dt.date(start_year, 1, 1)
    if end_date <= start:
        raise ValueError("end_date must be after the start of start_year")
    rates = rates if rates is not None else DefectRates()
    out = Path(out)
    _prepare(out, overwrite)

    with progress_bar(4, "population", enabled=progress, unit="steps") as bar:
        with bar.step("county"):
            county = build_county(persons, _rng(seed, 1))
        with bar.step(f"{persons:,} persons"):
            pop = build_population(persons, county, _rng(seed, 2), start=start, end=end_date)
        with bar.step("events"):
            plan = plan_events(pop, rates, _rng(seed, 3))
            _apply_registration(pop, plan)
        with bar.step("feed tables"):
            tables, links = _build_tables(pop, plan, rates, seed, end_date, snapshots)

    total = sum(len(t.frame) for t in tables)
    with TruthSink(out / "truth") as truth:
        with progress_bar(total, "files", enabled=progress, unit="rows") as bar:
            writer = FeedWriter(out, county, pop.persons, rates, seed, truth, end_date, tick=bar.advance)
            for i, table in enumerate(tables):
                bar.set_step(table.spec.feed)
                writer.write(table, i)
        truth.write_files()
        _write_truth_tables(truth, pop, plan, tables, links, writer)
        summary = _summary(pop, plan, rates, seed, start_year, end_date, snapshots, writer, truth)
        truth.write_summary(summary)
    return GenerationSummary(
        out=out,
        persons=persons,
        seed=seed,
        files=writer.files,
        rows_by_feed=dict(writer.rows_by_feed),
        seconds=time.perf_counter() - started,
        files_by_feed=dict(Counter(str(f["feed"]) for f in truth.files)),
    )


def _apply_registration(pop: Population, plan: Plan) -> None:
    """Window births are registered on their registration date (if any)."""
    p = pop.persons
    reg = p["registered_date"].to_numpy().astype("datetime64[D]").copy()
    child = pop.births["child"].to_numpy()
    reg[child] = plan.reg_date
    p["registered_date"] = reg


def _build_tables(
    pop: Population, plan: Plan, rates: DefectRates, seed: int, end: dt.date, snapshots: int
) -> tuple[list[FeedTable], dict[str, pd.DataFrame]]:
    """Every feed's table, in a fixed order (the order files are written)."""
    start = dt.date(pop.start.astype(dt.date).year, 1, 1)
    certs = health.birth_certificates(pop, plan, _rng(seed, 10), end)
    deaths = health.death_records(pop, plan, _rng(seed, 11), end)
    checks = health.prenatal_checks(pop, _rng(seed, 12), end)
    cert_no = np.full(len(pop.births), "", dtype=object)
    cert_no[certs.frame["_ref"].to_numpy()] = certs.frame["cert_no"].to_numpy()
    cancel = police.cancellations(pop, plan)
    registry = police.household_registry(pop, plan, cancel, _rng(seed, 13), rates, end, snapshots)
    regs = police.birth_registrations(pop, plan, cert_no, _rng(seed, 14), rates, end)
    cancels = police.hukou_cancellations(pop, cancel, _rng(seed, 15), rates, end)
    migrants = police.migrant_registrations(pop, _rng(seed, 16), rates, end)
    offices, big5 = fp.fp_offices(pop, rates, _rng(seed, 17))
    approvals, app_link = fp.birth_approvals(pop, _rng(seed, 18), end, offices, big5)
    rolls = fp.assistance_rolls(pop, _rng(seed, 19), rates, end)
    fees, fee_link = fp.social_fee_cases(pop, app_link, _rng(seed, 20), end, offices)
    check_years = pd.to_datetime(checks.frame["check_date"]).dt.year.value_counts()
    targets = fp.annual_targets(pop, check_years, _rng(seed, 21), end)
    regions = stats.regions(pop.county, start)
    tables = [
        regions,
        certs,
        deaths,
        checks,
        registry,
        regs,
        cancels,
        migrants,
        approvals,
        rolls,
        fees,
        targets,
    ]
    links = {"approvals": app_link, "social_fees": fee_link, "cancellations": cancels.frame}
    return tables, links


def _write_truth_tables(
    truth: TruthSink,
    pop: Population,
    plan: Plan,
    tables: list[FeedTable],
    links: dict[str, pd.DataFrame],
    writer: FeedWriter,
) -> None:
    """persons.csv, births.csv, deaths.csv and regions.csv."""
    p = pop.persons
    ids = p["person_id"].to_numpy()
    end64 = pop.end

    def pid(idx: np.ndarray) -> list[str]:
        return [str(ids[i]) if i >= 0 else "" for i in idx.tolist()]

    reg = p["registered_date"].to_numpy().astype("datetime64[D]")
    reg_visible = np.where(~np.isnat(reg) & (reg <= end64), reg, np.datetime64("NaT"))
    id15 = np.where(plan.id15, p["id15"].to_numpy(), "")
    minute = p["birth_minute"].to_numpy()
    persons = pd.DataFrame(
        {
            "person_id": ids,
            "id_no": p["id_no"].to_numpy(),
            "id_no_15": id15,
            "name": p["name"].to_numpy(),
            "former_name": p["former_name"].to_numpy(),
            "sex": np.where(p["male"].to_numpy(dtype=bool), "M", "F"),
            "birth_date": iso_dates(p["birth"].to_numpy()),
            "birth_time": [f"{m // 60:02d}:{m % 60:02d}" if m >= 0 else "" for m in minute.tolist()],
            "death_date": iso_dates(p["death"].to_numpy()),
            "household_no": p["household_no"].to_numpy(),
            "relation": p["relation"].to_numpy(),
            "region_code": p["region_code"].to_numpy(),
            "address": p["address"].to_numpy(),
            "ethnicity": p["ethnicity"].to_numpy(),
            "marital": p["marital"].to_numpy(),
            "migrant": np.where(p["migrant"].to_numpy(dtype=bool), "true", "false"),
            "hukou_origin_code": p["origin_code"].to_numpy(),
            "registered_date": iso_dates(reg_visible),
            "move_out_date": iso_dates(p["move_date"].to_numpy()),
            "move_out_reason": p["move_reason"].to_numpy(),
            "mother_person_id": pid(p["mother"].to_numpy()),
            "father_person_id": pid(p["father"].to_numpy()),
        }
    )
    truth.write_table("persons.csv", persons)

    b = pop.births
    nb = len(b)
    certs, regs = tables[1].frame, tables[5].frame
    cert_no = _by_ref(nb, certs, "cert_no")
    reg_no = _by_ref(nb, regs, "reg_no")
    cert_file = _files(nb, writer.first_file.get("birth_certificates", {}))
    reg_file = _files(nb, writer.first_file.get("birth_registrations", {}))
    in_health = np.array([f != "" for f in cert_file], dtype=bool)
    in_police = np.array([f != "" for f in reg_file], dtype=bool)
    app = links["approvals"]
    app_no = np.full(nb, "", dtype=object)
    app_cat = np.full(nb, "", dtype=object)
    app_dec = np.full(nb, "", dtype=object)
    app_no[app["birth"].to_numpy()] = app["app_no"].to_numpy()
    app_cat[app["birth"].to_numpy()] = app["category"].to_numpy()
    app_dec[app["birth"].to_numpy()] = app["decision"].to_numpy()
    fee = links["social_fees"]
    case_no = np.full(nb, "", dtype=object)
    case_no[fee["birth"].to_numpy()] = fee["case_no"].to_numpy()
    child = b["child"].to_numpy()
    region = p["region_code"].to_numpy()[b["mother"].to_numpy()]
    reg_d = np.where(in_police, plan.reg_date, np.datetime64("NaT"))
    issue = np.where(in_health, plan.cert_issue, np.datetime64("NaT"))
    births = pd.DataFrame(
        {
            "birth_id": [f"B{i + 1:07d}" for i in range(nb)],
            "child_person_id": ids[child] if nb else [],
            "mother_person_id": pid(b["mother"].to_numpy()),
            "father_person_id": pid(b["father"].to_numpy()),
            "birth_date": iso_dates(b["birth"].to_numpy()),
            "birth_time": [f"{m // 60:02d}:{m % 60:02d}" for m in b["birth_minute"].to_numpy().tolist()],
            "sex": np.where(b["male"].to_numpy(dtype=bool), "M", "F"),
            "birth_order": b["order"].to_numpy(),
            "region_code": region,
            "town_code": [str(r)[:9] + "000" for r in region.tolist()],
            "mother_migrant": np.where(b["migrant"].to_numpy(dtype=bool), "true", "false"),
            "home_birth": np.where(plan.home_birth, "true", "false"),
            "cert_no": np.where(in_health, cert_no, ""),
            "cert_issue_date": iso_dates(issue),
            "cert_file": cert_file,
            "reg_no": np.where(in_police, reg_no, ""),
            "reg_date": iso_dates(reg_d),
            "reg_file": reg_file,
            "never_registered": np.where(plan.not_registered, "true", "false"),
            "app_no": app_no,
            "approval_category": app_cat,
            "approval_decision": app_dec,
            "social_fee_case_no": case_no,
            "in_health": np.where(in_health, "true", "false"),
            "in_police": np.where(in_police, "true", "false"),
            "in_fp_approval": np.where(app_no != "", "true", "false"),
        }
    )
    truth.write_table("births.csv", births)

    deaths_frame = tables[2].frame
    nd = len(plan.death_person)
    death_cert = _by_ref(nd, deaths_frame, "death_cert_no")
    death_file = _files(nd, writer.first_file.get("death_records", {}))
    canc = links["cancellations"]
    canc = canc[canc["reason"] == "死亡"]
    by_person = dict(
        zip(canc["_p_subject"].to_numpy().tolist(), canc["cancel_no"].to_numpy().tolist(), strict=True)
    )
    who = plan.death_person
    cancel_no = [str(by_person.get(int(w), "")) for w in who.tolist()]
    cancel_d = np.where(
        ~np.isnat(plan.cancel_date) & (plan.cancel_date <= end64), plan.cancel_date, np.datetime64("NaT")
    )
    cancel_no = [c if not np.isnat(d) else "" for c, d in zip(cancel_no, cancel_d, strict=True)]
    in_h = np.array([f != "" for f in death_file], dtype=bool)
    deaths = pd.DataFrame(
        {
            "person_id": ids[who] if nd else [],
            "death_date": iso_dates(p["death"].to_numpy()[who]),
            "region_code": p["region_code"].to_numpy()[who],
            "migrant": np.where(p["migrant"].to_numpy(dtype=bool)[who], "true", "false"),
            "death_cert_no": np.where(in_h, death_cert, ""),
            "death_report_date": iso_dates(np.where(in_h, plan.death_report, np.datetime64("NaT"))),
            "death_file": death_file,
            "cancel_no": cancel_no,
            "cancel_date": iso_dates(cancel_d),
            "never_cancelled": np.where(plan.never_cancelled, "true", "false"),
            "in_health": np.where(in_h, "true", "false"),
            "in_police": np.where(np.array([c != "" for c in cancel_no], dtype=bool), "true", "false"),
        }
    )
    truth.write_table("deaths.csv", deaths)
    truth.write_table("regions.csv", stats.region_table(pop.county))


def _by_ref(n: int, frame: pd.DataFrame, column: str) -> np.ndarray:
    """A table's ``column`` by its ``_ref`` (first occurrence), '' where absent."""
    out = np.full(n, "", dtype=object)
    if len(frame):
        first = frame.drop_duplicates("_ref", keep="first")
        out[first["_ref"].to_numpy()] = first[column].to_numpy()
    return out


def _files(n: int, first_file: dict[int, str]) -> list[str]:
    """The first file each referenced record appears in ('' if never emitted)."""
    return [first_file.get(i, "") for i in range(n)]


def _summary(
    pop: Population,
    plan: Plan,
    rates: DefectRates,
    seed: int,
    start_year: int,
    end: dt.date,
    snapshots: int,
    writer: FeedWriter,
    truth: TruthSink,
) -> dict[str, Any]:
    """The content of ``summary.json`` (no timings: the file must be reproducible)."""
    files_by_feed: dict[str, int] = {}
    for f in truth.files:
        files_by_feed[f["feed"]] = files_by_feed.get(f["feed"], 0) + 1
    p = pop.persons
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "persons": len(p),
        "start_year": start_year,
        "end_date": end,
        "registry_snapshots": snapshots,
        "county": {
            "code": pop.county.code,
            "name": pop.county.name,
            "towns": len(pop.county.towns),
            "villages": len(pop.county.villages),
            "warning_villages": int(pop.county.villages["warning"].sum()),
        },
        "population": {
            "households": int((pop.households["household_no"] != "").sum()),
            "migrants": int(p["migrant"].sum()),
            "births": len(pop.births),
            "deaths": len(plan.death_person),
            "moves_out": int(p["move_date"].notna().sum()),
        },
        "files": writer.files,
        "files_by_feed": files_by_feed,
        "rows_by_feed": writer.rows_by_feed,
        "record_roles": truth.record_rows,
        "defects_by_kind": dict(sorted(truth.defect_counts.items())),
        "rates": rates.as_dict(),
    }
