"""Score the four work lists of a reconciliation run against a generated county's ground truth.

The generator's truth folder (``popdata generate``) says, per birth and death, what really
happened (``births.csv``, ``deaths.csv``, ``persons.csv``) and in which file and line each
record was sent (``records.csv``, ``files.csv``, ``defects.csv``). :func:`expected_work_lists`
turns that into the entries each work list *should* hold as of a reference date, and
:func:`score_work_lists` compares them with ``ops.*`` (precision and recall per list).

The expected lists are what the **warehouse could know**: the true cases as of the reference
date (definitions in WAREHOUSE.md and docs/warehouse.md), then adjusted for records the
platform rightly never loaded. A record is *loaded* when one of its occurrences is on a line
not rejected per ``defects.csv`` (``rejects_row``), in a file whose ``expected_status`` is
``loaded`` or ``loaded_with_rejections`` (not ``quarantined``, not a ``duplicate`` resend),
extracted on or before the reference date. Each adjustment is counted in
:attr:`Score.exclusions` (an entry removed from the truth) or :attr:`Score.additions` (an entry
that is a case only because its counterpart was not loaded):

- ``unregistered_births`` (key ``cert_no``): a birth with a certificate issued by the reference
  date, more than 30 days old, and no police registration dated by then. Removed: certificate
  not loaded. Added: registered, but the registration not loaded.
- ``registrations_without_certificate`` (key ``reg_no``): a registration dated by the reference
  date of a birth with no certificate issued by then (a home birth). Removed: registration not
  loaded. Added: certificate issued, but not loaded.
- ``deaths_not_cancelled`` (key ``death_cert_no``): a certified death more than 30 days old,
  no hukou cancellation for death by the reference date, and the person in the latest
  registry snapshot with status 正常 (no cancellation of any reason dated on or before the
  snapshot). Removed: certificate not loaded; the person's row of the latest snapshot not
  loaded. Added: cancelled for death, but the cancellation not loaded (and still 正常).
- ``paid_after_death`` (key ``id_no|program|year``): a roll entry for a year starting after the
  recipient's true death date. Removed: roll line not loaded; the death recorded nowhere the
  warehouse could see by the reference date (no loaded death certificate dated by then, no
  loaded cancellation for death made by then).

Warehouse keys are the truth keys normalised as the warehouse writes them, through the
defects of the key cells (:func:`popdata.linkage.evaluate.map_truth_keys`); an entry whose
key cannot be derived (an identity number mangled into scientific notation) is removed and
counted as ``key_not_derivable``. A listed row whose key maps to no truth record is a false
positive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from popdata.linkage.evaluate import map_truth_keys

__all__ = [
    "LISTS",
    "Expected",
    "Score",
    "expected_work_lists",
    "load_occurrences",
    "load_work_lists",
    "score",
    "score_work_lists",
]

#: Work list name → the SQL giving its warehouse key (one text column ``k``).
LISTS: dict[str, str] = {
    "unregistered_births": "SELECT cert_no AS k FROM ops.unregistered_births",
    "registrations_without_certificate": "SELECT reg_no AS k FROM ops.registrations_without_certificate",
    "deaths_not_cancelled": "SELECT death_cert_no AS k FROM ops.deaths_not_cancelled",
    "paid_after_death": (
        "SELECT concat_ws('|', CAST(id_no AS text), CAST(program AS text), CAST(year AS text)) AS k"
        " FROM ops.paid_after_death"
    ),
}
#: Days between an event and the reference date after which it is overdue (exactly 30 is not).
OVERDUE_DAYS = 30
#: The record role whose rows ``load_occurrences`` keeps, one per source record.
_ROLE = {
    "birth_certificates": "child",
    "birth_registrations": "child",
    "death_records": "subject",
    "hukou_cancellations": "subject",
    "household_registry": "subject",
    "assistance_rolls": "subject",
}
_LOADED_STATUSES = frozenset({"loaded", "loaded_with_rejections"})
_READ: dict[str, Any] = {"dtype": str, "keep_default_na": False, "encoding": "utf-8"}


# ---------------------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class Expected:
    """The expected entries of one work list and the bookkeeping of how they were derived.

    ``entries`` maps each expected truth key to the warehouse keys it may be listed under;
    ``keys`` maps every warehouse key of a loaded record of the list's feed to its truth key
    (used to recognise listed rows); ``true_cases`` is the count before adjustments.
    """

    name: str
    entries: dict[str, frozenset[str]]
    keys: dict[str, str]
    true_cases: int
    exclusions: dict[str, int] = field(default_factory=dict)
    additions: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # truth key → why it is a case


@dataclass(frozen=True, slots=True)
class Score:
    """Precision and recall of one work list against its expected entries.

    ``false_positives`` are listed warehouse keys (with the truth key, or ``?`` when unknown
    to the truth); ``false_negatives`` are expected truth keys not listed.
    """

    name: str
    listed: int
    expected: int
    true_positives: int
    true_cases: int
    exclusions: dict[str, int]
    additions: dict[str, int]
    false_positives: tuple[tuple[str, str], ...]
    false_negatives: tuple[str, ...]
    expected_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        """TP / listed entries (1.0 when nothing is listed)."""
        return self.true_positives / self.listed if self.listed else 1.0

    @property
    def recall(self) -> float:
        """TP / expected entries (1.0 when nothing is expected)."""
        return self.true_positives / self.expected if self.expected else 1.0

    def summary(self) -> str:
        """One readable line with the counts and the adjustments."""
        adjust = ", ".join(f"-{k}={v}" for k, v in sorted(self.exclusions.items()) if v)
        adjust += "".join(f", +{k}={v}" for k, v in sorted(self.additions.items()) if v)
        return (
            f"{self.name}: listed={self.listed} expected={self.expected} tp={self.true_positives}"
            f" precision={self.precision:.4f} recall={self.recall:.4f}"
            f" (true cases {self.true_cases}; {adjust.lstrip(', ') or 'no adjustments'})"
            f" FP={list(self.false_positives)} FN={list(self.false_negatives)}"
        )


# ---------------------------------------------------------------------------------- truth
def _read(path: Path, **kwargs: Any) -> pd.DataFrame:
    """A truth CSV as strings, blanks kept as empty strings."""
    return pd.read_csv(path, **_READ, **kwargs)


def _rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    """The rows of a frame of strings as plain dicts."""
    return [{str(k): str(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _on_or_before(value: str, day: date) -> bool:
    """An ISO date (possibly blank) is on or before ``day``."""
    parsed = _as_date(value)
    return parsed is not None and parsed <= day


def _as_date(value: str) -> date | None:
    """An ISO date, ``None`` when blank."""
    return date.fromisoformat(value) if value else None


def load_occurrences(truth_dir: Path, reference_date: date) -> pd.DataFrame:
    """One row per record occurrence of the feeds the work lists read, with what the warehouse saw.

    Columns: ``feed``, ``file_name``, ``line_no``, ``truth_key`` (the generator's clean key),
    ``source_key`` (the warehouse form), ``mapped`` (the warehouse form could be derived),
    ``person_id``, ``extract_date``, ``file_status`` (``expected_status`` of the file),
    ``rejected`` (the line is rejected per ``defects.csv``) and ``loaded`` (the record reached
    the warehouse by ``reference_date``: a loaded file, extracted by then, line not rejected).
    """
    truth_dir = Path(truth_dir)
    records = _read(truth_dir / "records.csv")
    records = records.loc[records["feed"].map(_ROLE).eq(records["role"])].reset_index(drop=True)
    files = _read(truth_dir / "files.csv", usecols=["feed", "file_name", "extract_date", "expected_status"])
    defects_path = truth_dir / "defects.csv"
    defect_columns = ["feed", "file_name", "line_no", "column", "kind", "value", "rejects_row"]
    defects = (
        _read(defects_path, usecols=defect_columns)
        if defects_path.exists()
        else pd.DataFrame(columns=defect_columns)
    )
    records = records.merge(
        files.rename(columns={"expected_status": "file_status"}), on=["feed", "file_name"], how="left"
    )
    rejected = defects.loc[
        (defects["rejects_row"].str.lower() == "true") & (defects["line_no"] != "0"),
        ["feed", "file_name", "line_no"],
    ].drop_duplicates()
    hit = records.merge(rejected.assign(_r=True), on=["feed", "file_name", "line_no"], how="left")["_r"]
    records["rejected"] = hit.notna().to_numpy()
    records = map_truth_keys(records, defects)
    in_time = [_on_or_before(str(d), reference_date) for d in records["extract_date"].fillna("")]
    records["loaded"] = (
        records["file_status"].isin(_LOADED_STATUSES).to_numpy()
        & ~records["rejected"].to_numpy()
        & np.array(in_time, dtype=bool)
    )
    return records[
        [
            "feed",
            "file_name",
            "line_no",
            "truth_key",
            "source_key",
            "mapped",
            "person_id",
            "extract_date",
            "file_status",
            "rejected",
            "loaded",
        ]
    ]


def _why_not_loaded(rows: pd.DataFrame, reference_date: date) -> str:
    """Why none of a record's occurrences was loaded: the first reason that applies."""
    if rows.empty:
        return "not_sent"
    if not any(_on_or_before(str(d), reference_date) for d in rows["extract_date"]):
        return "delivered_after_reference_date"
    statuses = set(rows["file_status"])
    if statuses <= {"quarantined", "duplicate"}:
        return "file_quarantined"
    return "line_rejected"


class _Feed:
    """The occurrences of one feed, by truth key: loaded or not, and their warehouse keys."""

    def __init__(self, occurrences: pd.DataFrame, feed: str, reference_date: date) -> None:
        self.rows = occurrences.loc[occurrences["feed"] == feed]
        self.reference_date = reference_date
        loaded = self.rows.loc[self.rows["loaded"]]
        self.loaded: set[str] = set(loaded["truth_key"])
        good = loaded.loc[loaded["mapped"]]
        self.keys: dict[str, set[str]] = {}
        for truth_key, source_key in zip(good["truth_key"], good["source_key"], strict=True):
            self.keys.setdefault(truth_key, set()).add(source_key)
        self._by_key = dict(tuple(self.rows.groupby("truth_key", sort=False)))

    def why_not_loaded(self, truth_key: str) -> str:
        """The reason a record was not loaded (see :func:`_why_not_loaded`)."""
        rows = self._by_key.get(truth_key)
        return _why_not_loaded(rows if rows is not None else self.rows.iloc[0:0], self.reference_date)

    def reverse(self) -> dict[str, str]:
        """Warehouse key → truth key, for every loaded record with a derivable key."""
        return {w: t for t, ws in self.keys.items() for w in ws}


def _bump(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


def _finish(
    name: str,
    feed: _Feed,
    true_cases: Mapping[str, str],
    added: Mapping[str, str],
    exclusions: dict[str, int],
    additions: dict[str, int],
) -> Expected:
    """Build an :class:`Expected` from true cases (loaded ones kept) plus additions."""
    entries: dict[str, frozenset[str]] = {}
    kinds: dict[str, str] = {}
    for truth_key, kind in [*true_cases.items(), *added.items()]:
        if truth_key not in feed.loaded:
            _bump(exclusions, f"record_{feed.why_not_loaded(truth_key)}")
            continue
        keys = feed.keys.get(truth_key)
        if not keys:
            _bump(exclusions, "key_not_derivable")
            continue
        entries[truth_key] = frozenset(keys)
        kinds[truth_key] = kind
    for kind in set(added.values()):
        additions[kind] = sum(1 for k, v in added.items() if v == kind and k in entries)
    return Expected(name, entries, feed.reverse(), len(true_cases), exclusions, additions, kinds)


def expected_work_lists(truth_dir: Path, reference_date: date) -> dict[str, Expected]:
    """The expected entries of the four work lists as of ``reference_date`` (see the module doc)."""
    truth_dir = Path(truth_dir)
    occ = load_occurrences(truth_dir, reference_date)
    births = _read(truth_dir / "births.csv")
    deaths = _read(truth_dir / "deaths.csv")
    persons = _read(
        truth_dir / "persons.csv", usecols=["person_id", "death_date", "move_out_date", "migrant"]
    )
    ref = reference_date
    certs = _Feed(occ, "birth_certificates", ref)
    regs = _Feed(occ, "birth_registrations", ref)
    death_records = _Feed(occ, "death_records", ref)
    cancels = _Feed(occ, "hukou_cancellations", ref)
    rolls = _Feed(occ, "assistance_rolls", ref)
    out: dict[str, Expected] = {}

    # --- unregistered births
    true_cases: dict[str, str] = {}
    added: dict[str, str] = {}
    exclusions: dict[str, int] = {}
    additions: dict[str, int] = {}
    for b in _rows(births):
        issued = _as_date(b["cert_issue_date"])
        born = _as_date(b["birth_date"])
        if not b["cert_no"] or issued is None or issued > ref or born is None:
            continue
        if (ref - born).days <= OVERDUE_DAYS:
            continue
        registered = _as_date(b["reg_date"])
        if registered is None or registered > ref:
            if b["never_registered"] == "true":
                kind = "never_registered"
            elif b["mother_migrant"] == "true":
                kind = "migrant_mother"
            elif registered is not None:
                kind = "registered_after_reference_date"
            else:
                kind = "not_registered_other"  # e.g. the child died before registration
            true_cases[b["cert_no"]] = kind
        elif b["reg_no"] and b["reg_no"] not in regs.loaded:
            added[b["cert_no"]] = f"registration_{regs.why_not_loaded(b['reg_no'])}"
    out["unregistered_births"] = _finish(
        "unregistered_births", certs, true_cases, added, exclusions, additions
    )

    # --- registrations without certificate
    true_cases, added, exclusions, additions = {}, {}, {}, {}
    for b in _rows(births):
        registered = _as_date(b["reg_date"])
        if not b["reg_no"] or registered is None or registered > ref:
            continue
        issued = _as_date(b["cert_issue_date"])
        if not b["cert_no"] or issued is None or issued > ref:
            true_cases[b["reg_no"]] = (
                "home_birth" if b["home_birth"] == "true" else "certificate_after_reference_date"
            )
        elif b["cert_no"] not in certs.loaded:
            added[b["reg_no"]] = f"certificate_{certs.why_not_loaded(b['cert_no'])}"
    out["registrations_without_certificate"] = _finish(
        "registrations_without_certificate", regs, true_cases, added, exclusions, additions
    )

    # --- deaths not cancelled
    registry = occ.loc[occ["feed"] == "household_registry"]
    snapshots = registry.loc[registry["file_status"].isin(_LOADED_STATUSES)]
    latest = max((str(d) for d in snapshots["extract_date"] if _on_or_before(str(d), ref)), default="")
    snapshot = registry.loc[registry["extract_date"] == latest]
    in_snapshot = set(snapshot.loc[snapshot["loaded"], "person_id"])
    snapshot_persons = set(snapshot["person_id"])
    snapshot_date = _as_date(latest)
    moved = {p["person_id"]: _as_date(p["move_out_date"]) for p in _rows(persons) if p["move_out_date"]}
    true_cases, added, exclusions, additions = {}, {}, {}, {}
    for d in _rows(deaths):
        died = _as_date(d["death_date"])
        reported = _as_date(d["death_report_date"])
        if not d["death_cert_no"] or died is None or reported is None or reported > ref:
            continue
        if (ref - died).days <= OVERDUE_DAYS:
            continue
        cancelled = _as_date(d["cancel_date"]) if d["cancel_no"] else None
        cancelled_by_ref = cancelled is not None and cancelled <= ref
        gone = [c for c in (cancelled, moved.get(d["person_id"])) if c is not None]
        if snapshot_date is None or d["person_id"] not in snapshot_persons:
            continue  # absent from the latest snapshot: never listed
        if any(c <= snapshot_date for c in gone):
            continue  # cancelled (death or move) by the snapshot: not 正常
        if d["person_id"] not in in_snapshot:
            _bump(exclusions, "registry_row_not_loaded")
            continue
        if not cancelled_by_ref:
            true_cases[d["death_cert_no"]] = (
                "never_cancelled" if d["never_cancelled"] == "true" else "cancelled_later"
            )
        elif d["cancel_no"] not in cancels.loaded:
            added[d["death_cert_no"]] = f"cancellation_{cancels.why_not_loaded(d['cancel_no'])}"
    out["deaths_not_cancelled"] = _finish(
        "deaths_not_cancelled", death_records, true_cases, added, exclusions, additions
    )

    # --- paid after death
    died_on = {p["person_id"]: _as_date(p["death_date"]) for p in _rows(persons) if p["death_date"]}
    recorded: set[str] = set()
    for d in _rows(deaths):
        by_cert = d["death_cert_no"] in death_records.loaded and _on_or_before(d["death_date"], ref)
        by_cancel = d["cancel_no"] in cancels.loaded and _on_or_before(d["cancel_date"], ref)
        if by_cert or by_cancel:
            recorded.add(d["person_id"])
    true_cases, exclusions, additions = {}, {}, {}
    roll_rows = rolls.rows.drop_duplicates("truth_key")
    for truth_key, person_id in zip(roll_rows["truth_key"], roll_rows["person_id"], strict=True):
        died = died_on.get(person_id)
        year = int(truth_key.rsplit("|", 1)[1])
        if died is None or not date(year, 1, 1) > died:
            continue
        if person_id not in recorded:
            _bump(exclusions, "death_not_recorded")
            continue
        true_cases[truth_key] = "paid_after_death"
    out["paid_after_death"] = _finish("paid_after_death", rolls, true_cases, {}, exclusions, additions)
    return out


# ---------------------------------------------------------------------------------- scoring
def load_work_lists(engine: sa.Engine) -> dict[str, list[str]]:
    """The warehouse keys listed in each of the four ``ops`` work lists."""
    with engine.connect() as conn:
        return {name: [str(k) for k in conn.execute(sa.text(sql)).scalars()] for name, sql in LISTS.items()}


def score(expected: Expected, listed: Iterable[str]) -> Score:
    """Compare the listed warehouse keys of one work list with its expected entries."""
    listed_keys = sorted(set(listed))
    wanted = {w: t for t, ws in expected.entries.items() for w in ws}
    hits: set[str] = set()
    false_positives: list[tuple[str, str]] = []
    for key in listed_keys:
        if key in wanted:
            hits.add(wanted[key])
        else:
            false_positives.append((key, expected.keys.get(key, "?")))
    false_negatives = tuple(sorted(set(expected.entries) - hits))
    by_kind: dict[str, int] = {}
    for kind in expected.kinds.values():
        _bump(by_kind, kind)
    return Score(
        name=expected.name,
        listed=len(listed_keys),
        expected=len(expected.entries),
        true_positives=len(hits),
        true_cases=expected.true_cases,
        exclusions=dict(expected.exclusions),
        additions=dict(expected.additions),
        false_positives=tuple(false_positives),
        false_negatives=false_negatives,
        expected_by_kind=by_kind,
    )


def score_work_lists(engine: sa.Engine, truth_dir: Path, reference_date: date) -> dict[str, Score]:
    """Precision and recall of each ``ops`` work list against the truth folder, as of ``reference_date``.

    The warehouse must have been reconciled as of the same reference date.
    """
    expected = expected_work_lists(Path(truth_dir), reference_date)
    listed = load_work_lists(engine)
    return {name: score(expected[name], listed[name]) for name in LISTS}
