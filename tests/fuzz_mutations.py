"""Mutations of real files for the fuzzing runs of issue 10, shared by the reader and pipeline fuzzers.

Seeds are real files of the sample drop (CSV in UTF-8 and GB18030, XLSX workbooks) and a file of
village reports as the intake app writes it (tests/village_rows.py); the strategies
mutate them three ways:

- :func:`mutants`: as bytes (flipped, deleted, inserted and repeated bytes, truncation, a line
  break, a slice of another seed spliced in): mostly refused;
- :func:`text_mutants`: as text re-encoded in the file's encoding (cells replaced or extended
  with quotes, delimiters, line breaks, placeholders, numbers, dates and any text; lines
  dropped, repeated, merged; a header renamed): mostly read;
- :func:`cell_mutants`: as workbooks (cells overwritten with text, numbers, booleans, dates or
  nothing).

Each draws ``(feed id, file suffix, bytes)``; :data:`ANY_MUTANT` is any of the three.
Used by ``tests/unit/test_read_fuzz.py`` (reader only) and
``tests/integration/test_pipeline_fuzz.py`` (the whole ingest path into PostgreSQL).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hypothesis import strategies as st

from popdata.intake import batch
from village_rows import village_codes, village_reports

SAMPLE = Path(__file__).resolve().parent / "fixtures" / "sample_landing"


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
    (
        "fp__village_reports",
        ".csv",
        batch.render(village_reports(village_codes(SAMPLE), count=12, seed=3, last_day=date(2014, 6, 20))),
    ),
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


#: Any mutant: bytes, text or workbook cells.
ANY_MUTANT = st.one_of(mutants(), text_mutants(), cell_mutants())
