"""Feed contracts as data: one YAML per feed, loaded into frozen, validated models.

Each file ``include/popdata/contracts/feeds/<agency>__<feed>.yaml`` describes one
agency extract of ``AGENCY_EXTRACTS.md`` section 3: its headers and their
synonyms, which columns are required (a file without them is quarantined), the
value type of each column, the source key and how the feed is published. Code
reads these models; names, headers and rules live only in the YAML.

A broken YAML fails at load time with a message naming the file and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

FEEDS_DIR = Path(__file__).resolve().parent.parent / "contracts" / "feeds"

AGENCIES = ("health", "police", "fp", "stats")

ColumnType = Literal[
    "id_number",  # 公民身份号码, GB 11643: normalised, check character verified, marked invalid (never fixed)
    "name",  # a person's name: Simplified canonical form, original kept in <col>_sent
    "text",  # free text (addresses, facility names): Simplified canonical form
    "code",  # a short code or label from a vocabulary (kept as sent, cleaned)
    "sex",  # GB/T 2261.1 code '1','2','0','9'
    "date",
    "datetime",  # a date that may carry a time (birth certificates)
    "region",  # 统计用区划代码, or a name resolved against stats/regions
    "int",
    "birth_order",  # 胎次: 1, 2, 第二胎, 二孩 …
    "money",  # yuan
]

_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,40}$")

PersonRoleName = Literal["subject", "child", "mother", "father", "wife", "husband"]
_SEX_LITERAL = re.compile(r"^'([12])'$")


class Column(BaseModel):
    """One logical column of a feed and the headers agencies use for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="snake_case name in the warehouse")
    headers: tuple[str, ...] = Field(min_length=1, description="Chinese headers and synonyms")
    type: ColumnType
    required: bool = False
    required_when: dict[str, tuple[str, ...]] | None = Field(
        default=None,
        description=(
            "required only on rows whose column (a required code column) holds one of the values:"
            " {report_type: [出生]}; the column may be absent from a file, a row that needs it and"
            " has it blank is rejected"
        ),
    )
    comment: str = Field(default="", description="Chinese and English description for COMMENT ON COLUMN")

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        if not _IDENT.match(value):
            raise ValueError(f"column name {value!r} must be snake_case ([a-z][a-z0-9_]*)")
        return value


