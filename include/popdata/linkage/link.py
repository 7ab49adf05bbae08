"""One linkage run against the warehouse: mentions → keys → ``core.record_link``, in one transaction.

:func:`run` reads the current mentions of every feed with persons, the index's state
(``core.person_id_numbers``, ``core.record_link``) and the certificate numbers shared by birth
certificates and birth registrations, plans the links with :func:`popdata.linkage.keys.plan_links`
and writes: new persons, recorded merges (every table that holds a merged-away key is repointed),
new identity numbers, the links, and the two work lists ``ops.clerical_review`` and
``ops.id_corrections`` (recomputed by every run), and records what it read in ``audit.link_runs``
(:mod:`popdata.linkage.runs`). Runs are serialised by an advisory lock; a re-run on the same
data changes no link.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from popdata.config.feeds import Feed, default_feeds
from popdata.linkage import runs
from popdata.linkage.keys import (
    BIRTH_CERT_FEED,
    BIRTH_REG_FEED,
    CHILD,
    Plan,
    PriorLink,
    Scorer,
    is_placeholder,
    plan_links,
)
from popdata.linkage.roles import quote_ident, source_key_sql, split_mention_id
from popdata.linkage.thresholds import LinkThresholds, load_thresholds

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

LOCK_ID = 715005
#: (feed, column) of the certificate number on both sides of the birth rule.
CERT_COLUMNS = ((BIRTH_CERT_FEED, "cert_no"), (BIRTH_REG_FEED, "birth_cert_no"))
_AUTO = "auto"


@dataclass(frozen=True, slots=True)
class LinkRunResult:
    """What a run did: counts by outcome."""

    mentions: int
    id_exact: int
    probabilistic: int
    new: int
    new_persons: int
    merges: int
    reviews: int
    corrections: int
    scored: int
    scorer_available: bool

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"{self.mentions} mentions: {self.id_exact} by id, {self.probabilistic} probabilistic,"
            f" {self.new} new; {self.new_persons} new persons, {self.merges} merges,"
            f" {self.reviews} for clerical review, {self.corrections} id corrections"
            + ("" if self.scorer_available else " (probabilistic model not available: step skipped)")
        )


def load_scorer() -> Scorer | None:
    """``popdata.linkage.probabilistic.score_candidates``, or None (with a warning) when it cannot load.

    None also when the module names a default model file that does not exist yet.
    """
    try:
        from popdata.linkage import probabilistic
    except ImportError as exc:
        log.warning("probabilistic linkage unavailable, only exact and birth links are made: %s", exc)
        return None
    model = getattr(probabilistic, "DEFAULT_MODEL_PATH", None)
    if model is not None and not model.exists():
        log.warning("no trained linkage model at %s (popdata link train): probabilistic step skipped", model)
        return None
    scorer: Scorer = probabilistic.score_candidates
    return scorer


def _feed_named(feeds: Iterable[Feed], name: str) -> Feed | None:
    return next((f for f in feeds if f.feed == name and f.persons), None)


def certificate_pairs(conn: sa.Connection, feeds: Sequence[Feed]) -> list[tuple[str, str]]:
    """(certificate child, registration child) mention ids of births sharing a certificate number."""
    (cert_name, cert_col), (reg_name, reg_col) = CERT_COLUMNS
    cert, reg = _feed_named(feeds, cert_name), _feed_named(feeds, reg_name)
    if cert is None or reg is None:
        return []
    for feed, column in ((cert, cert_col), (reg, reg_col)):
        feed.column(column)  # KeyError when the config lost the column
        feed.person(CHILD)
    statement = sa.text(
        f"SELECT CAST(:cf AS text) || '|' || {source_key_sql(cert, 'c')} || '|' || CAST(:child AS text),"
        f" CAST(:rf AS text) || '|' || {source_key_sql(reg, 'r')} || '|' || CAST(:child AS text)"
        f" FROM core.{quote_ident(cert.feed)} c JOIN core.{quote_ident(reg.feed)} r"
        f" ON r.{quote_ident(reg_col)} = c.{quote_ident(cert_col)}"
        f" WHERE c.{quote_ident(cert_col)} IS NOT NULL AND c.{quote_ident(cert_col)} <> ''"
    )
    rows = conn.execute(statement, {"cf": cert.feed, "rf": reg.feed, "child": CHILD}).all()
    return sorted((str(a), str(b)) for a, b in rows)


def load_state(conn: sa.Connection) -> tuple[dict[str, int], dict[str, PriorLink]]:
    """The index as the previous run left it: (id_no → person_key, mention id → prior link)."""
    id_keys = {
        str(i): int(k)
        for i, k in conn.execute(sa.text("SELECT id_no, person_key FROM core.person_id_numbers"))
    }
    prior = {
        str(m): PriorLink(int(k), method, None if p is None else float(p))
        for m, k, method, p in conn.execute(
            sa.text(
                "SELECT feed || '|' || source_key || '|' || role, person_key, method, match_probability"
                " FROM core.record_link"
            )
        )
    }
    return id_keys, prior


def run(
    engine: sa.Engine,
    feeds: Sequence[Feed] | None = None,
    *,
    thresholds: LinkThresholds | None = None,
    scorer: Scorer | str | None = _AUTO,
) -> LinkRunResult:
    """Link every current mention to a person, in one transaction; returns the counts.

    ``scorer``: the probabilistic scorer (default: ``popdata.linkage.probabilistic.score_candidates``
    when it imports; None skips the probabilistic step).
    """
    from popdata.linkage.mentions import extract_mentions

    feeds = tuple(feeds) if feeds is not None else default_feeds()
    thresholds = thresholds or load_thresholds()
    active: Scorer | None = load_scorer() if isinstance(scorer, str) else scorer
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_ID})
        read = runs.published_files(conn, feeds)  # before the mentions: never newer than what is read
        mentions = extract_mentions(conn, feeds)
        id_keys, prior = load_state(conn)
        pairs = certificate_pairs(conn, feeds)
        plan = plan_links(
            mentions,
            id_keys=id_keys,
            prior=prior,
            certificate_pairs=pairs,
            scorer=active,
            thresholds=thresholds,
        )
        new_persons = write_plan(conn, plan, mentions, feeds)
        methods = Counter(link.method for link in plan.links.values())  # counts need no resolved keys
        result = LinkRunResult(
            mentions=len(plan.links),
            id_exact=methods["id_exact"],
            probabilistic=methods["probabilistic"],
            new=methods["new"],
            new_persons=new_persons,
            merges=len(plan.registry.merges),
            reviews=len(plan.reviews),
            corrections=len(plan.corrections),
            scored=plan.scored,
            scorer_available=active is not None,
        )
        runs.record_run(conn, read, result)
    log.info("linkage: %s", result.summary())
    return result


def training_frames(
    engine: sa.Engine, feeds: Sequence[Feed] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every current mention, the id-linked persons) as the probabilistic model trains on them.

    Read-only: the persons come from planning the exact and birth steps without writing
    (keys of persons not yet in the index are negative placeholders).
    """
    from popdata.linkage.mentions import extract_mentions

    feeds = tuple(feeds) if feeds is not None else default_feeds()
    with engine.connect() as conn:
        mentions = extract_mentions(conn, feeds)
        id_keys, prior = load_state(conn)
    plan = plan_links(mentions, id_keys=id_keys, prior=prior, scorer=None)
    if plan.persons is None:  # pragma: no cover - plan_links always sets it
        raise RuntimeError("planning produced no persons frame")
    return mentions, plan.persons


