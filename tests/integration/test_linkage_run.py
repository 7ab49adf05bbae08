"""A linkage run against real PostgreSQL: exact ids, a birth by certificate, a recorded merge,
id corrections, clerical review, and re-runs that change no key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from stdnum.cn import ric

from popdata.config.feeds import default_feeds, feed_by_id
from popdata.linkage import link, runs
from popdata.linkage.thresholds import LinkThresholds
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration


def make_id(first17: str) -> str:
    return first17 + ric.calc_check_digit(first17 + "0")


MOTHER = make_id("43010219880101002")
CHILD = make_id("43010220140301001")
OTHER = make_id("43010219500202003")
TYPO = OTHER[:10] + ("9" if OTHER[10] != "9" else "8") + OTHER[11:]
REGION = "430102001001"


@pytest.fixture
def engine(databases) -> Iterator[sa.Engine]:  # type: ignore[no-untyped-def]
    eng = sa.create_engine(databases.create("popdata_test_linkage"))
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


def publish(engine: sa.Engine, feed_id: str, extract: date, rows: list[dict[str, Any]]) -> int:
    """Put rows into ``core.<feed>_rows`` as a published file would (ledger row first)."""
    feed = feed_by_id(feed_id)
    name = f"{feed.feed}_{extract:%Y%m%d}.csv"
    with engine.begin() as conn:
        file_id = int(
            conn.execute(
                sa.text(
                    "INSERT INTO audit.file_ledger (agency, feed, file_name, rel_path, sha256, size_bytes,"
                    " extract_date, stage, status, rows_read, rows_loaded, rows_rejected, published_at)"
                    " VALUES (:a, :f, :n, :n, :sha, 1, :d, 'published', 'loaded', :c, :c, 0, clock_timestamp())"
                    " RETURNING file_id"
                ),
                {
                    "a": feed.agency,
                    "f": feed.feed,
                    "n": name,
                    "sha": hashlib.sha256(name.encode()).hexdigest(),
                    "d": extract,
                    "c": len(rows),
                },
            ).scalar_one()
        )
        if feed.whole_file:
            conn.execute(
                sa.text(
                    f'CREATE TABLE core."{feed.feed}_rows_{file_id}" PARTITION OF core."{feed.feed}_rows"'
                    f" FOR VALUES IN ({file_id})"
                )
            )
        for line, row in enumerate(rows, start=2):
            columns = ["file_id", "line_no", "extract_date", *row]
            conn.execute(
                sa.text(
                    f'INSERT INTO core."{feed.feed}_rows" ({", ".join(columns)})'
                    f" VALUES ({', '.join(':' + c for c in columns)})"
                ),
                {"file_id": file_id, "line_no": line, "extract_date": extract, **row},
            )
    return file_id


def fake_scorer(mentions: pd.DataFrame, persons: pd.DataFrame) -> pd.DataFrame:
    """Same name and birth date: 0.995; same name only: 0.7 (the real model is Splink's)."""
    rows = []
    for m in mentions.to_dict("records"):
        for p in persons.to_dict("records"):
            if m["name"] is None or m["name"] != p["name"]:
                continue
            same_dob = not pd.isna(m["birth_date"]) and m["birth_date"] == p["birth_date"]
            rows.append(
                {
                    "mention_id": m["mention_id"],
                    "person_key": p["person_key"],
                    "match_probability": 0.995 if same_dob else 0.7,
                    "evidence": "name:exact,dob:" + ("exact" if same_dob else "null_or_else"),
                }
            )
    return pd.DataFrame(rows, columns=["mention_id", "person_key", "match_probability", "evidence"])


def links(engine: sa.Engine) -> dict[str, tuple[int, str, float | None]]:
    with engine.connect() as conn:
        return {
            f"{r.feed}|{r.source_key}|{r.role}": (r.person_key, r.method, r.match_probability)
            for r in conn.execute(sa.text("SELECT * FROM core.record_link"))
        }


def rows(engine: sa.Engine, query: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(query), params))


def run(engine: sa.Engine) -> link.LinkRunResult:
    return link.run(engine, scorer=fake_scorer, thresholds=LinkThresholds())