class PersonRole(BaseModel):
    """One person a record describes (its subject, or the child, mother, father, wife, husband).

    Each attribute names the column of the feed that describes this person; ``sex`` may
    instead be a quoted literal (``"'2'"`` for a mother or a wife) when the role implies it.
    ``mother_id`` is, for a child, the column holding the mother's identity number.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: PersonRoleName
    id: str | None = Field(default=None, description="identity number column (type id_number)")
    name: str | None = Field(default=None, description="name column (type name)")
    sex: str | None = Field(default=None, description="sex column (type sex), or a literal '1' / '2'")
    birth_date: str | None = Field(default=None, description="birth date column (date or datetime)")
    region: str | None = Field(default=None, description="region column (type region)")
    household_no: str | None = Field(default=None, description="household number column")
    mother_id: str | None = Field(default=None, description="for a child: the mother's id_number column")
    when: dict[str, tuple[str, ...]] | None = Field(
        default=None,
        description=(
            "only records whose column (a required code column) holds one of the values describe"
            " this person: {report_type: [出生]} (a feed whose rows are of several kinds)"
        ),
    )

    @property
    def sex_literal(self) -> str | None:
        """The constant sex code when ``sex`` is a literal (``'2'``), else None."""
        found = _SEX_LITERAL.match(self.sex or "")
        return found.group(1) if found else None

    @property
    def sex_column(self) -> str | None:
        """The column holding the sex code, when ``sex`` names a column."""
        return None if self.sex is None or self.sex_literal is not None else self.sex

    def column_refs(self) -> dict[str, str]:
        """Attribute → column name of every attribute that names a column."""
        refs = {
            "id": self.id,
            "name": self.name,
            "sex": self.sex_column,
            "birth_date": self.birth_date,
            "region": self.region,
            "household_no": self.household_no,
            "mother_id": self.mother_id,
        }
        return {attr: col for attr, col in refs.items() if col is not None}


# the column types each person attribute may point at
_ROLE_TYPES: dict[str, tuple[str, ...]] = {
    "id": ("id_number",),
    "name": ("name",),
    "sex": ("sex",),
    "birth_date": ("date", "datetime"),
    "region": ("region",),
    "household_no": ("code", "text"),
    "mother_id": ("id_number",),
}


class Feed(BaseModel):
    """One agency feed: the contract of its files, in data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agency: Literal["health", "police", "fp", "stats"]
    feed: str
    title_zh: str
    kind: Literal["snapshot", "incremental", "reference"] = Field(
        description="snapshot: each file is the whole population; incremental: new and corrected records"
    )
    key: tuple[str, ...] = Field(min_length=1, description="source key columns")
    cadence: Literal["daily", "weekly", "monthly", "quarterly", "yearly", "irregular"] = Field(
        default="monthly",
        description="how often the agency is expected to send a file (lateness is judged by it)",
    )
    grace_days: int = Field(
        default=7,
        ge=0,
        le=366,
        description="days after the due date before a missing file makes the feed overdue (and alerts)",
    )
    formats: tuple[Literal["csv", "xlsx"], ...] = ("csv",)
    encodings: tuple[str, ...] = Field(default=("utf-8",), description="expected encodings, a hint only")
    schedule: str | None = Field(
        default="*/2 * * * *", description="cron of the drop-zone scan (docs/arrival.md)"
    )
    suite: str | None = Field(default=None, description="file name of the GX suite in expectations/")
    publishes: tuple[str, ...] = Field(
        default=(),
        description="tables refreshed in the publish transaction, by warehouse/sql/<schema>_<table>.sql",
    )
    columns: tuple[Column, ...] = Field(min_length=1)
    persons: tuple[PersonRole, ...] = Field(
        default=(), description="the persons each record describes, by role (docs/linkage.md)"
    )

    @property
    def resolves_regions(self) -> bool:
        """True for a feed with region-code columns, resolved against the region reference
        (a ``reference`` feed): its files load after a pending reference (docs/arrival.md)."""
        return self.kind != "reference" and any(c.type == "region" for c in self.columns)

    @property
    def whole_file(self) -> bool:
        """True when every file is a complete set (a snapshot or a reference), never a delta.

        Such a feed's ``core.<feed>_rows`` is partitioned by ``file_id``: a file publishes by
        attaching its staging table as one partition (docs/warehouse.md).
        """
        return self.kind in ("snapshot", "reference")

    @field_validator("feed")
    @classmethod
    def _feed_is_identifier(cls, value: str) -> str:
        if not _IDENT.match(value):
            raise ValueError(f"feed name {value!r} must be snake_case")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Feed:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate column names: {duplicates}")
        missing = [k for k in self.key if k not in names]
        if missing:
            raise ValueError(f"key columns {missing} are not among the columns")
        seen: dict[str, str] = {}
        for column in self.columns:
            for header in column.headers:
                normal = normalise_header(header)
                if normal in seen:
                    raise ValueError(f"header {header!r} is used by both {seen[normal]} and {column.name}")
                seen[normal] = column.name
        self._check_conditions()
        self._check_persons()
        return self

    def _check_conditions(self) -> None:
        """``required_when`` and ``persons.when`` name one required code column of the feed, with values."""
        by_name = {c.name: c for c in self.columns}
        conditions = [(f"columns.{c.name}.required_when", c.required_when) for c in self.columns]
        conditions += [(f"persons.{p.role}.when", p.when) for p in self.persons]
        for where, condition in conditions:
            if condition is None:
                continue
            if len(condition) != 1:
                raise ValueError(f"{where}: name exactly one column, got {sorted(condition)}")
            ((name, values),) = condition.items()
            target = by_name.get(name)
            if target is None or not target.required or target.type != "code":
                raise ValueError(f"{where}: {name!r} must be a required column of type code")
            if not values:
                raise ValueError(f"{where}: list at least one value of {name!r}")
        for column in self.columns:
            if column.required and column.required_when is not None:
                raise ValueError(f"columns.{column.name}: required and required_when exclude each other")

    def _check_persons(self) -> None:
        """Roles are unique; each attribute names an existing column of a fitting type."""
        roles = [p.role for p in self.persons]
        repeated = sorted({r for r in roles if roles.count(r) > 1})
        if repeated:
            raise ValueError(f"persons: roles listed more than once: {repeated}")
        types = {c.name: c.type for c in self.columns}
        for person in self.persons:
            if person.sex is not None and person.sex.startswith("'") and person.sex_literal is None:
                raise ValueError(f"persons.{person.role}.sex: literal {person.sex!r} must be '1' or '2'")
            for attr, col in person.column_refs().items():
                if col not in types:
                    raise ValueError(f"persons.{person.role}.{attr}: no column {col!r} in the feed")
                if types[col] not in _ROLE_TYPES[attr]:
                    raise ValueError(
                        f"persons.{person.role}.{attr}: column {col!r} has type {types[col]},"
                        f" expected {' or '.join(_ROLE_TYPES[attr])}"
                    )
            if person.mother_id is not None and person.role != "child":
                raise ValueError(f"persons.{person.role}.mother_id: only a child has a mother_id")
            if person.id is None and person.name is None and person.birth_date is None:
                raise ValueError(f"persons.{person.role}: needs at least an id, a name or a birth_date")

    def person(self, role: str) -> PersonRole:
        """The person role called ``role``."""
        for person in self.persons:
            if person.role == role:
                return person
        raise KeyError(role)

    @property
    def feed_id(self) -> str:
        """``<agency>__<feed>``: the DAG id suffix and the config file stem."""
        return f"{self.agency}__{self.feed}"

    @property
    def dag_id(self) -> str:
        """Id of this feed's ingest DAG."""
        return f"ingest__{self.feed_id}"

    @property
    def asset_uri(self) -> str:
        """URI of the Airflow asset this feed's ingest DAG updates when it loads a file (its core tables)."""
        return f"x-popdata://core/{self.feed}"

    @property
    def required_columns(self) -> tuple[Column, ...]:
        """Columns whose absence quarantines a file."""
        return tuple(c for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def header_map(self) -> dict[str, str]:
        """Normalised header → column name, for every synonym."""
        return {normalise_header(h): c.name for c in self.columns for h in c.headers}


def normalise_header(header: str) -> str:
    """Header comparison form: NFKC, no spaces, ASCII parentheses (``出生体重（克）`` = ``出生体重(克)``)."""
    import unicodedata

    text = unicodedata.normalize("NFKC", header).replace("\ufeff", "")
    return "".join(text.split()).lower()


class FeedConfigError(ValueError):
    """A feed YAML is missing, unreadable or invalid."""


def load_feed_file(path: Path) -> Feed:
    """Load and validate one feed YAML; the error names the file and the bad field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FeedConfigError(f"{path}: cannot read feed config: {exc}") from exc
    if not isinstance(data, dict):
        raise FeedConfigError(f"{path}: a feed config must be a mapping, got {type(data).__name__}")
    try:
        feed = Feed.model_validate(data)
    except ValidationError as exc:
        raise FeedConfigError(f"{path}: invalid feed config:\n{exc}") from exc
    if path.stem != feed.feed_id:
        raise FeedConfigError(f"{path}: file must be named {feed.feed_id}.yaml")
    return feed


def load_feeds(directory: Path = FEEDS_DIR) -> tuple[Feed, ...]:
    """All feed configs in ``directory``, sorted by feed id."""
    return tuple(load_feed_file(p) for p in sorted(directory.glob("*.yaml")))


@lru_cache(maxsize=1)
def default_feeds() -> tuple[Feed, ...]:
    """The feeds shipped with the package (cached)."""
    return load_feeds(FEEDS_DIR)


def feed_by_id(feed_id: str, feeds: Iterable[Feed] | None = None) -> Feed:
    """Look a feed up by ``<agency>__<feed>``."""
    for feed in feeds if feeds is not None else default_feeds():
        if feed.feed_id == feed_id:
            return feed
    raise KeyError(f"no feed config {feed_id!r}")
