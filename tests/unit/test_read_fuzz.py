"""Fuzzing the file readers on mutated real files (issue 10): a file is read or refused, nothing else.

Seeds are real files of the sample drop (CSV in UTF-8 and GB18030, XLSX workbooks); hypothesis
mutates them three ways: as bytes (flipped, deleted, inserted and repeated bytes, truncation, a
line break, a slice of another seed spliced in: mostly refused), as text re-encoded in the
file's encoding (cells replaced or extended with quotes, delimiters, line breaks, placeholders,
numbers, dates and any text; lines dropped, repeated, merged; a header renamed: mostly read) and
as workbooks (cells overwritten with text, numbers, booleans, dates or nothing). Every mutant goes through what ``load_file``
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
from hypothesis import strategies as st

from popdata.config.feeds import Feed, feed_by_id
from popdata.ingest import read, rows

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample_landing"

#: Mutants per run: 200 in ``make test``, 20 000 in ``make test-reliability``, or ``POPDATA_FUZZ_EXAMPLES``.
FUZZ_EXAMPLES = int(
    os.environ.get("POPDATA_FUZZ_EXAMPLES")
    or (20_000 if os.environ.get("HYPOTHESIS_PROFILE") == "reliability" else 200)
)
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def _head(path: Path, lines: int) -> bytes:
    """The header and the first data lines of a large CSV."""
    return b"\n".join(path.read_bytes().split(b"\n")[: lines + 1]) + b"\n"


#: (feed id, file suffix, bytes) of each seed.
SEEDS: list[tuple[str, str, bytes]] = [
    ("stats__regions", ".csv", (SAMPLE / "stats/regions/regions_20111231.csv").read_bytes()),
    (
        "fp__birth_approvals",
        ".csv",
        (SAMPLE / "fp/birth_approvals/birth_approvals_20140630_2.csv").read_bytes(),
    ),
    (
        "fp__social_fee_cases",
        ".csv",
        (SAMPLE / "fp/social_fee_cases/social_fee_cases_20140630_2.csv").read_bytes(),
    ),
    (
        "police__household_registry",
        ".csv",
        _head(SAMPLE / "police/household_registry/household_registry_20140531.csv", 25),
    ),
    (
        "fp__social_fee_cases",
        ".xlsx",
        (SAMPLE / "fp/social_fee_cases/social_fee_cases_20140331.xlsx").read_bytes(),
    ),
    ("fp__annual_targets", ".xlsx", (SAMPLE / "fp/annual_targets/annual_targets_20120115.xlsx").read_bytes()),
]


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """A seed with one to four mutations."""
    feed_id, suffix, data = draw(st.sampled_from(SEEDS))
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        n = len(buffer)
        at = draw(st.integers(0, max(n - 1, 0)))
        kind = draw(st.sampled_from(["flip", "delete", "insert", "repeat", "truncate", "newline", "splice"]))
        if kind == "flip" and n:
            buffer[at] = draw(st.integers(0, 255))
        elif kind == "delete":
            del buffer[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            buffer[at:at] = draw(
                st.one_of(
                    st.binary(min_size=1, max_size=32),
                    st.sampled_from(
                        [b"\x00", b'"', b",", b"\r", b"\xef\xbb\xbf", b"\xff\xfe", "锟斤拷".encode()]
                    ),
                )
            )
        elif kind == "repeat":
            buffer[at:at] = buffer[at : at + draw(st.integers(1, 256))] * draw(st.integers(2, 20))
        elif kind == "truncate":
            del buffer[at:]
        elif kind == "newline":
            buffer[at:at] = draw(st.sampled_from([b"\n", b"\r\n", b"\r", b'\n"']))
        elif kind == "splice":
            _, _, other = draw(st.sampled_from(SEEDS))
            start = draw(st.integers(0, len(other) - 1))
            buffer[at:at] = other[start : start + draw(st.integers(1, 512))]
    return feed_id, suffix, bytes(buffer)


_TEXT_PIECES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ['"', '""', ",", ",,", "\n", "\r\n", "\r", "\t", " ", "\u3000", "\ufeff", "\u200b", "'", "不详", "-"]
    ),
    st.from_regex(r"[0-9]{1,20}(\.[0-9]{0,3})?", fullmatch=True),
    st.from_regex(r"[0-9]{4}[-/.年][0-9]{1,2}[-/.月][0-9]{1,2}日?", fullmatch=True),
)


def _decoded(data: bytes) -> tuple[str, str]:
    """A CSV seed's text and its encoding."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("a CSV seed decodes as UTF-8 or GB18030")


@st.composite
def text_mutants(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """A CSV seed mutated as text (so that most mutants still decode): cells, quotes, lines."""
    feed_id, _, data = draw(st.sampled_from([seed for seed in SEEDS if seed[1] == ".csv"]))
    text, encoding = _decoded(data)
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(1, max(len(lines) - 1, 1)))
        kind = draw(st.sampled_from(["cell", "insert", "drop_line", "repeat_line", "merge_lines", "header"]))
        if kind in ("cell", "insert") and at < len(lines):
            cells = lines[at].split(",")
            i = draw(st.integers(0, len(cells) - 1))
            piece = draw(_TEXT_PIECES)
            cells[i] = piece if kind == "cell" else cells[i] + piece
            lines[at] = ",".join(cells)
        elif kind == "drop_line" and at < len(lines):
            del lines[at]
        elif kind == "repeat_line" and at < len(lines):
            lines[at:at] = [lines[at]] * draw(st.integers(1, 5))
        elif kind == "merge_lines" and at + 1 < len(lines):
            lines[at : at + 2] = [lines[at] + lines[at + 1]]
        elif kind == "header":
            headers = lines[0].split(",")
            headers[draw(st.integers(0, len(headers) - 1))] = draw(st.text(max_size=8))
            lines[0] = ",".join(headers)
    return feed_id, ".csv", "\n".join(lines).encode(encoding, errors="replace")


@st.composite
def cell_mutants(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """An XLSX seed with cells overwritten by values of any type a workbook holds."""
    import io
    from datetime import datetime

    from openpyxl import load_workbook

    feed_id, _, data = draw(st.sampled_from([seed for seed in SEEDS if seed[1] == ".xlsx"]))
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.worksheets[0]
    for _ in range(draw(st.integers(1, 8))):
        row = draw(st.integers(1, sheet.max_row + 2))
        column = draw(st.integers(1, sheet.max_column + 1))
        value = draw(
            st.one_of(
                st.none(),
                st.text(max_size=20).map(lambda t: "".join(c for c in t if c.isprintable())),
                st.integers(-(10**15), 10**15),
                st.floats(allow_nan=False, allow_infinity=False, width=32),
                st.booleans(),
                st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2099, 12, 31)),
            )
        )
        sheet.cell(row=row, column=column, value=value)
    out = io.BytesIO()
    workbook.save(out)
    return feed_id, ".xlsx", out.getvalue()


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
@given(st.one_of(mutants(), text_mutants(), cell_mutants()))
def test_a_mutated_file_is_read_or_refused_never_crashes(mutant: tuple[str, str, bytes]) -> None:
    feed_id, suffix, data = mutant
    event(f"{suffix[1:]}: {read_and_account(feed_by_id(feed_id), suffix, data)}")
