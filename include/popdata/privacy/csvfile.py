"""``popdata pseudonymise``: replace identifier columns of a CSV by their keyed digests.

The file is streamed row by row (constant memory), so a multi-gigabyte extract is fine.
Input is UTF-8 (with or without BOM) or GB18030 (a superset of GBK); ``auto`` checks in one
streaming pass whether the whole file is UTF-8 and otherwise reads GB18030. The output is
UTF-8, written to a temporary file beside the target (mode 0600) and renamed into place only
when complete, so a failure never leaves a half-written file. Blank cells and placeholders
(不详, 无, ``-``) are written empty: they have no pseudonym.
"""

from __future__ import annotations

import codecs
import csv
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from popdata.privacy.pseudonym import PseudonymKey, keyed_digest

__all__ = ["ENCODINGS", "PseudonymiseSummary", "detect_encoding", "pseudonymise_csv"]

#: ``--encoding`` choices: ``auto`` is UTF-8 when the whole file decodes as UTF-8, else GB18030.
ENCODINGS = ("auto", "utf-8", "gb18030")
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class PseudonymiseSummary:
    """What one run did: rows written, cells replaced by a digest, cells left blank."""

    encoding: str
    rows: int
    digested: int
    blank: int


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` when the whole file decodes as UTF-8 (streaming check), else ``gb18030``."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def _codec(path: Path, encoding: str) -> str:
    """The Python codec to read ``path`` with for an ``--encoding`` choice."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    if encoding == "auto":
        return detect_encoding(path)
    return "utf-8-sig" if encoding == "utf-8" else "gb18030"


def pseudonymise_csv(
    source: Path, target: Path, columns: Sequence[str], key: PseudonymKey, *, encoding: str = "auto"
) -> PseudonymiseSummary:
    """Copy ``source`` to ``target`` with each of ``columns`` replaced by its keyed digest.

    Raises ``ValueError`` when a column is not in the header (or the file has no header) and
    ``UnicodeDecodeError`` when the file is not in the chosen encoding; ``target`` is then
    left untouched.
    """
    if not columns:
        raise ValueError("name at least one column to pseudonymise")
    codec = _codec(source, encoding)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, renamed or removed
        "w", encoding="utf-8", newline="", dir=target.parent, prefix=f".{target.name}.", delete=False
    )
    rows = digested = blank = 0
    try:
        with handle, source.open(encoding=codec, newline="") as src:
            reader = csv.reader(src)
            writer = csv.writer(handle, lineterminator="\n")
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{source.name} is empty: no header row")
            missing = [name for name in columns if name not in header]
            if missing:
                raise ValueError(f"column(s) {', '.join(missing)} not in the header: {', '.join(header)}")
            positions = sorted({header.index(name) for name in columns})
            writer.writerow(header)
            for row in reader:
                for position in positions:
                    if position >= len(row):
                        continue
                    try:
                        row[position] = keyed_digest(row[position], key)
                        digested += 1
                    except ValueError:  # blank or placeholder: no pseudonym
                        row[position] = ""
                        blank += 1
                writer.writerow(row)
                rows += 1
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return PseudonymiseSummary("utf-8" if codec == "utf-8-sig" else codec, rows, digested, blank)
