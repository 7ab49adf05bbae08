"""What each linkage run read: the ledger ``audit.link_runs`` (关联运行台账, migration 0013).

A linkage run reads the current records of every feed with persons, which change only when a
file of such a feed is published. :func:`published_files` fingerprints those files (how many,
and an MD5 of their ids and publish times); :func:`popdata.linkage.link.run` records the
fingerprint it read with its counts in its own transaction (:func:`record_run`), and
:func:`linked_everything` tells whether the latest run read everything published so far:

- the linkage DAG skips an asset-triggered run when it did (the asset events of several
  publishes queue while a linkage runs; a second run on the same data would change nothing);
- :func:`popdata.chain.chain_state` asks it to know that the linkage has caught up with a drop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from popdata.config.feeds import Feed

if TYPE_CHECKING:
    from popdata.linkage.link import LinkRunResult


@dataclass(frozen=True, slots=True)
class PublishedFiles:
    """The published files of the feeds with persons: their count and fingerprint."""

    files: int
    digest: str


_PUBLISHED = sa.text(
    "SELECT count(*), md5(coalesce(string_agg(file_id::text || '@' || published_at::text, ','"
    " ORDER BY file_id), ''))"
    " FROM audit.file_ledger WHERE published_at IS NOT NULL AND feed = ANY(:feeds)"
)


def published_files(conn: sa.Connection, feeds: Iterable[Feed]) -> PublishedFiles:
    """The fingerprint of every published file of ``feeds`` that describe persons."""
    names = sorted(feed.feed for feed in feeds if feed.persons)
    count, digest = conn.execute(_PUBLISHED, {"feeds": names}).one()
    return PublishedFiles(int(count), str(digest))


def last_run(conn: sa.Connection) -> PublishedFiles | None:
    """What the latest recorded linkage run read, or None before the first."""
    row = conn.execute(
        sa.text(
            "SELECT published_files, published_digest FROM audit.link_runs ORDER BY link_run_id DESC LIMIT 1"
        )
    ).one_or_none()
    return None if row is None else PublishedFiles(int(row[0]), str(row[1]))


def linked_everything(conn: sa.Connection, feeds: Iterable[Feed]) -> bool:
    """True when the latest linkage run read every file published so far (nothing new to link)."""
    return last_run(conn) == published_files(conn, feeds)


def record_run(conn: sa.Connection, read: PublishedFiles, result: LinkRunResult) -> None:
    """Record a linkage run (in its transaction): what it read and what it did."""
    conn.execute(
        sa.text(
            "INSERT INTO audit.link_runs (published_files, published_digest, mentions, id_exact,"
            " probabilistic, new, new_persons, merges, reviews, corrections)"
            " VALUES (:files, :digest, :mentions, :id_exact, :probabilistic, :new, :new_persons,"
            " :merges, :reviews, :corrections)"
        ),
        {
            "files": read.files,
            "digest": read.digest,
            "mentions": result.mentions,
            "id_exact": result.id_exact,
            "probabilistic": result.probabilistic,
            "new": result.new,
            "new_persons": result.new_persons,
            "merges": result.merges,
            "reviews": result.reviews,
            "corrections": result.corrections,
        },
    )
