"""Fuzzing the file readers on mutated real files (issue 10): a file is read or refused, nothing else.

Seeds are real files of the sample drop (CSV in UTF-8 and GB18030, XLSX workbooks); hypothesis
mutates them three ways: as bytes (flipped, deleted, inserted and repeated bytes, truncation, a
line break, a slice of another seed spliced in: mostly refused), as text re-encoded in the
file's encoding (cells replaced or extended with quotes, delimiters, line breaks, placeholders,
numbers, dates and any text; lines dropped, repeated, merged; a header renamed: mostly read) and
as workbooks (cells overwritten with text, numbers, booleans, dates or nothing); the seeds and
strategies are in ``tests/fuzz_mutations.py``. Every mutant goes through what ``load_file``
does before staging: :func:`popdata.ingest.read.read_file` then
:func:`popdata.ingest.rows.normalise_table`. The one allowed failure is
:class:`~popdata.ingest.read.FileRejected` (the pipeline quarantines the file with its reason and
writes a receipt); anything else would leave a file without a final ledger row. A file that is
read accounts for every row: ``rows_read = rows_loaded + rows_rejected``, and rows read equal
the data rows the reader found.

``make test-reliability`` runs 20 000 mutants (``make test``: 200); ``--hypothesis-show-statistics``
shows how they ended (read, or refused with which reason).
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings

from fuzz_mutations import ANY_MUTANT, SEEDS
from popdata.config.feeds import Feed, feed_by_id
from popdata.ingest import read, rows

#: Mutants per run: 200 in ``make test``, 20 000 in ``make test-reliability``, or ``POPDATA_FUZZ_EXAMPLES``.
FUZZ_EXAMPLES = int(
    os.environ.get("POPDATA_FUZZ_EXAMPLES")
    or (20_000 if os.environ.get("HYPOTHESIS_PROFILE") == "reliability" else 200)
)
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def read_and_account(feed: Feed, suffix: str, data: bytes) -> str:
    """What ``load_file`` does before staging; returns ``"read"`` or the refusal's reason code."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{feed.feed}_20140630{suffix}"
        path.write_bytes(data)
        try:
            table = read.read_file(path, feed, max_bytes=10 * 1024 * 1024)
            normalised = rows.normalise_table(table, feed, extract_date=date(2014, 6, 30))
        except read.FileRejected as refused:
            assert refused.reason, "a refusal names its reason (the receipt carries it)"
            return str(refused.reason)
    assert normalised.rows_read == len(table.rows)
    assert normalised.rows_read == normalised.rows_loaded + normalised.rows_rejected
    assert all(len(values) == normalised.rows_loaded for values in normalised.columns.values())
    return "read"


@pytest.mark.parametrize(("feed_id", "suffix", "data"), SEEDS, ids=[f"{f}{s}" for f, s, _ in SEEDS])
def test_every_seed_is_read_whole(feed_id: str, suffix: str, data: bytes) -> None:
    """The unmutated seeds are read (so that the mutants start from a file that loads)."""
    assert read_and_account(feed_by_id(feed_id), suffix, data) == "read"


@FUZZ
@given(ANY_MUTANT)
def test_a_mutated_file_is_read_or_refused_never_crashes(mutant: tuple[str, str, bytes]) -> None:
    feed_id, suffix, data = mutant
    event(f"{suffix[1:]}: {read_and_account(feed_by_id(feed_id), suffix, data)}")
