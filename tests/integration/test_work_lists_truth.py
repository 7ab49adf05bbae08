"""The four work lists score ≥ 99 % precision and recall against the generator's ground truth (issue 6).

A 20 000-person county with the default defect rates (fixed seed) goes through the real
pipeline of every feed (regions first), the linkage and a reconciliation as of 2014-06-30; then
:func:`popdata.reconcile.evaluate.score_work_lists` compares ``ops.*`` with what the warehouse
could know (the true cases, adjusted for lines rightly rejected and files rightly not loaded).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from popdata.generate.api import generate_county
from popdata.linkage import link
from popdata.reconcile.evaluate import LISTS, Score, score_work_lists
from popdata.reconcile.run import reconcile
from popdata.warehouse import migrate

pytestmark = pytest.mark.integration

PERSONS = 20_000
SEED = 2014
REFERENCE_DATE = date(2014, 6, 30)
TARGET = 0.99


@pytest.fixture(scope="module")
def scores(
    tmp_path_factory: pytest.TempPathFactory, module_databases: Any, load_drops: Any
) -> Iterator[dict[str, Score]]:
    """Generate, load, link and reconcile one county; yield the score of each work list."""
    work = tmp_path_factory.mktemp("work_lists_truth")
    generate_county(work / "county", persons=PERSONS, seed=SEED)
    engine = sa.create_engine(module_databases.create("popdata_test_worklist_truth"))
    try:
        migrate.upgrade(engine)
        load_drops(engine, work / "county" / "landing", work / "outbox")
        link.run(engine)
        reconcile(engine, work / "outbox", REFERENCE_DATE)
        yield score_work_lists(engine, work / "county" / "truth", REFERENCE_DATE)
    finally:
        engine.dispose()


def test_every_list_has_cases_to_score(scores: dict[str, Score]) -> None:
    """The default defect rates give every list something to find (else the scores are vacuous)."""
    assert set(scores) == set(LISTS)
    for score in scores.values():
        assert score.expected > 0, score.summary()
        assert score.listed > 0, score.summary()


@pytest.mark.parametrize("name", list(LISTS))
def test_precision_and_recall_reach_the_target(scores: dict[str, Score], name: str) -> None:
    """Precision and recall ≥ 99 % for each work list; the misses are in the message."""
    score = scores[name]
    assert score.precision >= TARGET, score.summary()
    assert score.recall >= TARGET, score.summary()
