"""Mentions: one row per (feed, source key, role) of the current version of every record.

:func:`extract_mentions` reads the current view ``core.<feed>`` of each feed with persons,
one SQL statement per feed (a ``UNION ALL`` of its roles) built from the validated feed config:
identifiers are quoted names from config, values are bound parameters. The frame has exactly
:data:`MENTION_COLUMNS` (the interface the probabilistic model codes against):

- ``mention_id`` (``feed|source_key|role``), ``feed``, ``source_key``, ``role``;
- ``id_no``: the identity number as stored (normalised when valid; as sent when invalid), or None;
- ``id_valid``: True only for a present, valid number;
- ``name`` (Simplified), ``sex`` (``'1'``/``'2'``; ``'0'``/``'9'`` become None),
  ``birth_date`` (datetime64[ns], NaT when unknown), ``region_code``, ``household_no``;
- ``mother_id``: for a child, the mother's identity number when it is valid, else None;
- ``extract_date`` (datetime64[ns]) of the file the current version came from.

A subject or child is always a mention; a mother, father, wife or husband only when the record
gives an identity number or a name for them (a blank father is no person).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from popdata.config.feeds import Feed, PersonRole
from popdata.linkage.roles import (
    PRINCIPAL_ROLES,
    identifying_columns,
    person_feeds,
    quote_ident,
    source_key_sql,
)

if TYPE_CHECKING:
    import pandas as pd

MENTION_COLUMNS = (
    "mention_id",
    "feed",
    "source_key",
    "role",
    "id_no",
    "id_valid",
    "name",
    "sex",
    "birth_date",
    "region_code",
    "household_no",
    "mother_id",
    "extract_date",
)
#: Rows fetched and made into a frame at a time by :func:`extract_mentions`.
FETCH_ROWS = 100_000
#: Text columns whose values repeat across mentions (:func:`share_equal_values`).
_SHARED_COLUMNS = ("feed", "role", "sex", "region_code", "name", "household_no", "id_no", "mother_id")
_TEXT_COLUMNS = (
    "mention_id",
    "feed",
    "source_key",
    "role",
    "id_no",
    "name",
    "sex",
    "region_code",
    "household_no",
    "mother_id",
)


def _col(name: str | None, cast: str = "text") -> str:
    return f"r.{quote_ident(name)}" if name is not None else f"CAST(NULL AS {cast})"


def _role_select(feed: Feed, person: PersonRole, index: int) -> tuple[str, dict[str, Any]]:
    """The SELECT of one role and its bound parameters."""
    params: dict[str, Any] = {f"role_{index}": person.role}
    key = source_key_sql(feed, "r")
    if person.id is not None:
        id_no = _col(person.id)
        id_valid = f"(r.{quote_ident(person.id)} IS NOT NULL AND coalesce(r.{quote_ident(person.id + '_valid')}, false))"
    else:
        id_no, id_valid = "CAST(NULL AS text)", "false"
    if person.sex_literal is not None:
        params[f"sex_{index}"] = person.sex_literal
        sex = f"CAST(:sex_{index} AS text)"
    elif person.sex_column is not None:
        column = _col(person.sex_column)
        sex = f"CASE WHEN {column} IN ('1', '2') THEN {column} END"
    else:
        sex = "CAST(NULL AS text)"
    if person.mother_id is not None:
        mother = quote_ident(person.mother_id)
        mother_id = (
            f"CASE WHEN coalesce(r.{quote_ident(person.mother_id + '_valid')}, false) THEN r.{mother} END"
        )
    else:
        mother_id = "CAST(NULL AS text)"
    household = f"CAST({_col(person.household_no)} AS text)"
    select = (
        f"SELECT CAST(:feed AS text) || '|' || {key} || '|' || CAST(:role_{index} AS text) AS mention_id,"
        f" CAST(:feed AS text) AS feed, {key} AS source_key, CAST(:role_{index} AS text) AS role,"
        f" {id_no} AS id_no, {id_valid} AS id_valid, {_col(person.name)} AS name, {sex} AS sex,"
        f" {_col(person.birth_date, 'date')} AS birth_date, {_col(person.region)} AS region_code,"
        f" {household} AS household_no, {mother_id} AS mother_id, r.extract_date AS extract_date"
        f" FROM core.{quote_ident(feed.feed)} r"
    )
    conditions: list[str] = []
    if person.role not in PRINCIPAL_ROLES:
        present = identifying_columns(person)
        conditions.append(" OR ".join(f"r.{quote_ident(c)} IS NOT NULL" for c in present))
    if person.when is not None:
        # a feed whose rows are of several kinds (village reports): this role only on its kinds
        ((column, values),) = person.when.items()
        names = [f"when_{index}_{n}" for n in range(len(values))]
        params.update(zip(names, values, strict=True))
        conditions.append(f"r.{quote_ident(column)} IN (" + ", ".join(f":{n}" for n in names) + ")")
    if len(conditions) == 1:
        select += " WHERE " + conditions[0]
    elif conditions:
        select += " WHERE " + " AND ".join(f"({c})" for c in conditions)
    return select, params


def mentions_sql(feed: Feed) -> tuple[sa.TextClause, dict[str, Any]]:
    """The one statement (and its parameters) that reads every mention of ``feed``."""
    if not feed.persons:
        raise ValueError(f"{feed.feed_id} describes no persons")
    selects: list[str] = []
    params: dict[str, Any] = {"feed": feed.feed}
    for index, person in enumerate(feed.persons):
        select, role_params = _role_select(feed, person, index)
        selects.append(select)
        params.update(role_params)
    return sa.text("\nUNION ALL\n".join(selects)), params


def empty_mentions() -> pd.DataFrame:
    """A mention frame with no rows and the right columns and dtypes."""
    import pandas as pd

    return coerce_mentions(pd.DataFrame({c: [] for c in MENTION_COLUMNS}))


def coerce_mentions(frame: pd.DataFrame) -> pd.DataFrame:
    """Give a mention frame its interface dtypes: text as object with None, dates as datetime64[ns]."""
    import pandas as pd

    out = frame.loc[:, list(MENTION_COLUMNS)].copy()
    for column in _TEXT_COLUMNS:
        values = out[column].astype(object)
        out[column] = values.where(values.notna(), None)
    out["id_valid"] = out["id_valid"].fillna(False).astype(bool)
    for column in ("birth_date", "extract_date"):
        out[column] = pd.to_datetime(out[column], errors="coerce").astype("datetime64[ns]")
    out.loc[~out["sex"].isin(["1", "2"]), "sex"] = None
    return out.reset_index(drop=True)


def share_equal_values(values: pd.Series) -> pd.Series:
    """The same values (and dtype, object) with one object per distinct value, None kept.

    The driver makes a new string for every field it reads: a column naming ten feeds held
    1.4 million copies of them. Equal values are equal either way; only the memory changes.
    """
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    shared = np.full(len(codes), None, dtype=object)
    present = codes >= 0
    shared[present] = np.asarray(uniques, dtype=object)[codes[present]]
    return pd.Series(shared, index=values.index, name=values.name, dtype=object)


def extract_mentions(conn: sa.Connection, feeds: Iterable[Feed]) -> pd.DataFrame:
    """Every mention of the current version of every record of ``feeds``, sorted by ``mention_id``."""
    import pandas as pd

    frames: list[pd.DataFrame] = []
    for feed in person_feeds(feeds):
        statement, params = mentions_sql(feed)
        result = conn.execute(statement, params)
        columns = list(result.keys())
        # a frame per batch of rows: the fetched rows of a feed are never all held as Python tuples
        while batch := result.fetchmany(FETCH_ROWS):
            frames.append(coerce_mentions(pd.DataFrame(batch, columns=columns, dtype=object)))
            del batch
    if not frames:
        return empty_mentions()
    mentions = pd.concat(frames, ignore_index=True)
    del frames
    for column in _SHARED_COLUMNS:
        mentions[column] = share_equal_values(mentions[column])
    mentions = mentions.sort_values(["mention_id", "extract_date"], ascending=[True, False], kind="stable")
    # a snapshot may repeat a key (the same id twice in one file): one mention per id, the first kept
    return mentions.drop_duplicates("mention_id").reset_index(drop=True)
