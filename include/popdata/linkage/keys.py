"""The linking logic, pure: mentions and the index's state in, links, merges and work lists out.

:func:`plan_links` decides the person key of every mention in four steps (docs/linkage.md):

1. **exact**: a valid identity number links to the person of that number (a new person the
   first time the number is seen). Invalid or missing numbers never link exactly.
2. **births**: a birth certificate's child links to the police registration's child of the same
   certificate number (probability 1.0), else to the one registration child with the same mother,
   birth date and sex and no disagreeing name (``LinkThresholds.birth_rule``).
3. **probabilistic**: the remaining mentions are scored against the id-linked persons by a
   scorer (``popdata.linkage.probabilistic.score_candidates``); the best candidate at or above
   the link threshold links, one in the review band goes to clerical review, none: a new person.
4. **stable keys**: a mention keeps the key it had (``prior``); when new evidence puts it with
   another person, the two keys are merged: the older key is kept and the merge recorded. Two
   persons that both hold valid identity numbers are never merged by a link.

Keys minted during planning are *placeholders* (negative numbers, ``-1`` first); the writer
replaces them with keys from ``core.person_key_seq``. Nothing here touches the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from popdata.linkage.thresholds import LinkThresholds

if TYPE_CHECKING:
    import pandas as pd

Method = Literal["id_exact", "probabilistic", "new"]
Scorer = Callable[["pd.DataFrame", "pd.DataFrame"], "pd.DataFrame"]

#: Columns of the persons frame handed to the scorer, one row per id-linked person.
PERSON_COLUMNS = (
    "person_key",
    "id_no",
    "name",
    "sex",
    "birth_date",
    "region_code",
    "household_no",
    "mother_id",
)
#: Columns the scorer returns, any number of candidate rows per mention.
SCORE_COLUMNS = ("mention_id", "person_key", "match_probability", "evidence")
#: Attributes compared for the evidence for and against a pair (names only, never values).
COMPARED = ("name", "sex", "birth_date", "region_code", "household_no", "mother_id")

#: The end of a 12-digit region code that names a town or a county, not a village.
COARSE_REGION_SUFFIX = "000"

BIRTH_CERT_FEED = "birth_certificates"
BIRTH_REG_FEED = "birth_registrations"
CHILD = "child"


@dataclass(frozen=True, slots=True)
class PriorLink:
    """The link a mention had after the previous run."""

    person_key: int
    method: Method
    match_probability: float | None


@dataclass(frozen=True, slots=True)
class Merge:
    """Two existing person keys found to be one person: ``old_key`` now resolves to ``new_key``."""

    old_key: int
    new_key: int
    reason: str
    evidence: dict[str, Any]


@dataclass(slots=True)
class Link:
    """The decision for one mention."""

    mention_id: str
    person_key: int
    method: Method
    match_probability: float | None


@dataclass(frozen=True, slots=True)
class Review:
    """An uncertain pair for clerical review: a mention and the person it may be."""

    mention_id: str
    person_key: int
    candidate_person_key: int
    candidate_mention_ids: tuple[str, ...]
    match_probability: float
    evidence: str
    evidence_for: tuple[str, ...]
    evidence_against: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Correction:
    """A mention whose invalid identity number linked with high probability to a person with a valid one."""

    mention_id: str
    sent_id: str
    likely_id: str
    evidence: str
    match_probability: float
    person_key: int


def is_placeholder(key: int) -> bool:
    """True for a key minted during planning (not yet in ``core.person``)."""
    return key < 0


def older(a: int, b: int) -> int:
    """The older of two keys: existing keys by sequence order, any existing key before a placeholder."""
    if is_placeholder(a) != is_placeholder(b):
        return b if is_placeholder(a) else a
    return max(a, b) if is_placeholder(a) else min(a, b)


class KeyRegistry:
    """Person keys during a run: a union-find over keys, the identity numbers of each, new keys."""

    def __init__(self, id_keys: Mapping[str, int]) -> None:
        """Start from the index's ``id_no → person_key`` map."""
        self._parent: dict[int, int] = {}
        self._ids: dict[int, set[str]] = defaultdict(set)
        self._id_keys: dict[str, int] = dict(id_keys)
        for id_no, key in id_keys.items():
            self._ids[key].add(id_no)
        self.minted: dict[int, str] = {}
        self.new_ids: dict[str, int] = {}
        self.merges: list[Merge] = []

    def find(self, key: int) -> int:
        """The current key of ``key``."""
        root = key
        while (parent := self._parent.get(root, root)) != root:
            root = parent
        while key != root:  # path compression
            self._parent[key], key = root, self._parent.get(key, key)
        return root

    def mint(self, created_by: str) -> int:
        """A new placeholder key (``-1``, ``-2``, … in order of creation)."""
        key = -(len(self.minted) + 1)
        self.minted[key] = created_by
        return key

    def key_of_id(self, id_no: str) -> int | None:
        """The current key of a valid identity number, when it is known."""
        key = self._id_keys.get(id_no)
        return None if key is None else self.find(key)

    def add_id(self, id_no: str, key: int) -> None:
        """Record a newly seen valid identity number of ``key``'s person."""
        root = self.find(key)
        self._id_keys[id_no] = root
        self.new_ids[id_no] = root
        self._ids[root].add(id_no)

    def has_ids(self, key: int) -> bool:
        """True when ``key``'s person holds at least one valid identity number."""
        return bool(self._ids.get(self.find(key)))

    def ids_of(self, key: int) -> tuple[str, ...]:
        """The valid identity numbers of ``key``'s person, sorted."""
        return tuple(sorted(self._ids.get(self.find(key), ())))

    def union(self, a: int, b: int, reason: str, evidence: Mapping[str, Any]) -> int:
        """Make ``a`` and ``b`` one person; the older key is kept. Returns it.

        A merge of two existing keys is recorded (:attr:`merges`); a placeholder merged
        away never existed outside this run and is not.
        """
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        keep = older(ra, rb)
        lose = rb if keep == ra else ra
        self._parent[lose] = keep
        if lose in self._ids:
            self._ids[keep] |= self._ids.pop(lose)
        if not is_placeholder(lose):
            self.merges.append(Merge(lose, keep, reason, dict(evidence)))
        return keep


