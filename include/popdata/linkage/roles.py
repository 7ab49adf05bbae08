"""Person roles of the feeds (from the ``persons:`` section of each feed YAML) and source keys.

A *source key* identifies a record of a feed across versions: the values of the feed's key
columns as normalised at load, as text, joined by ``|`` (a missing value is empty). For
``assistance_rolls`` it is ``id_no|program|year`` (WAREHOUSE.md). A *mention* is one person
role of one record, identified by ``feed|source_key|role``.
"""

from __future__ import annotations

from collections.abc import Iterable

from popdata.config.feeds import Feed, PersonRole

ROLES = ("subject", "child", "mother", "father", "wife", "husband")
#: Roles whose person is what the record is about: always a mention, even with no id and no name.
PRINCIPAL_ROLES = ("subject", "child")
SEPARATOR = "|"


def person_feeds(feeds: Iterable[Feed]) -> tuple[Feed, ...]:
    """The feeds whose records describe persons (annual targets and regions have none)."""
    return tuple(f for f in feeds if f.persons)


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier; only for names from validated config (snake_case)."""
    if '"' in name:
        raise ValueError(f"not a config identifier: {name!r}")
    return f'"{name}"'


def source_key_sql(feed: Feed, alias: str = "r") -> str:
    """SQL text of a feed's source key over rows aliased ``alias`` (identifiers from config only)."""
    parts = [f"coalesce(CAST({alias}.{quote_ident(k)} AS text), '')" for k in feed.key]
    if len(parts) == 1:
        return parts[0]
    return f"concat_ws('{SEPARATOR}', " + ", ".join(parts) + ")"


def source_key(values: Iterable[object]) -> str:
    """The source key of a record from its key values in order (None → empty), as the SQL computes it."""
    return SEPARATOR.join("" if v is None else str(v) for v in values)


def mention_id(feed: str, key: str, role: str) -> str:
    """``feed|source_key|role``: the id of one person role of one record."""
    return f"{feed}{SEPARATOR}{key}{SEPARATOR}{role}"


def split_mention_id(value: str) -> tuple[str, str, str]:
    """(feed, source_key, role) of a mention id (a source key may itself contain ``|``)."""
    feed, rest = value.split(SEPARATOR, 1)
    key, role = rest.rsplit(SEPARATOR, 1)
    return feed, key, role


def identifying_columns(person: PersonRole) -> tuple[str, ...]:
    """Columns whose presence makes a non-principal role a person in the record (id or name)."""
    return tuple(c for c in (person.id, person.name) if c is not None)
