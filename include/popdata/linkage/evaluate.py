"""``make eval-linkage``: score ``core.record_link`` against a generated county's ground truth.

A *mention* is one person role of one accepted source record: ``(feed, source_key, role)``,
the grain of ``core.record_link`` (WAREHOUSE.md). The generator's ``truth/records.csv`` says
which true person each mention is; ``core.record_link`` says which ``person_key`` the
platform gave it. Scores are **pairwise** (docs/linkage-evaluation.md, "Scoring"):

- a *predicted pair* is two scored mentions with the same ``person_key``;
- a *true pair* is two scored mentions of the same true ``person_id``;
- TP are pairs that are both; precision = TP / predicted pairs, recall = TP / true pairs.

The counts come from cluster contingency tables (sum over clusters or cells of C(n, 2)),
never from enumerating pairs, so a county of a million persons costs a few group-bys.
Per ``(feed, role)`` the pairs counted are those with *at least one* mention of that
feed and role: C(n, 2) − C(n − n_g, 2) per cluster or cell.

Truth keys are mapped to the form the warehouse writes (:func:`load_truth`): the
generator writes the clean value it meant to send; the file may carry a defect in a key
column (``defects.csv``), and the warehouse keys the record by the *normalised sent*
value (an 18-digit id, a 15-digit id upgraded, an invalid id as cleaned, never corrected).

    python -m popdata.linkage.evaluate [--truth var/demo/truth] [--warehouse-url URL] [--json PATH]

Exit status: 0 when every target passes, 1 when one fails, 2 when it cannot score
(no truth folder, no ``core.record_link``).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from popdata.config.feeds import Feed, default_feeds
from popdata.normalize.ids import ID_SCIENTIFIC_NOTATION, parse_id
from popdata.normalize.text import clean_text

__all__ = [
    "GROUP_PRECISION_TARGET",
    "LINK_COLUMNS",
    "OVERALL_PRECISION_TARGET",
    "OVERALL_RECALL_TARGET",
    "TRUTH_COLUMNS",
    "EvaluationReport",
    "GroupScore",
    "PairCounts",
    "evaluate",
    "load_links",
    "load_truth",
    "main",
    "map_truth_keys",
    "resolve_merges",
]

#: Office for National Statistics, Census 2021 linkage targets (overall).
OVERALL_PRECISION_TARGET = 0.999
OVERALL_RECALL_TARGET = 0.9975
#: No feed/role may fall below this precision.
GROUP_PRECISION_TARGET = 0.995

MENTION = ["feed", "source_key", "role"]
#: Columns ``evaluate`` needs from the link frame (``method`` and ``match_probability`` optional).
LINK_COLUMNS = ("feed", "source_key", "role", "person_key", "method", "match_probability")
#: Columns of the frame ``load_truth`` returns; ``evaluate`` needs the first four.
TRUTH_COLUMNS = ("feed", "source_key", "role", "person_id", "accepted", "current", "mapped", "truth_key")
METHODS = ("id_exact", "probabilistic", "new")
#: Defect kinds applied before the cell defects (their logged value is not the final cell).
_PRE_DEFECT_KINDS = frozenset({"id_15_digit"})
_EXAMPLES = 5


# ---------------------------------------------------------------------------------- report
@dataclass(frozen=True, slots=True)
class PairCounts:
    """Pairwise counts of one line of the report: true positives, predicted and true pairs."""

    tp: int
    predicted: int
    true: int

    @property
    def precision(self) -> float | None:
        """TP / predicted pairs; ``None`` when no pair is predicted."""
        return self.tp / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        """TP / true pairs; ``None`` when there is no true pair."""
        return self.tp / self.true if self.true else None

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall: 2·TP / (predicted + true)."""
        total = self.predicted + self.true
        return 2 * self.tp / total if total else None