def test_linkage_end_to_end(engine: sa.Engine) -> None:
    publish(
        engine,
        "police__household_registry",
        date(2014, 5, 31),
        [
            {
                "id_no": MOTHER,
                "id_no_valid": True,
                "name": "王芳",
                "sex": "2",
                "birth_date": date(1988, 1, 1),
                "household_no": "H1",
                "region_code": REGION,
            },
            {
                "id_no": CHILD,
                "id_no_valid": True,
                "name": "张伟",
                "sex": "1",
                "birth_date": date(2014, 3, 1),
                "household_no": "H1",
                "region_code": REGION,
            },
            {
                "id_no": OTHER,
                "id_no_valid": True,
                "name": "李四",
                "sex": "1",
                "birth_date": date(1950, 2, 2),
                "household_no": "H2",
                "region_code": REGION,
            },
        ],
    )
    publish(
        engine,
        "health__birth_certificates",
        date(2014, 3, 31),
        [
            {
                "cert_no": "CERT1",
                "child_sex": "1",
                "birth_date": date(2014, 3, 1),
                "mother_name": "王芳",
                "mother_id": MOTHER,
                "mother_id_valid": True,
                "region_code": REGION,
            }
        ],
    )
    publish(
        engine,
        "health__death_records",
        date(2014, 5, 31),
        [
            {
                "death_cert_no": "D1",
                "name": "李四",
                "id_no": TYPO,
                "id_no_valid": False,
                "sex": "1",
                "birth_date": date(1950, 2, 2),
                "death_date": date(2014, 5, 1),
                "region_code": REGION,
            }
        ],
    )
    publish(
        engine,
        "health__prenatal_checks",
        date(2014, 5, 31),
        [
            {
                "check_no": "P1",
                "wife_name": "王芳",
                "wife_id": MOTHER,
                "wife_id_valid": True,
                "husband_name": "李四",
                "check_date": date(2014, 5, 2),
                "region_code": REGION,
            }
        ],
    )

    first = run(engine)
    assert first.scorer_available and first.mentions == 8
    linked = links(engine)
    assert set(linked) == {
        f"household_registry|{MOTHER}|subject",
        f"household_registry|{CHILD}|subject",
        f"household_registry|{OTHER}|subject",
        "birth_certificates|CERT1|child",
        "birth_certificates|CERT1|mother",  # no father given: no father mention
        "death_records|D1|subject",
        "prenatal_checks|P1|wife",
        "prenatal_checks|P1|husband",
    }
    mother_key = linked[f"household_registry|{MOTHER}|subject"][0]
    child_key = linked[f"household_registry|{CHILD}|subject"][0]
    other_key = linked[f"household_registry|{OTHER}|subject"][0]
    # exact: the same valid id is the same person in every feed
    assert linked["birth_certificates|CERT1|mother"] == (mother_key, "id_exact", 1.0)
    assert linked["prenatal_checks|P1|wife"] == (mother_key, "id_exact", 1.0)
    # an invalid id linked with high probability, and listed for the agency that sent it
    assert linked["death_records|D1|subject"] == (other_key, "probabilistic", pytest.approx(0.995))
    [correction] = rows(engine, "SELECT * FROM ops.id_corrections")
    assert (
        correction.feed,
        correction.source_key,
        correction.sent_id,
        correction.likely_id,
        correction.agency,
    ) == ("death_records", "D1", TYPO, OTHER, "health")
    # an uncertain pair goes to clerical review, the mention gets a key of its own
    husband_key, method, _ = linked["prenatal_checks|P1|husband"]
    assert method == "new" and husband_key != other_key
    [review] = rows(engine, "SELECT * FROM ops.clerical_review")
    assert (review.mention_id, review.candidate_person_key, review.agency) == (
        "prenatal_checks|P1|husband",
        other_key,
        "engineers",
    )
    assert review.candidate_mention_ids == [f"household_registry|{OTHER}|subject"]
    assert "name" in review.evidence_for
    # the certificate's child has no registration yet: a new person
    cert_child_key, method, _ = linked["birth_certificates|CERT1|child"]
    assert method == "new" and cert_child_key not in (child_key, mother_key)
    # keys come from the sequence, never from an id number
    assert all(key > 1_000_000 and str(key) not in (MOTHER, CHILD, OTHER) for key, *_ in linked.values())

    # a re-run changes nothing
    again = run(engine)
    assert (again.new_persons, again.merges) == (0, 0)
    assert links(engine) == linked
    assert len(rows(engine, "SELECT * FROM ops.id_corrections")) == 1

    # the police registration arrives with the certificate number: the birth links, the keys merge
    publish(
        engine,
        "police__birth_registrations",
        date(2014, 6, 30),
        [
            {
                "reg_no": "REG1",
                "child_id": CHILD,
                "child_id_valid": True,
                "child_name": "张伟",
                "sex": "1",
                "birth_date": date(2014, 3, 1),
                "birth_cert_no": "CERT1",
                "mother_id": MOTHER,
                "mother_id_valid": True,
                "household_no": "H1",
                "region_code": REGION,
                "reg_date": date(2014, 3, 20),
            }
        ],
    )
    third = run(engine)
    assert third.merges == 1
    after = links(engine)
    assert after["birth_registrations|REG1|child"] == (child_key, "id_exact", 1.0)
    assert after["birth_registrations|REG1|mother"] == (mother_key, "id_exact", 1.0)
    assert after["birth_certificates|CERT1|child"] == (child_key, "probabilistic", 1.0)
    [merge] = rows(engine, "SELECT * FROM core.person_key_merges")
    assert (merge.old_key, merge.new_key, merge.reason) == (cert_child_key, child_key, "birth_certificate")
    assert merge.evidence["mention_id"] == "birth_certificates|CERT1|child"
    # the old key still answers, through the resolver, and its person row is kept
    assert rows(engine, "SELECT core.current_person_key(:k)", k=cert_child_key)[0][0] == child_key
    assert rows(engine, "SELECT count(*) FROM core.person WHERE person_key = :k", k=cert_child_key)[0][0] == 1
    # every other key is unchanged
    assert {m: v for m, v in after.items() if m in linked and m != "birth_certificates|CERT1|child"} == {
        m: v for m, v in linked.items() if m != "birth_certificates|CERT1|child"
    }

    fourth = run(engine)
    assert (fourth.new_persons, fourth.merges) == (0, 0)
    assert links(engine) == after
    assert len(rows(engine, "SELECT * FROM core.person_key_merges")) == 1
    ids = dict(rows(engine, "SELECT id_no, person_key FROM core.person_id_numbers"))
    assert ids == {MOTHER: mother_key, CHILD: child_key, OTHER: other_key}


