"""Configurable defect rates for the synthetic agency extracts.

Every irregularity that the agency extract contract (AGENCY_EXTRACTS.md) says occurs in
the wild has a rate here. A rate is a probability per *value* (one cell), per *row*
(one record) or per *file*, as each field's comment says. :meth:`DefectRates.none`
switches everything off: clean files (ISO dates, canonical headers and column order,
男/女, 12-digit region codes, valid 18-digit IDs) and no reporting gaps.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class DefectRates:
    """Probabilities of each injected defect (defaults: realistic and small)."""

    # --- text, per value -------------------------------------------------------------
    traditional_script: float = 0.01
    """Name or address written in Traditional characters (繁体, 劉 for 刘)."""
    damaged_text: float = 0.002
    """Name damaged by a lossy conversion (``?`` or U+FFFD); cannot be repaired."""
    name_variant: float = 0.01
    """Name spelled with a homophone character (晓/小, 梓/子) in this agency's record."""
    fullwidth_digits: float = 0.01
    """Digits of an ID, region code or date written full-width (１２０１１５…)."""
    ideographic_space: float = 0.005
    """An ideographic space U+3000 before or after a name or ID."""
    stray_space: float = 0.005
    """A leading or trailing ASCII space around a name or ID."""
    leading_apostrophe: float = 0.01
    """An Excel user's leading apostrophe on an ID (``'120115…``)."""
    # --- identity numbers (公民身份号码) ------------------------------------------------
    scientific_notation_id: float = 0.02
    """Per ID value in fp files (XLSX and CSV from Excel): mangled to ``1.20115E+17``."""
    wrong_check_character: float = 0.003
    """Per ID value: the check character (ISO 7064 MOD 11-2) is wrong."""
    id_15_digit: float = 0.35
    """Per eligible elderly person (born before 1950, old county code): the household
    registry still shows the old 15-digit number."""
    missing_id: float = 0.03
    """Per value of an optional ID column: left blank."""
    # --- dates, per file or value ------------------------------------------------------
    nonstandard_date_style: float = 0.6
    """Per file: dates as 20140401, 2014/4/1, 2014.4.1 or 2014年4月1日 instead of ISO."""
    mixed_date_style: float = 0.02
    """Per date value: a style other than the file's."""
    excel_date_cell: float = 0.6
    """Per date value in XLSX: a real Excel date cell."""
    excel_serial_date: float = 0.15
    """Per date value in XLSX: an Excel serial number (41420)."""
    birth_time: float = 0.3
    """Per birth certificate: the birth date carries a time (``2014-03-02 14:30``)."""
    impossible_date: float = 0.001
    """Per date value: an impossible calendar date (``2014-02-30``)."""
    placeholder: float = 0.01
    """Per optional value: a placeholder (不详, 无, -, 19000101, 1900-01-01)."""
    # --- codes and amounts -------------------------------------------------------------
    sex_code_variant: float = 0.6
    """Per file: sex as 1/2 or M/F instead of 男/女."""
    region_name: float = 0.1
    """Per region value: a name (牛道口镇东风村) instead of the 12-digit code."""
    region_prefix: float = 0.03
    """Per region value: only the 6- or 9-digit prefix of the code."""
    birth_order_words: float = 0.02
    """Per birth order value: 第二胎 / 二孩 instead of 2."""
    money_format: float = 0.15
    """Per amount: thousands separators (1,200.00) or 元."""
    # --- file layout, per file unless said otherwise -----------------------------------
    header_synonyms: float = 0.7
    """Headers drawn from the contract's synonyms instead of the first header."""
    shuffled_columns: float = 0.7
    """Columns in an office's own order."""
    extra_column: float = 0.4
    """An extra column (序号, 备注, 经办人…) that the platform keeps but ignores."""
    crlf: float = 0.4
    """CRLF line endings instead of LF (CSV)."""
    quoted_address: float = 0.03
    """Per address: a comma, quote or newline inside it (the CSV field is quoted)."""
    irregular_file_name: float = 0.03
    """File named against the convention (``Prenatal_Checks-2014-05-31.csv``)."""
    manifest: float = 0.5
    """The file comes with a ``.manifest.json`` (rows, sha256, encoding, period)."""
    manifest_mismatch: float = 0.01
    """Per manifest: its rows or sha256 do not match the file (quarantine)."""
    resend: float = 0.03
    """The same bytes dropped again under another name."""
    missing_required_column: float = 0.01
    """A required column is missing; the office resends the full file as ``_<n>``."""
    police_gbk: float = 0.3
    """Police file encoded in GBK instead of GB18030 (生僻字 then become ``?``)."""
    fp_csv_offices: float = 0.1
    """Share of towns whose fp office sends CSV in GBK instead of being in the county XLSX."""
    big5_office: bool = True
    """One town fp office sends birth approvals as Big5 CSV in Traditional script."""
    # --- records and reporting gaps, per row --------------------------------------------
    correction: float = 0.01
    """Per record: sent with an error and corrected in a later extract (same source key)."""
    birth_not_registered: float = 0.03
    """Per hospital birth of a resident mother: never registered with the police."""
    registration_without_certificate: float = 0.01
    """Per birth of a resident mother: born outside a hospital, registered without a
    birth certificate (出生医学证明)."""
    death_not_cancelled: float = 0.05
    """Per death: the hukou (户口) is never cancelled."""
    paid_after_death: float = 0.25
    """Per assistance recipient who died: still on the next year's roll."""

    @classmethod
    def none(cls) -> DefectRates:
        """Clean data: every rate 0, canonical layout, no Big5 office, manifests on all files."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            values[f.name] = False if f.type in ("bool", bool) else 0.0
        values["manifest"] = 1.0
        return cls(**values)

    def scaled(self, factor: float) -> DefectRates:
        """Return a copy with every probability multiplied by ``factor`` (capped at 1).

        File-style choices (date style, header synonyms, column order, sex codes, CRLF,
        manifests) are kept as they are; only defects and gaps are scaled.
        """
        keep = {
            "nonstandard_date_style",
            "excel_date_cell",
            "excel_serial_date",
            "sex_code_variant",
            "header_synonyms",
            "shuffled_columns",
            "crlf",
            "manifest",
            "big5_office",
            "police_gbk",
            "fp_csv_offices",
            "birth_time",
            "id_15_digit",
        }
        changes: dict[str, Any] = {}
        for f in fields(self):
            if f.name in keep:
                continue
            changes[f.name] = min(1.0, float(getattr(self, f.name)) * factor)
        return replace(self, **changes)

    def as_dict(self) -> dict[str, float | bool]:
        """The rates as a plain mapping (for ``summary.json``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