@dataclass(slots=True)
class Plan:
    """The outcome of planning one run (keys may be placeholders or merged; resolve with ``registry.find``)."""

    registry: KeyRegistry
    links: dict[str, Link] = field(default_factory=dict)
    reviews: list[Review] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)
    scored: int = 0
    persons: pd.DataFrame | None = None

    def resolved_links(self) -> list[Link]:
        """Every link with its key resolved to the current key, in mention id order."""
        return [
            Link(m, self.registry.find(link.person_key), link.method, link.match_probability)
            for m, link in sorted(self.links.items())
        ]


def compare_attributes(
    mention: Mapping[Any, Any], person: Mapping[Any, Any]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(attributes that agree, attributes that disagree) between a mention and a person; missing counts as neither."""
    agree: list[str] = []
    disagree: list[str] = []
    for name in COMPARED:
        left, right = mention.get(name), person.get(name)
        if _missing(left) or _missing(right):
            continue
        (agree if left == right else disagree).append(name)
    return tuple(agree), tuple(disagree)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _native(value: Any) -> Any:
    """A numpy scalar as the Python value ``DataFrame.to_dict`` gives for it (``pd.NA`` as None)."""
    import numpy as np
    import pandas as pd

    if isinstance(value, np.datetime64):
        return pd.Timestamp(value)
    if isinstance(value, np.timedelta64):
        return pd.Timedelta(value)
    if isinstance(value, np.generic):
        return value.item()
    return None if value is pd.NA else value


class FrameRows(Mapping[Any, dict[str, Any]]):
    """Read-only rows of a frame by a key column, each row built on demand as a dict.

    ``rows[key]`` is the dict ``frame.to_dict("records")`` has for the row of ``key`` (the
    last one when a key repeats); iteration yields the keys once each, in frame order. Only
    the frame's column arrays are held (no copy) and an index of the keys: no dict per row.
    """

    __slots__ = ("_cells", "_columns", "_keys", "_lookup")

    def __init__(self, frame: pd.DataFrame, key: str) -> None:
        """Rows of ``frame`` by its column ``key``; the frame must not change while they are used."""
        import numpy as np
        import pandas as pd

        self._columns: list[Any] = list(frame.columns)
        self._cells: list[Callable[[int], Any]] = []
        for position in range(frame.shape[1]):
            column = frame.iloc[:, position]
            if not isinstance(column.dtype, np.dtype):  # extension arrays: no conversion, no copy
                self._cells.append(_cell_of(column.array))
            elif column.dtype.kind in "biufc":
                self._cells.append(column.to_numpy(copy=False).item)
            else:  # objects as they are (numpy scalars among them as Python's), datetimes as Timestamp
                self._cells.append(_cell_of(column.to_numpy(copy=False)))
        keys = frame[key].to_numpy(copy=False)
        self._keys = pd.Index(keys, dtype=keys.dtype, copy=False)
        self._lookup: Callable[[Any], Any] | None = None

    def _position(self, key: Any) -> int:
        """The row number of ``key`` (KeyError when no row has it); the lookup is made on first use."""
        if self._lookup is None:
            if self._keys.is_unique:
                self._lookup = self._keys.get_loc
            else:  # the last row of a repeated key, as a dict comprehension keeps it
                self._lookup = {k: i for i, k in enumerate(self._keys)}.__getitem__
        return int(self._lookup(key))

    def __getitem__(self, key: Any) -> dict[str, Any]:
        """The row of ``key`` as a dict of column → value; KeyError when there is none."""
        position = self._position(key)
        return {column: cell(position) for column, cell in zip(self._columns, self._cells, strict=True)}

    def __contains__(self, key: object) -> bool:
        """True when a row has ``key``."""
        try:
            self._position(key)
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[Any]:
        """The keys in frame order, each once."""
        return iter(self._keys if self._keys.is_unique else self._keys.unique())

    def __len__(self) -> int:
        """The number of distinct keys."""
        return int(self._keys.nunique(dropna=False))


def _cell_of(values: Any) -> Callable[[int], Any]:
    """A reader of one element of an array as ``to_dict`` gives it (Timestamp, NaT, Python scalars)."""

    def cell(position: int) -> Any:
        """The element at ``position``."""
        return _native(values[position])

    return cell


def closest_id(sent: str, candidates: Sequence[str]) -> str:
    """The candidate identity number sharing the most positions with ``sent`` (ties: the smallest)."""

    def score(candidate: str) -> tuple[int, str]:
        same = sum(1 for x, y in zip(sent, candidate, strict=False) if x == y)
        return (-same, candidate)

    return min(candidates, key=score)


def representative_persons(linked: pd.DataFrame) -> pd.DataFrame:
    """One row per person from its id-linked mentions (``linked`` has a ``person_key`` column).

    ``id_no``: the smallest valid number; ``birth_date`` and ``sex``: derived from that number;
    ``name``: the most frequent (ties: the smallest); ``region_code``: from the latest extract
    that has a village-level code (one not ending in ``000``), else from the latest that has one;
    ``household_no``: from the latest extract that has one; ``mother_id``: the most frequent
    valid mother id.
    """
    import pandas as pd

    if linked.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype="datetime64[ns]" if c == "birth_date" else object) for c in PERSON_COLUMNS}
        )
    frame = linked.loc[linked["id_valid"] & linked["id_no"].notna()]
    ids = frame.groupby("person_key", sort=True)["id_no"].min()
    out = pd.DataFrame({"person_key": ids.index.astype("int64"), "id_no": ids.to_numpy()})
    id_text = out["id_no"].astype(str)
    out["birth_date"] = pd.to_datetime(id_text.str[6:14], format="%Y%m%d", errors="coerce").astype(
        "datetime64[ns]"
    )
    out["sex"] = [
        ("1" if int(v[16]) % 2 else "2") if len(v) == 18 and v[16].isdigit() else None for v in id_text
    ]

    def most_frequent(column: str) -> pd.Series:
        values = linked.loc[linked[column].notna(), ["person_key", column]]
        counted = values.groupby(["person_key", column]).size().reset_index(name="n")
        counted = counted.sort_values(["person_key", "n", column], ascending=[True, False, True])
        return counted.drop_duplicates("person_key").set_index("person_key")[column]

    def latest(column: str) -> pd.Series:
        values = linked.loc[linked[column].notna(), ["person_key", column, "extract_date", "mention_id"]]
        values = values.sort_values(
            ["person_key", "extract_date", "mention_id"], ascending=[True, False, True]
        )
        return values.drop_duplicates("person_key").set_index("person_key")[column]

    def latest_finest(column: str) -> pd.Series:
        # a village-level code (not ending in 000) before a code cut to the town or county
        values = linked.loc[linked[column].notna(), ["person_key", column, "extract_date", "mention_id"]]
        values = values.assign(coarse=values[column].astype(str).str.endswith(COARSE_REGION_SUFFIX))
        values = values.sort_values(
            ["person_key", "coarse", "extract_date", "mention_id"], ascending=[True, True, False, True]
        )
        return values.drop_duplicates("person_key").set_index("person_key")[column]

    for column, pick in (
        ("name", most_frequent),
        ("mother_id", most_frequent),
        ("region_code", latest_finest),
        ("household_no", latest),
    ):
        picked = pick(column)
        mapped = out["person_key"].map(picked)
        out[column] = mapped.astype(object).where(mapped.notna(), None)
    return out.loc[:, list(PERSON_COLUMNS)].reset_index(drop=True)


def best_candidates(scores: pd.DataFrame) -> pd.DataFrame:
    """The best candidate of each mention (highest probability; ties: the smallest person key)."""
    if scores.empty:
        return scores
    ordered = scores.sort_values(
        ["mention_id", "match_probability", "person_key"], ascending=[True, False, True]
    )
    return ordered.drop_duplicates("mention_id").set_index("mention_id", drop=False)


def birth_rule_pairs(mentions: pd.DataFrame, taken: Iterable[str]) -> list[tuple[str, str]]:
    """Certificate children paired with the one registration child of the same mother, birth date and sex.

    Both need a valid mother id, a birth date and a sex; names must agree when both are given.
    A pair is made only when exactly one registration child (not already paired) fits.
    """
    taken_set = set(taken)
    children = mentions.loc[mentions["role"] == CHILD]
    columns = ["mother_id", "birth_date", "sex"]
    certs = children.loc[(children["feed"] == BIRTH_CERT_FEED) & ~children["mention_id"].isin(taken_set)]
    regs = children.loc[(children["feed"] == BIRTH_REG_FEED) & ~children["mention_id"].isin(taken_set)]
    certs = certs.dropna(subset=columns)
    regs = regs.dropna(subset=columns)
    if certs.empty or regs.empty:
        return []
    joined = certs.merge(regs, on=columns, suffixes=("_c", "_r"))
    names_agree = joined["name_c"].isna() | joined["name_r"].isna() | (joined["name_c"] == joined["name_r"])
    joined = joined.loc[names_agree]
    unique_reg = joined.groupby("mention_id_c")["mention_id_r"].transform("size") == 1
    unique_cert = joined.groupby("mention_id_r")["mention_id_c"].transform("size") == 1
    joined = joined.loc[unique_reg & unique_cert]
    return sorted(zip(joined["mention_id_c"], joined["mention_id_r"], strict=True))


#: Rounds of the relation rule: a mention it links can corroborate a relative's mention next round.
RELATION_PASSES = 3


@dataclass(frozen=True, slots=True)
class Corroboration:
    """A review-band candidate confirmed by a relative named in the same record."""

    person_key: int
    probability: float
    model_probability: float
    evidence: str
    relations: tuple[str, ...]


def record_of(row: Mapping[Any, Any]) -> str:
    """``feed|source_key``: the record a mention belongs to."""
    return f"{row['feed']}|{row['source_key']}"


@dataclass(slots=True)
class RelationGraph:
    """Who is related to whom, from the links settled so far (id links and links at the threshold).

    Two persons are *related* when they are named together in another record (a couple on a
    birth approval, a mother on her child's certificate …), share a household number, or one
    is the mother (``mother_id``) of the other.
    """

    registry: KeyRegistry
    record_keys: dict[str, dict[str, int]]
    records_of: dict[int, set[str]]
    households: dict[int, set[str]]
    mother_ids: dict[int, set[str]]

    @classmethod
    def build(
        cls,
        mentions: pd.DataFrame,
        links: Mapping[str, Link],
        registry: KeyRegistry,
        link_threshold: float,
        *,
        records: Iterable[str] | None = None,
        keys: Iterable[int] | None = None,
    ) -> RelationGraph:
        """The graph of the settled links (``id_exact``, or a probability at or above ``link_threshold``).

        With ``records`` (``feed|source_key``) only the part the relation rule can ask about
        is kept: the roles settled in those records, and the records, households and mother
        ids of the persons settled there and of the persons of ``keys``. For those records and
        persons (and any person they are merged with: pass every key a merge may join) the
        answers are the whole graph's; the whole graph of a county holds a set or more per person.
        """
        graph = cls(registry, defaultdict(dict), defaultdict(set), defaultdict(set), defaultdict(set))

        def settled_key(mid: str) -> int | None:
            """The current key of a mention whose link is settled, else None."""
            link = links.get(mid)
            if link is None or not (
                link.method == "id_exact" or (link.match_probability or 0.0) >= link_threshold
            ):
                return None
            return registry.find(link.person_key)

        if records is None:
            columns = ("mention_id", "feed", "source_key", "role", "household_no", "mother_id")
            for mid, feed, source_key, role, household, mother in zip(
                *(mentions[c] for c in columns), strict=True
            ):
                key = settled_key(mid)
                if key is None:
                    continue
                record = f"{feed}|{source_key}"
                graph.record_keys[record][str(role)] = key
                graph._add_person(key, record, household, mother)
            return graph

        wanted_records = set(records)
        # the roles settled in those records (pre-filtered on every possible source key part)
        suffixes = {r[i + 1 :] for r in wanted_records for i, char in enumerate(r) if char == "|"}
        near = mentions.loc[
            mentions["source_key"].isin(suffixes), ["mention_id", "feed", "source_key", "role"]
        ]
        for mid, feed, source_key, role in zip(
            near["mention_id"], near["feed"], near["source_key"], near["role"], strict=True
        ):
            record = f"{feed}|{source_key}"
            key = settled_key(mid) if record in wanted_records else None
            if key is not None:
                graph.record_keys[record][str(role)] = key
        wanted = {registry.find(k) for k in keys or ()}
        wanted.update(key for roles in graph.record_keys.values() for key in roles.values())
        person_columns = ("mention_id", "feed", "source_key", "household_no", "mother_id")
        for mid, feed, source_key, household, mother in zip(
            *(mentions[c] for c in person_columns), strict=True
        ):
            key = settled_key(mid)
            if key is not None and key in wanted:
                graph._add_person(key, f"{feed}|{source_key}", household, mother)
        return graph

    def _add_person(self, key: int, record: str, household: Any, mother: Any) -> None:
        """Record that person ``key`` is settled in ``record`` with that household and mother id."""
        self.records_of[key].add(record)
        if household is not None:
            self.households[key].add(str(household))
        if mother is not None:
            self.mother_ids[key].add(str(mother))

    def relations(self, a: int, b: int, record: str) -> tuple[str, ...]:
        """How persons ``a`` and ``b`` are related, not counting ``record`` itself (names only)."""
        a, b = self.registry.find(a), self.registry.find(b)
        found: list[str] = []
        if (self.records_of.get(a, set()) & self.records_of.get(b, set())) - {record}:
            found.append("named_together")
        if self.households.get(a, set()) & self.households.get(b, set()):
            found.append("household")
        ids_a, ids_b = set(self.registry.ids_of(a)), set(self.registry.ids_of(b))
        if self.mother_ids.get(a, set()) & ids_b or self.mother_ids.get(b, set()) & ids_a:
            found.append("mother")
        return tuple(found)


def corroborated_candidate(
    row: Mapping[Any, Any],
    candidates: Iterable[tuple[int, float, str]],
    graph: RelationGraph,
    bayes_factor: float,
) -> Corroboration | None:
    """The one candidate related to a person settled for another role of the mention's record.

    ``candidates``: (person key, model probability, evidence) of the mention, all in the
    review band. The relation multiplies the model's odds by ``bayes_factor``. None when no
    candidate is related, or when several different persons are (twins of one mother: the
    relation cannot tell them apart).
    """
    record = record_of(row)
    relatives = {
        role: graph.registry.find(key)
        for role, key in graph.record_keys.get(record, {}).items()
        if role != row["role"]
    }
    if not relatives:
        return None
    found: dict[int, Corroboration] = {}
    for key, probability, evidence in candidates:
        person = graph.registry.find(key)
        if person in relatives.values():
            continue  # one person is not two roles of one record
        relations = tuple(
            f"{role}:{kind}"
            for role, relative in sorted(relatives.items())
            for kind in graph.relations(person, relative, record)
        )
        if not relations:
            continue
        odds = probability / (1.0 - probability) if probability < 1.0 else float("inf")
        posterior = 1.0 if odds == float("inf") else odds * bayes_factor / (1.0 + odds * bayes_factor)
        kept = found.get(person)
        if kept is None or probability > kept.model_probability:
            found[person] = Corroboration(person, posterior, probability, evidence, relations)
    if len(found) != 1:
        return None
    return next(iter(found.values()))


class _MentionsOf:
    """The id-linked mentions of each person, by the keys they had before the probabilistic step."""

    __slots__ = ("_keys", "_mention_ids", "_order")

    def __init__(self, mention_ids: Any, keys: Any) -> None:
        """``mention_ids`` and their ``keys``: two arrays of one length (held, not copied)."""
        self._mention_ids = mention_ids
        self._keys = keys
        self._order: Any = None

    def first(self, key: int, n: int) -> tuple[str, ...]:
        """The ``n`` smallest mention ids of ``key`` (none for a key without id-linked mentions)."""
        import numpy as np

        if self._order is None:  # sorted by key once, on the first question
            self._order = np.argsort(self._keys, kind="stable")
            self._keys = self._keys[self._order]
        start = int(np.searchsorted(self._keys, key, side="left"))
        stop = int(np.searchsorted(self._keys, key, side="right"))
        return tuple(sorted(set(self._mention_ids[self._order[start:stop]]))[:n])


def plan_links(
    mentions: pd.DataFrame,
    *,
    id_keys: Mapping[str, int],
    prior: Mapping[str, PriorLink],
    certificate_pairs: Sequence[tuple[str, str]] = (),
    scorer: Scorer | None = None,
    thresholds: LinkThresholds | None = None,
) -> Plan:
    """Decide the person key of every mention (see the module docstring for the rules).

    ``id_keys``: ``core.person_id_numbers``; ``prior``: ``core.record_link`` by mention id;
    ``certificate_pairs``: (certificate child, registration child) mention ids with the same
    certificate number; ``scorer``: ``score_candidates(mentions, persons)``, or None to skip
    the probabilistic step.
    """
    thresholds = thresholds or LinkThresholds()
    registry = KeyRegistry(id_keys)
    plan = Plan(registry)
    links = plan.links

    def attach(
        mid: str,
        key: int,
        method: Method,
        probability: float | None,
        reason: str,
        evidence: Mapping[str, Any],
    ) -> int:
        before = prior.get(mid)
        if (
            before is not None
            and registry.find(before.person_key) != registry.find(key)
            and not (registry.has_ids(before.person_key) and registry.has_ids(key))
        ):
            key = registry.union(before.person_key, key, reason, {"mention_id": mid, **evidence})
        links[mid] = Link(mid, key, method, probability)
        return key

    rows = FrameRows(mentions, "mention_id")  # a row dict only for the mentions that need one

    # 1. exact: valid identity numbers
    exact = mentions.loc[mentions["id_valid"] & mentions["id_no"].notna(), ["mention_id", "id_no"]]
    for mid, id_no in zip(exact["mention_id"], exact["id_no"], strict=True):
        key = registry.key_of_id(id_no)
        if key is None:
            before = prior.get(mid)
            if before is not None and not registry.has_ids(before.person_key):
                key = registry.find(before.person_key)  # the person gains its first number
            else:
                key = registry.mint("id_exact")
            registry.add_id(id_no, key)
            links[mid] = Link(mid, key, "id_exact", 1.0)
        else:
            attach(mid, key, "id_exact", 1.0, "id_exact", {"rule": "same valid ID number"})

    # 2. births: certificate number, then mother + birth date + sex
    followers: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
    paired: set[str] = set()
    pairs = [(c, r, 1.0, "birth_certificate") for c, r in certificate_pairs if c in rows and r in rows]
    claimed = {c for c, *_ in pairs} | {r for _, r, *_ in pairs}
    pairs += [
        (c, r, thresholds.birth_rule, "birth_mother_date_sex") for c, r in birth_rule_pairs(mentions, claimed)
    ]
    for cert, reg, probability, reason in sorted(pairs):
        if cert in links or cert in paired or reg in paired:
            continue
        paired.update((cert, reg))
        if reg in links:
            attach(
                cert,
                links[reg].person_key,
                "probabilistic",
                probability,
                reason,
                {"rule": reason, "record": reg},
            )
        else:
            followers[reg].append((cert, probability, reason))
    following = {c for group in followers.values() for c, *_ in group}

    # 3. probabilistic: the rest against the id-linked persons
    remaining_ids = [m for m in rows if m not in links and m not in following]
    import pandas as pd

    linked_ids = [m for m, link in links.items() if link.method == "id_exact"]
    linked = mentions.loc[mentions["mention_id"].isin(linked_ids)]
    linked["person_key"] = [registry.find(links[m].person_key) for m in linked["mention_id"]]
    persons = representative_persons(linked)
    plan.persons = persons
    # copies: a view of one column would keep the whole block of ``linked`` alive
    mentions_of = _MentionsOf(
        linked["mention_id"].to_numpy(copy=True), linked["person_key"].to_numpy(copy=True)
    )
    del linked, linked_ids
    best = pd.DataFrame(columns=list(SCORE_COLUMNS))
    scores = pd.DataFrame(columns=list(SCORE_COLUMNS))
    remaining = mentions.loc[mentions["mention_id"].isin(remaining_ids)].reset_index(drop=True)
    if scorer is not None and not remaining.empty and not persons.empty:
        scores = scorer(remaining, persons)
        missing = set(SCORE_COLUMNS) - set(scores.columns)
        if missing:
            raise ValueError(f"score_candidates returned no {sorted(missing)} column")
        scores = scores.loc[:, list(SCORE_COLUMNS)]
        best = best_candidates(scores)
        plan.scored = len(remaining)
    person_rows = FrameRows(persons, "person_key")
    evidence_of: dict[str, str] = {}

    def settle_followers(mid: str) -> None:
        for cert, cert_probability, reason in followers.get(mid, ()):
            attach(
                cert,
                links[mid].person_key,
                "probabilistic",
                cert_probability,
                reason,
                {"rule": reason, "record": mid},
            )

    # 3a. the best candidate at or above the link threshold
    undecided: list[str] = []
    for mid in remaining_ids:
        candidate: Any = best.loc[mid] if mid in best.index else None
        probability = float(candidate["match_probability"]) if candidate is not None else 0.0
        if candidate is None or probability < thresholds.link:
            undecided.append(mid)
            continue
        evidence_of[mid] = str(candidate["evidence"])
        attach(
            mid,
            int(candidate["person_key"]),
            "probabilistic",
            probability,
            "probabilistic",
            {"rule": "probabilistic", "match_probability": probability, "levels": str(candidate["evidence"])},
        )
        settle_followers(mid)

    # 3b. a review-band candidate corroborated by a relative named in the same record
    by_mention: dict[str, list[tuple[int, float, str]]] = defaultdict(list)
    band = scores.loc[scores["match_probability"] >= thresholds.review]
    for mid, key, probability, evidence in zip(
        band["mention_id"], band["person_key"], band["match_probability"], band["evidence"], strict=True
    ):
        by_mention[str(mid)].append((int(key), float(probability), str(evidence)))
    for _ in range(RELATION_PASSES):
        if not by_mention or not undecided:
            break
        asked = {mid: rows[mid] for mid in undecided}
        # the persons a link of this pass may merge: candidates and the prior keys of what it links
        linking = [*undecided, *(cert for mid in undecided for cert, *_ in followers.get(mid, ()))]
        graph = RelationGraph.build(
            mentions,
            links,
            registry,
            thresholds.link,
            records={record_of(row) for row in asked.values()},
            keys=[
                *(key for mid in undecided for key, *_ in by_mention.get(mid, ())),
                *(prior[m].person_key for m in linking if m in prior),
            ],
        )
        still: list[str] = []
        for mid in undecided:
            found = corroborated_candidate(
                asked[mid], by_mention.get(mid, ()), graph, thresholds.relation_bayes_factor
            )
            if found is None or found.probability < thresholds.link:
                still.append(mid)
                continue
            evidence_of[mid] = found.evidence
            attach(
                mid,
                found.person_key,
                "probabilistic",
                found.probability,
                "probabilistic_relation",
                {
                    "rule": "probabilistic_relation",
                    "match_probability": found.probability,
                    "model_probability": found.model_probability,
                    "levels": found.evidence,
                    "relation": list(found.relations),
                },
            )
            settle_followers(mid)
        if len(still) == len(undecided):
            break
        undecided = still

    # 3c. the rest: previous key or a new person; a review-band candidate goes to clerical review
    for mid in undecided:
        before = prior.get(mid)
        candidate = best.loc[mid] if mid in best.index else None
        probability = float(candidate["match_probability"]) if candidate is not None else 0.0
        if before is not None:
            method: Method = "new" if before.method == "id_exact" else before.method
            keep = None if before.method == "id_exact" else before.match_probability
            links[mid] = Link(mid, before.person_key, method, keep)
        else:
            links[mid] = Link(mid, registry.mint("new"), "new", None)
        if candidate is not None and probability >= thresholds.review:
            target = registry.find(int(candidate["person_key"]))
            if target != registry.find(links[mid].person_key):
                agree, disagree = compare_attributes(
                    rows[mid], person_rows.get(int(candidate["person_key"]), {})
                )
                plan.reviews.append(
                    Review(
                        mid,
                        links[mid].person_key,
                        target,
                        mentions_of.first(target, 10),
                        probability,
                        str(candidate["evidence"]),
                        agree,
                        disagree,
                    )
                )
        settle_followers(mid)

    # 4. identity numbers to correct: invalid numbers linked with high probability to a valid holder
    for mid, link in sorted((m, k) for m, k in links.items() if k.method == "probabilistic"):
        row = rows[mid]
        if row["id_valid"] or row["id_no"] is None:
            continue
        holder = registry.ids_of(link.person_key)
        if holder and (link.match_probability or 0.0) >= thresholds.link:
            evidence = evidence_of.get(mid, "birth record of the same child")
            if mid not in evidence_of and mid in best.index:
                evidence = str(best.loc[mid]["evidence"])
            plan.corrections.append(
                Correction(
                    mid,
                    str(row["id_no"]),
                    closest_id(str(row["id_no"]), holder),
                    evidence,
                    float(link.match_probability or 0.0),
                    link.person_key,
                )
            )
    return plan