def test_without_a_scorer_only_exact_and_birth_links_are_made(engine: sa.Engine) -> None:
    publish(
        engine,
        "health__death_records",
        date(2014, 5, 31),
        [
            {
                "death_cert_no": "D1",
                "name": "李四",
                "id_no": OTHER,
                "id_no_valid": True,
                "death_date": date(2014, 5, 1),
            },
            {"death_cert_no": "D2", "name": "李四", "id_no": None, "death_date": date(2014, 5, 1)},
        ],
    )
    result = link.run(engine, scorer=None)
    assert not result.scorer_available and (result.id_exact, result.new) == (1, 1)


def test_each_run_records_the_published_files_it_read(engine: sa.Engine) -> None:
    """``audit.link_runs``: what a run read, so that the DAG can skip a run with nothing new."""
    death = {
        "death_cert_no": "D1",
        "name": "李四",
        "id_no": OTHER,
        "id_no_valid": True,
        "death_date": date(2014, 5, 1),
    }
    publish(engine, "health__death_records", date(2014, 5, 31), [death])
    with engine.connect() as conn:
        assert runs.last_run(conn) is None and not runs.linked_everything(conn, default_feeds())
    first = link.run(engine, scorer=None)
    with engine.connect() as conn:
        assert runs.linked_everything(conn, default_feeds())
        assert runs.last_run(conn) == runs.published_files(conn, default_feeds())
        recorded = conn.execute(
            sa.text("SELECT published_files, mentions, id_exact FROM audit.link_runs")
        ).one()
    assert tuple(recorded) == (1, first.mentions, first.id_exact)
    # the annual targets describe no persons: publishing them leaves nothing to link
    publish(engine, "fp__annual_targets", date(2014, 1, 1), [])
    with engine.connect() as conn:
        assert runs.linked_everything(conn, default_feeds())
    publish(engine, "health__death_records", date(2014, 6, 30), [{**death, "death_cert_no": "D2"}])
    with engine.connect() as conn:
        assert not runs.linked_everything(conn, default_feeds())
    link.run(engine, scorer=None)
    with engine.connect() as conn:
        assert runs.linked_everything(conn, default_feeds())
        assert runs.last_run(conn) == runs.PublishedFiles(
            2, runs.published_files(conn, default_feeds()).digest
        )
        assert conn.execute(sa.text("SELECT count(*) FROM audit.link_runs")).scalar_one() == 2


def test_downgrade_drops_the_person_index(engine: sa.Engine) -> None:
    migrate.downgrade(engine, "0004")
    inspector = sa.inspect(engine)
    assert not inspector.has_table("record_link", schema="core")
    assert not inspector.has_table("id_corrections", schema="ops")
    assert migrate.upgrade(engine) == migrate.head_revision()
    for column in sa.inspect(engine).get_columns("record_link", schema="core"):
        assert column.get("comment"), column["name"]