@dataclass(frozen=True, slots=True)
class GroupScore:
    """Scores of one ``(feed, role)`` (or of everything, ``feed == role == '*'``)."""

    feed: str
    role: str
    accepted: int  # distinct accepted truth mentions (mapped, without conflict)
    linked: int  # of those, how many have a link row
    scored: int  # mentions both in the truth and in record_link (the pairs are among these)
    pairs: PairCounts
    methods: dict[str, int]  # link mentions by method (all link rows of the group)
    precision_target: float
    recall_target: float | None

    @property
    def coverage(self) -> float | None:
        """Share of accepted truth mentions that have a link row."""
        return self.linked / self.accepted if self.accepted else None

    @property
    def precision_ok(self) -> bool:
        """Precision meets its target (vacuously when no pair is predicted)."""
        p = self.pairs.precision
        return p is None or p >= self.precision_target

    @property
    def recall_ok(self) -> bool:
        """Recall meets its target, when there is one (vacuously when there is no true pair)."""
        r = self.pairs.recall
        return self.recall_target is None or r is None or r >= self.recall_target

    @property
    def passed(self) -> bool:
        """Every target of this line is met; the overall line also fails when nothing could be scored."""
        if self.recall_target is not None and self.accepted and not self.scored:
            return False
        return self.precision_ok and self.recall_ok

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, the derived figures included."""
        return {
            "feed": self.feed,
            "role": self.role,
            "accepted_mentions": self.accepted,
            "linked_mentions": self.linked,
            "coverage": self.coverage,
            "scored_mentions": self.scored,
            "tp_pairs": self.pairs.tp,
            "predicted_pairs": self.pairs.predicted,
            "true_pairs": self.pairs.true,
            "precision": self.pairs.precision,
            "recall": self.pairs.recall,
            "f1": self.pairs.f1,
            "methods": dict(self.methods),
            "precision_target": self.precision_target,
            "recall_target": self.recall_target,
            "passed": self.passed,
        }


@dataclass(slots=True)
class EvaluationReport:
    """Everything :func:`evaluate` measured: the scores and the bookkeeping behind them."""

    overall: GroupScore
    groups: list[GroupScore]
    truth_mentions: int  # distinct mapped truth mentions (accepted or not, conflicts included)
    truth_not_accepted: int  # truth mentions only on rejected lines (expected absent)
    truth_superseded: int  # accepted truth mentions only in superseded snapshots (may be absent)
    truth_conflicts: int  # truth mentions naming more than one true person (not scored)
    truth_unmapped: int  # truth mentions whose warehouse key cannot be derived (not scored)
    link_mentions: int  # distinct mentions in record_link
    link_conflicts: int  # link mentions with more than one person_key (first key kept)
    link_without_truth: int  # link mentions the truth does not know (not scored)
    missing_from_link: int  # accepted truth mentions with no link row
    linked_not_accepted: int  # link rows for truth mentions expected to be rejected
    methods: dict[str, int]
    examples: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """All targets met: overall precision and recall, and every feed/role's precision."""
        return self.overall.passed and all(g.passed for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the ``--json`` output)."""
        return {
            "passed": self.passed,
            "targets": {
                "overall_precision": OVERALL_PRECISION_TARGET,
                "overall_recall": OVERALL_RECALL_TARGET,
                "feed_role_precision": GROUP_PRECISION_TARGET,
            },
            "overall": self.overall.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "truth_mentions": self.truth_mentions,
            "truth_not_accepted": self.truth_not_accepted,
            "truth_superseded": self.truth_superseded,
            "truth_conflicts": self.truth_conflicts,
            "truth_unmapped": self.truth_unmapped,
            "link_mentions": self.link_mentions,
            "link_conflicts": self.link_conflicts,
            "link_without_truth": self.link_without_truth,
            "missing_from_link": self.missing_from_link,
            "linked_not_accepted": self.linked_not_accepted,
            "methods": dict(self.methods),
            "examples": {k: [dict(e) for e in v] for k, v in self.examples.items()},
        }

    def format_table(self) -> str:
        """A readable fixed-width table, one line per feed/role, then the overall line."""
        header = (
            f"{'feed':<24}{'role':<9}{'accepted':>9}{'linked':>8}{'cover':>9}{'scored':>8}"
            f"{'true prs':>11}{'pred prs':>11}{'TP':>11}{'precision':>11}{'recall':>10}{'F1':>10}"
            f"{'id_exact':>9}{'prob':>7}{'new':>7}  verdict"
        )
        lines = [header, "-" * len(header)]
        for g in [*self.groups, self.overall]:
            if g is self.overall:
                lines.append("-" * len(header))
            target = f"P≥{_pct(g.precision_target, 2)}"
            if g.recall_target is not None:
                target += f" R≥{_pct(g.recall_target, 2)}"
            lines.append(
                f"{g.feed:<24}{g.role:<9}{g.accepted:>9}{g.linked:>8}{_pct(g.coverage):>9}"
                f"{g.scored:>8}{g.pairs.true:>11}{g.pairs.predicted:>11}{g.pairs.tp:>11}"
                f"{_pct(g.pairs.precision, 3):>11}{_pct(g.pairs.recall, 3):>10}{_pct(g.pairs.f1, 3):>10}"
                f"{g.methods.get('id_exact', 0):>9}{g.methods.get('probabilistic', 0):>7}"
                f"{g.methods.get('new', 0):>7}  {'PASS' if g.passed else 'FAIL'} ({target})"
            )
        notes = [
            "",
            f"truth mentions (mapped)           {self.truth_mentions:>10}",
            f"  only on rejected lines          {self.truth_not_accepted:>10}  (expected absent)",
            f"  only in superseded snapshots    {self.truth_superseded:>10}  (not required)",
            f"  naming two true persons         {self.truth_conflicts:>10}  (not scored)",
            f"truth mentions not mappable       {self.truth_unmapped:>10}  (not scored)",
            f"record_link mentions              {self.link_mentions:>10}",
            f"  with two person_keys            {self.link_conflicts:>10}  (first key kept)",
            f"  unknown to the truth            {self.link_without_truth:>10}  (not scored)",
            f"  of truth mentions on rejected lines {self.linked_not_accepted:>6}",
            f"accepted truth mentions missing from record_link {self.missing_from_link:>6}",
            "methods: " + ", ".join(f"{k}={v}" for k, v in sorted(self.methods.items())),
            f"verdict: {'PASS' if self.passed else 'FAIL'}",
        ]
        return "\n".join(lines + notes)


def _pct(value: float | None, digits: int = 2) -> str:
    """A share as a percentage, ``—`` when undefined."""
    return "—" if value is None else f"{100 * value:.{digits}f}%"


# ---------------------------------------------------------------------------------- scoring
def _pairs(n: np.ndarray | pd.Series) -> int:
    """Σ C(n, 2) over counts, as a Python int."""
    a = np.asarray(n, dtype=np.int64)
    return int((a * (a - 1) // 2).sum())


def _pairs_touching(frame: pd.DataFrame, by: list[str]) -> pd.Series:
    """Per group ``g``: Σ over clusters ``by`` of C(n, 2) − C(n − n_g, 2).

    That is the number of pairs inside a cluster with at least one mention of group ``g``.
    """
    if frame.empty:
        return pd.Series(dtype="int64")
    total = frame.groupby(by, observed=True, sort=False).size().rename("n")
    per_group = frame.groupby([*by, "g"], observed=True, sort=False).size().rename("n_g").reset_index()
    per_group = per_group.join(total, on=by)
    n = per_group["n"].to_numpy(dtype=np.int64)
    rest = n - per_group["n_g"].to_numpy(dtype=np.int64)
    per_group["pairs"] = n * (n - 1) // 2 - rest * (rest - 1) // 2
    return per_group.groupby("g", observed=True)["pairs"].sum()


def _as_text(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """The columns as plain strings (keys from CSV and from SQL compare equal)."""
    out = pd.DataFrame({c: frame[c].astype(str) for c in columns})
    return out


def _examples(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, str]]:
    """Up to five rows as dicts of strings, for the report."""
    return [
        {c: str(v) for c, v in zip(columns, row, strict=True)}
        for row in frame[columns].head(_EXAMPLES).itertuples(index=False)
    ]


def evaluate(link: pd.DataFrame, truth: pd.DataFrame) -> EvaluationReport:
    """Score a link frame against a truth frame (pure: no I/O).

    ``link`` has one row per link: ``feed``, ``source_key``, ``role``, ``person_key`` and
    optionally ``method`` (person keys already resolved through merges). ``truth`` has one
    row per occurrence of a mention in a file: ``feed``, ``source_key`` (the warehouse
    form), ``role``, ``person_id``, and optionally ``accepted`` (False when the line is
    expected to be rejected; default True), ``current`` (False for a superseded snapshot
    of a snapshot feed, whose records ``core.record_link`` need not hold; default True) and
    ``mapped`` (False when the warehouse key could not be derived; default True). Mentions are deduplicated on both sides; a truth
    mention naming two persons and a link mention with two keys are counted and reported.
    """
    truth = truth.copy()
    if "accepted" not in truth.columns:
        truth["accepted"] = True
    if "current" not in truth.columns:
        truth["current"] = True
    if "mapped" not in truth.columns:
        truth["mapped"] = True
    truth["accepted"] = truth["accepted"].astype(bool)
    truth["mapped"] = truth["mapped"].astype(bool)
    examples: dict[str, list[dict[str, str]]] = {}

    # --- truth: drop unmapped, dedupe to one person per mention, find conflicts
    unmapped = truth.loc[~truth["mapped"]]
    truth_unmapped = len(unmapped.drop_duplicates(MENTION))
    mapped = _as_text(truth.loc[truth["mapped"]], [*MENTION, "person_id"])
    mapped["accepted"] = truth.loc[truth["mapped"], "accepted"].to_numpy()
    mapped["expected"] = mapped["accepted"] & truth.loc[truth["mapped"], "current"].astype(bool).to_numpy()
    per_mention = mapped.groupby(MENTION, sort=True).agg(
        person_id=("person_id", "first"),
        persons=("person_id", "nunique"),
        accepted=("accepted", "any"),
        expected=("expected", "any"),
    )
    conflicts = per_mention[per_mention["persons"] > 1]
    if len(conflicts):
        bad = mapped.merge(conflicts.reset_index()[MENTION], on=MENTION)
        examples["truth_conflicts"] = _examples(
            bad.drop_duplicates([*MENTION, "person_id"]), [*MENTION, "person_id"]
        )
    truth_m = per_mention[per_mention["persons"] == 1].drop(columns="persons").reset_index()

    # --- link: dedupe to one key per mention
    if "method" not in link.columns:
        link = link.assign(method="")
    links = _as_text(link, [*MENTION, "person_key", "method"]).sort_values([*MENTION, "person_key"])
    keys_per = links.groupby(MENTION, sort=False)["person_key"].nunique()
    link_conflicts = int((keys_per > 1).sum())
    if link_conflicts:
        bad_keys = keys_per[keys_per > 1].reset_index()[MENTION]
        examples["link_conflicts"] = _examples(
            links.merge(bad_keys, on=MENTION).drop_duplicates([*MENTION, "person_key"]),
            [*MENTION, "person_key"],
        )
    link_m = links.drop_duplicates(MENTION, keep="first")

    # --- join
    both = link_m.merge(truth_m, on=MENTION, how="outer", indicator=True)
    in_link = both["_merge"] != "right_only"
    in_truth = both["_merge"] != "left_only"
    was_accepted = in_truth & both["accepted"].fillna(False).astype(bool)
    accepted = in_truth & both["expected"].fillna(False).astype(bool)  # what record_link must hold
    missing = both.loc[accepted & ~in_link]
    if len(missing):
        examples["missing_from_link"] = _examples(missing, [*MENTION, "person_id"])
    extra = both.loc[in_link & ~in_truth]
    conflict_keys = set(map(tuple, conflicts.reset_index()[MENTION].to_numpy().tolist()))
    if len(extra):
        unknown = extra[[tuple(r) not in conflict_keys for r in extra[MENTION].to_numpy().tolist()]]
        if len(unknown):
            examples["link_without_truth"] = _examples(unknown, [*MENTION, "person_key"])

    scored = both.loc[in_link & in_truth, [*MENTION, "person_key", "person_id"]].copy()
    scored["g"] = scored["feed"] + "\x1f" + scored["role"]
    scored["p"] = pd.factorize(scored["person_key"])[0]
    scored["t"] = pd.factorize(scored["person_id"])[0]

    # --- per-group bookkeeping
    link_m = link_m.assign(g=link_m["feed"] + "\x1f" + link_m["role"])
    both["g"] = both["feed"] + "\x1f" + both["role"]
    acc = both.loc[accepted]
    accepted_n = acc.groupby("g").size()
    linked_n = acc.loc[acc["_merge"] == "both"].groupby("g").size()
    scored_n = scored.groupby("g").size()
    tp = _pairs_touching(scored, ["p", "t"])
    pred = _pairs_touching(scored, ["p"])
    true = _pairs_touching(scored, ["t"])
    methods_g: dict[str, dict[str, int]] = {}
    method_counts = link_m.groupby(["g", "method"]).size().reset_index(name="n")
    for g_key, method, count in method_counts.itertuples(index=False):
        methods_g.setdefault(str(g_key), {})[str(method)] = int(count)

    groups: list[GroupScore] = []
    for g in sorted(set(accepted_n.index) | set(link_m["g"])):
        feed, role = g.split("\x1f", 1)
        methods = methods_g.get(g, {})
        groups.append(
            GroupScore(
                feed=feed,
                role=role,
                accepted=int(accepted_n.get(g, 0)),
                linked=int(linked_n.get(g, 0)),
                scored=int(scored_n.get(g, 0)),
                pairs=PairCounts(int(tp.get(g, 0)), int(pred.get(g, 0)), int(true.get(g, 0))),
                methods=methods,
                precision_target=GROUP_PRECISION_TARGET,
                recall_target=None,
            )
        )
    all_methods = {str(k): int(v) for k, v in link_m.groupby("method").size().items()}
    overall = GroupScore(
        feed="*",
        role="*",
        accepted=int(accepted.sum()),
        linked=int((accepted & in_link).sum()),
        scored=len(scored),
        pairs=PairCounts(
            _pairs(scored.groupby(["p", "t"]).size()),
            _pairs(scored.groupby("p").size()),
            _pairs(scored.groupby("t").size()),
        ),
        methods=all_methods,
        precision_target=OVERALL_PRECISION_TARGET,
        recall_target=OVERALL_RECALL_TARGET,
    )
    return EvaluationReport(
        overall=overall,
        groups=groups,
        truth_mentions=len(per_mention),
        truth_not_accepted=int((~per_mention["accepted"]).sum()),
        truth_superseded=int((per_mention["accepted"] & ~per_mention["expected"]).sum()),
        truth_conflicts=len(conflicts),
        truth_unmapped=truth_unmapped,
        link_mentions=len(link_m),
        link_conflicts=link_conflicts,
        link_without_truth=int((in_link & ~in_truth).sum()),
        missing_from_link=len(missing),
        linked_not_accepted=int((in_link & in_truth & ~was_accepted).sum()),
        methods=all_methods,
        examples=examples,
    )


# ---------------------------------------------------------------------------------- truth
def _final_key_cells(defects: pd.DataFrame, key_columns: Mapping[str, tuple[str, ...]]) -> pd.DataFrame:
    """The value each defective key cell was finally sent with: ``feed, file_name, line_no, column, value``.

    Defects of one cell are logged in the order they were applied, each with the cell's
    value after it, so the last one is what the file holds — except the *pre* defects
    (``id_15_digit``), applied before the others and logged separately: used only when a
    cell has no other defect.
    """
    pairs = {(feed, col) for feed, cols in key_columns.items() for col in cols}
    wanted = np.array(
        [(f, c) in pairs for f, c in zip(defects["feed"], defects["column"], strict=True)], dtype=bool
    )
    cells = defects.loc[wanted & (defects["line_no"] != "0").to_numpy()].copy()
    if cells.empty:
        return pd.DataFrame(columns=["feed", "file_name", "line_no", "column", "value"])
    cells["pre"] = cells["kind"].isin(_PRE_DEFECT_KINDS)
    cells["order"] = np.arange(len(cells))
    cells = cells.sort_values(["pre", "order"], ascending=[False, True], kind="stable")
    last = cells.drop_duplicates(["feed", "file_name", "line_no", "column"], keep="last")
    return last[["feed", "file_name", "line_no", "column", "value"]]


def _warehouse_part(value: str | None, column_type: str) -> str | None:
    """The warehouse form of one sent key part; ``None`` when it cannot be derived."""
    if column_type == "id_number":
        parsed = parse_id(value)
        if parsed.value is None or parsed.reason == ID_SCIENTIFIC_NOTATION:
            return None  # blank, or digits lost in Excel: many persons share the text
        return parsed.value
    if column_type in ("int", "birth_order"):
        cleaned = clean_text(value)
        return str(int(cleaned)) if cleaned is not None and cleaned.isdigit() else cleaned
    return clean_text(value)


def map_truth_keys(
    records: pd.DataFrame, defects: pd.DataFrame, feeds: Iterable[Feed] | None = None
) -> pd.DataFrame:
    """Add ``truth_key`` (as the generator wrote it), ``source_key`` (the warehouse form) and ``mapped``.

    The generator's key is the clean value it meant to send. The warehouse keys a record by
    its key columns as sent, normalised (``popdata.ingest.rows``): identity numbers through
    :func:`parse_id` (15 digits upgraded; an invalid number kept as cleaned, not
    corrected), other columns through :func:`clean_text`, parts joined with ``|``. Where
    ``defects.csv`` logs a defect in a key cell, the final defective value is normalised
    instead. A key is *unmapped* when its warehouse form cannot be told: an id mangled
    into scientific notation (digits lost), a blank key, or a key with the wrong number of
    parts. Feeds not in the configuration keep their key as written.
    """
    feed_list = tuple(feeds) if feeds is not None else default_feeds()
    by_name = {f.feed: f for f in feed_list}
    key_columns = {f.feed: f.key for f in feed_list}
    out = records.copy()
    out["truth_key"] = out["source_key"]
    final = _final_key_cells(defects, key_columns)
    sent = {
        (f, n, ln, c): v
        for f, n, ln, c, v in final[["feed", "file_name", "line_no", "column", "value"]].itertuples(
            index=False
        )
    }
    mapped_keys: list[str] = []
    ok: list[bool] = []
    cache: dict[tuple[str, str | None, str], str | None] = {}
    for feed_name, file_name, line_no, key in out[["feed", "file_name", "line_no", "source_key"]].itertuples(
        index=False
    ):
        feed = by_name.get(feed_name)
        if feed is None:
            mapped_keys.append(key)
            ok.append(True)
            continue
        parts = key.split("|") if len(feed.key) > 1 else [key]
        if len(parts) != len(feed.key):
            mapped_keys.append(key)
            ok.append(False)
            continue
        result: list[str] = []
        good = True
        for column_name, part in zip(feed.key, parts, strict=True):
            value: str | None = sent.get((feed_name, file_name, line_no, column_name), part)
            column_type = feed.column(column_name).type
            memo = (column_type, value, column_name)
            if memo not in cache:
                cache[memo] = _warehouse_part(value, column_type)
            norm = cache[memo]
            if norm is None:
                good = False
                norm = part
            result.append(norm)
        mapped_keys.append("|".join(result))
        ok.append(good)
    out["source_key"] = mapped_keys
    out["mapped"] = ok
    return out


def _current_files(records: pd.DataFrame, files: pd.DataFrame) -> np.ndarray:
    """Per record row: False when it is in a superseded file of a snapshot feed.

    A snapshot feed's current records are those of its latest delivered file (greatest
    ``extract_date`` among files not quarantined): its ``core.<feed>`` view shows only
    that snapshot, so a linkage built from the current views holds no other.
    """
    snapshot = {f.feed for f in default_feeds() if f.kind == "snapshot"}
    delivered = files.loc[(files["expected_status"] != "quarantined") & files["feed"].isin(snapshot)]
    if delivered.empty:
        return np.ones(len(records), dtype=bool)
    latest = delivered.groupby("feed")["extract_date"].transform("max")
    current = delivered.loc[delivered["extract_date"] == latest, ["feed", "file_name"]]
    hit = records.merge(current.assign(_c=True), on=["feed", "file_name"], how="left")["_c"].notna()
    return (~records["feed"].isin(snapshot) | hit).to_numpy()


def load_truth(truth_dir: Path) -> pd.DataFrame:
    """Read ``records.csv``, ``files.csv`` and ``defects.csv`` of a truth folder into a truth frame.

    One row per occurrence of a mention in a file (not yet deduplicated), columns
    :data:`TRUTH_COLUMNS`. Files expected to be quarantined are left out (their records
    never reach the warehouse); ``accepted`` is False on lines with a defect that rejects
    the row; ``current`` is False in a superseded snapshot of a snapshot feed
    (:func:`_current_files`); ``source_key`` is the warehouse form (:func:`map_truth_keys`).
    """
    truth_dir = Path(truth_dir)
    read = {"dtype": str, "keep_default_na": False, "encoding": "utf-8"}
    records = pd.read_csv(truth_dir / "records.csv", **read)  # type: ignore[call-overload]
    files = pd.read_csv(
        truth_dir / "files.csv", usecols=["feed", "file_name", "extract_date", "expected_status"], **read
    )  # type: ignore[call-overload]
    defects_path = truth_dir / "defects.csv"
    if defects_path.exists():
        defects = pd.read_csv(
            defects_path,
            usecols=["feed", "file_name", "line_no", "column", "kind", "value", "rejects_row"],
            **read,
        )  # type: ignore[call-overload]
    else:
        defects = pd.DataFrame(
            columns=["feed", "file_name", "line_no", "column", "kind", "value", "rejects_row"]
        )
    quarantined = files.loc[files["expected_status"] == "quarantined", ["feed", "file_name"]]
    if len(quarantined):
        keep = records.merge(quarantined.assign(_q=True), on=["feed", "file_name"], how="left")["_q"].isna()
        records = records.loc[keep.to_numpy()].reset_index(drop=True)
    rejected = defects.loc[
        (defects["rejects_row"].str.lower() == "true") & (defects["line_no"] != "0"),
        ["feed", "file_name", "line_no"],
    ].drop_duplicates()
    flagged = records.merge(rejected.assign(_r=True), on=["feed", "file_name", "line_no"], how="left")["_r"]
    records["accepted"] = flagged.isna().to_numpy()
    records["current"] = _current_files(records, files)
    mapped = map_truth_keys(records, defects)
    return mapped[list(TRUTH_COLUMNS)]


# ---------------------------------------------------------------------------------- warehouse
def resolve_merges(keys: pd.Series, merges: pd.DataFrame) -> pd.Series:
    """Map each person key to its final key through ``old_key → new_key`` chains (cycle-safe)."""
    if merges.empty:
        return keys
    step = dict(zip(merges["old_key"].astype(str), merges["new_key"].astype(str), strict=True))
    final: dict[str, str] = {}
    for start in step:
        seen = {start}
        key = step[start]
        while key in step and key not in seen:
            seen.add(key)
            key = step[key]
        final[start] = key
    return keys.map(lambda k: final.get(k, k))


def _copy_frame(engine: sa.Engine, query: str) -> pd.DataFrame:
    """Run ``query`` through COPY … TO STDOUT (CSV) and read it with pandas (fast on millions of rows)."""
    buffer = io.BytesIO()
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection  # a psycopg 3 connection
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy,
        ):
            for chunk in copy:
                buffer.write(chunk)
    finally:
        raw.close()
    buffer.seek(0)
    return pd.read_csv(buffer, dtype=str, keep_default_na=False, na_values=[""])


def load_links(engine: sa.Engine) -> pd.DataFrame:
    """Read ``core.record_link`` with person keys resolved through ``core.person_key_merges`` when it exists."""
    with engine.connect() as conn:
        present = conn.execute(sa.text("SELECT to_regclass('core.record_link') IS NOT NULL")).scalar()
        has_merges = conn.execute(
            sa.text("SELECT to_regclass('core.person_key_merges') IS NOT NULL")
        ).scalar()
    if not present:
        raise LookupError("core.record_link does not exist: run the linkage first")
    link = _copy_frame(
        engine,
        "SELECT feed, source_key, role, person_key::text AS person_key, method, match_probability "
        "FROM core.record_link",
    )
    link["match_probability"] = pd.to_numeric(link["match_probability"])
    if has_merges:
        merges = _copy_frame(
            engine, "SELECT old_key::text AS old_key, new_key::text AS new_key FROM core.person_key_merges"
        )
        link["person_key"] = resolve_merges(link["person_key"], merges)
    return link


# ---------------------------------------------------------------------------------- CLI
def _default_truth() -> Path:
    """``<POPDATA_HOME>/var/demo/truth``: where ``make demo`` generates (the Makefile's ``DEMO_DIR``)."""
    from popdata.config.settings import load_settings

    return load_settings().home / "var" / "demo" / "truth"


def main(argv: list[str] | None = None) -> int:
    """Score the warehouse's ``core.record_link`` against a truth folder; print, optionally write JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--truth", type=Path, default=None, help="truth folder (default: var/demo/truth)")
    parser.add_argument(
        "--warehouse-url", default=None, help="SQLAlchemy URL (default: the configured warehouse)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    args = parser.parse_args(argv)

    truth_dir: Path = args.truth or _default_truth()
    if not (truth_dir / "records.csv").exists():
        print(f"no truth in {truth_dir} (records.csv missing): run `make demo` first", file=sys.stderr)
        return 2
    url = args.warehouse_url
    if url is None:
        from popdata.config.settings import load_settings
        from popdata.warehouse.db import warehouse_url

        url = warehouse_url(load_settings())
    from popdata.warehouse.db import normalise_url

    engine = sa.create_engine(normalise_url(url))
    try:
        link = load_links(engine)
    except LookupError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    truth = load_truth(truth_dir)
    report = evaluate(link, truth)
    print(f"truth: {truth_dir}")
    print(report.format_table())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    return 0 if report.passed else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