def _copy(conn: sa.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """COPY rows into a (temporary) table on the transaction's own connection."""
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def write_plan(conn: sa.Connection, plan: Plan, mentions: pd.DataFrame, feeds: Sequence[Feed]) -> int:
    """Write a plan in the caller's transaction; returns the number of persons created."""
    registry = plan.registry
    roots = sorted(
        {registry.find(k) for k in registry.minted if is_placeholder(registry.find(k))}, reverse=True
    )
    real: dict[int, int] = {}
    if roots:
        keys = sorted(
            int(k)
            for k in conn.execute(
                sa.text("SELECT nextval('core.person_key_seq') FROM generate_series(1, :n)"),
                {"n": len(roots)},
            ).scalars()
        )
        real = dict(zip(roots, keys, strict=True))
        # COPY, row by row from the plan: no parameter list of a million dicts held for executemany
        _copy(
            conn, "core.person", ("person_key", "created_by"), ((real[r], registry.minted[r]) for r in roots)
        )

    def final(key: int) -> int:
        root = registry.find(key)
        return real.get(root, root)

    for merge in registry.merges:
        new_key = final(merge.new_key)
        conn.execute(
            sa.text(
                "INSERT INTO core.person_key_merges (old_key, new_key, reason, evidence)"
                " VALUES (:old, :new, :reason, CAST(:evidence AS jsonb))"
            ),
            {
                "old": merge.old_key,
                "new": new_key,
                "reason": merge.reason,
                "evidence": json.dumps(merge.evidence),
            },
        )
        for table in ("core.record_link", "core.person_id_numbers", "core.person_key_merges"):
            column = "new_key" if table == "core.person_key_merges" else "person_key"
            conn.execute(
                sa.text(f"UPDATE {table} SET {column} = :new WHERE {column} = :old"),
                {"new": new_key, "old": merge.old_key},
            )
    if registry.new_ids:
        _copy(
            conn,
            "core.person_id_numbers",
            ("id_no", "person_key"),
            ((i, final(k)) for i, k in sorted(registry.new_ids.items())),
        )

    conn.execute(
        sa.text(
            "CREATE TEMPORARY TABLE link_batch (feed text, source_key text, role text, person_key bigint,"
            " method text, match_probability double precision) ON COMMIT DROP"
        )
    )
    columns = ("feed", "source_key", "role", "person_key", "method", "match_probability")
    _copy(
        conn,
        "link_batch",
        columns,
        (  # as plan.resolved_links() orders and resolves them, without a second Link per mention
            (*split_mention_id(mid), final(link.person_key), link.method, link.match_probability)
            for mid, link in sorted(plan.links.items())
        ),
    )
    conn.execute(
        sa.text(
            "INSERT INTO core.record_link AS l (feed, source_key, role, person_key, method, match_probability)"
            " SELECT feed, source_key, role, person_key, method, match_probability FROM link_batch"
            " ON CONFLICT (feed, source_key, role) DO UPDATE SET person_key = excluded.person_key,"
            " method = excluded.method, match_probability = excluded.match_probability, linked_at = now()"
            " WHERE (l.person_key, l.method, l.match_probability)"
            " IS DISTINCT FROM (excluded.person_key, excluded.method, excluded.match_probability)"
        )
    )

    conn.execute(sa.text("DELETE FROM ops.clerical_review"))
    if plan.reviews:
        conn.execute(
            sa.text(
                "INSERT INTO ops.clerical_review (mention_id, feed, source_key, role, person_key,"
                " candidate_person_key, candidate_mention_ids, match_probability, evidence, evidence_for,"
                " evidence_against) VALUES (:mid, :feed, :key, :role, :person, :candidate, :candidates,"
                " :p, :evidence, :for, :against) ON CONFLICT (mention_id, candidate_person_key) DO NOTHING"
            ),
            [
                dict(
                    zip(("feed", "key", "role"), split_mention_id(r.mention_id), strict=True),
                    mid=r.mention_id,
                    person=final(r.person_key),
                    candidate=final(r.candidate_person_key),
                    candidates=list(r.candidate_mention_ids),
                    p=r.match_probability,
                    evidence=r.evidence,
                    **{"for": list(r.evidence_for), "against": list(r.evidence_against)},
                )
                for r in plan.reviews
            ],
        )
    agencies = {f.feed: f.agency for f in feeds}
    conn.execute(sa.text("DELETE FROM ops.id_corrections"))
    if plan.corrections:
        conn.execute(
            sa.text(
                "INSERT INTO ops.id_corrections (feed, source_key, role, sent_id, likely_id, evidence,"
                " match_probability, person_key, agency)"
                " VALUES (:feed, :key, :role, :sent, :likely, :evidence, :p, :person, :agency)"
            ),
            [
                dict(
                    zip(("feed", "key", "role"), split_mention_id(c.mention_id), strict=True),
                    sent=c.sent_id,
                    likely=c.likely_id,
                    evidence=c.evidence,
                    p=c.match_probability,
                    person=final(c.person_key),
                    agency=agencies[split_mention_id(c.mention_id)[0]],
                )
                for c in plan.corrections
            ],
        )
    return len(roots)
