"""Ground truth of a generated county, written to ``<out>/truth/`` as UTF-8 CSV and JSON.

- ``persons.csv``: the true population, one row per person.
- ``records.csv``: one row per person role (subject, child, mother, father, wife,
  husband) per emitted record, with the file and line where the record is.
- ``births.csv``: the true births of the window and which agency lists each is in.
- ``deaths.csv``: the true deaths and their certificate and cancellation.
- ``defects.csv``: every injected defect with file, line, column and kind.
- ``files.csv``: every data file with its format, encoding, style and expected status.
- ``regions.csv``: the county's divisions (the clean ``stats/regions`` content).
- ``summary.json``: counts per feed, per defect kind, the seed, persons and rates.

Line numbers count the header as line 1, so the first data row is line 2: the row
number a spreadsheet shows, and in a CSV the record number (the physical line too,
unless an earlier quoted address spans two lines; ``defects.csv`` also gives
``physical_line``, where the record starts in the file).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from popdata.generate.feeds import FeedSpec

RECORD_COLUMNS = ("agency", "feed", "file_name", "line_no", "source_key", "role", "person_id")
DEFECT_COLUMNS = (
    "agency",
    "feed",
    "file_name",
    "line_no",
    "physical_line",
    "column",
    "kind",
    "value",
    "rejects_row",
)
FILE_COLUMNS = (
    "agency",
    "feed",
    "file_name",
    "format",
    "encoding",
    "bom",
    "crlf",
    "rows",
    "sha256",
    "manifest",
    "extract_date",
    "period_start",
    "period_end",
    "date_style",
    "sex_style",
    "headers",
    "extra_column",
    "office",
    "traditional",
    "irregular_name",
    "resend_of",
    "expected_status",
)


class TruthSink:
    """Collects ground truth while files are written; streams the large tables to disk."""

    def __init__(self, folder: Path) -> None:
        """Open ``records.csv`` and ``defects.csv`` in ``folder`` for streaming."""
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._records: IO[str] = (folder / "records.csv").open("w", encoding="utf-8", newline="")
        self._defects: IO[str] = (folder / "defects.csv").open("w", encoding="utf-8", newline="")
        self._defect_writer = csv.writer(self._defects, lineterminator="\n")
        self._records.write(",".join(RECORD_COLUMNS) + "\n")
        self._defect_writer.writerow(DEFECT_COLUMNS)
        self.files: list[dict[str, Any]] = []
        self.defect_counts: Counter[str] = Counter()
        self.record_rows = 0

    def __enter__(self) -> TruthSink:
        """Context manager entry."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the streams."""
        self.close()

    def close(self) -> None:
        """Close the streamed files."""
        if not self._records.closed:
            self._records.close()
        if not self._defects.closed:
            self._defects.close()

    def defect(
        self,
        agency: str,
        feed: str,
        file_name: str,
        line_no: int,
        column: str,
        kind: str,
        value: str,
        rejects_row: bool,
        physical_line: int | None = None,
    ) -> None:
        """Report one injected defect (line 0 = the whole file)."""
        phys = line_no if physical_line is None else physical_line
        self._defect_writer.writerow(
            (agency, feed, file_name, line_no, phys, column, kind, value, "true" if rejects_row else "false")
        )
        self.defect_counts[kind] += 1

    def records(
        self,
        spec: FeedSpec,
        file_name: str,
        rows: pd.DataFrame,
        keys: npt.NDArray[Any],
        person_ids: npt.NDArray[Any],
    ) -> None:
        """Report the person roles of every record of one file."""
        if not spec.roles or len(rows) == 0:
            return
        line = np.arange(len(rows)) + 2
        parts: list[pd.DataFrame] = []
        for role in spec.roles:
            col = f"_p_{role}"
            if col not in rows.columns:
                continue
            who = rows[col].to_numpy().astype(np.int64)
            ok = who >= 0
            if not ok.any():
                continue
            parts.append(
                pd.DataFrame(
                    {
                        "agency": spec.agency,
                        "feed": spec.feed,
                        "file_name": file_name,
                        "line_no": line[ok],
                        "source_key": keys[ok],
                        "role": role,
                        "person_id": person_ids[who[ok]],
                    }
                )
            )
        if not parts:
            return
        frame = pd.concat(parts, ignore_index=True).sort_values(["line_no"], kind="stable")
        frame.to_csv(self._records, header=False, index=False, lineterminator="\n")
        self.record_rows += len(frame)

    def file(self, **info: Any) -> None:
        """Report one data file."""
        self.files.append(info)

    # ------------------------------------------------------------------ final tables
    def write_files(self) -> None:
        """Write ``files.csv``."""
        rows = []
        for f in self.files:
            row = dict(f)
            row["headers"] = "|".join(row["headers"])
            for k in ("extract_date", "period_start", "period_end"):
                row[k] = row[k].isoformat()
            for k in ("bom", "crlf", "manifest", "traditional", "irregular_name"):
                row[k] = "true" if row[k] else "false"
            rows.append(row)
        pd.DataFrame(rows, columns=list(FILE_COLUMNS)).to_csv(
            self.folder / "files.csv", index=False, lineterminator="\n"
        )

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        """Write one truth table as UTF-8 CSV."""
        frame.to_csv(self.folder / name, index=False, lineterminator="\n")

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` (sorted keys, stable output)."""
        text = json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True, default=_json_default)
        (self.folder / "summary.json").write_text(text + "\n", encoding="utf-8")


def _json_default(value: Any) -> Any:
    """JSON encoding for dates and numpy scalars."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value))


def iso_dates(values: npt.NDArray[Any]) -> list[str]:
    """ISO dates for a truth table ('' for NaT)."""
    d = pd.to_datetime(pd.Series(values)).to_numpy().astype("datetime64[D]")
    nat = np.isnat(d)
    txt = np.datetime_as_string(np.where(nat, np.datetime64("2000-01-01"), d), unit="D")
    return ["" if n else str(t) for t, n in zip(txt.tolist(), nat.tolist(), strict=True)]
