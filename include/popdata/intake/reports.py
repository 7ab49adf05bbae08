"""Report types, their form fields, and the check of one report (pure: no I/O).

A village report (村级直报) is one row of the feed ``fp/village_reports``: the columns of its YAML,
``report_type`` saying which of them the report must carry (``required_when``). The check of a
submission is the file path's own: the values go through :func:`popdata.ingest.rows.normalise_table`
as a one-row table, so an identity number, a date, a sex code, a region or damaged text is judged
by the normalisers that will judge the file. On top of that, the rules the feed's reviewed suite
applies to whole files (``expectations/fp__village_reports.json``: an event after its report date,
a marital status outside the registry's vocabulary, a region that is not one village) are checked
here as they will be checked there. Two things are stricter than the file path, because a clerk
can still fix them: an identity number that fails its check is refused (a file loads it marked
invalid), and an optional value that cannot be read is refused (a file loads it as null).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Literal

from popdata.config.feeds import Column, Feed, feed_by_id
from popdata.ingest.read import RawTable
from popdata.ingest.receipts import REASON_ZH
from popdata.ingest.rows import REQUIRED_BLANK, Issue, normalise_table
from popdata.normalize import ids
from popdata.normalize.codes import RegionResolver

FEED_ID = "fp__village_reports"

ReportCode = Literal["birth", "death", "move_in", "move_out", "marital"]

MAX_FIELD_CHARS = 64
"""Longest value of any field but ``move_place`` (names, numbers, dates, codes)."""
MAX_PLACE_CHARS = 100
"""Longest ``move_place`` (a place name or an address)."""
MIN_EVENT_DATE = date(1880, 1, 1)
"""The suite's lower bound of every date."""

# reason codes of the intake's own checks (the normalisers' codes are REASON_ZH's)
UNKNOWN_REPORT_TYPE = "unknown_report_type"
UNKNOWN_FIELD = "unknown_field"
TOO_LONG = "too_long"
NOT_TEXT = "not_text"
DATE_AFTER_REPORT = "date_after_report"
DATE_TOO_EARLY = "date_too_early"
NOT_IN_VOCABULARY = "not_in_vocabulary"
REGION_OUTSIDE_VILLAGE = "region_outside_village"
ID_INVALID = "id_invalid"

MESSAGES_ZH: dict[str, str] = {
    **REASON_ZH,
    UNKNOWN_REPORT_TYPE: "报告类型不存在",
    UNKNOWN_FIELD: "此类报告没有这一项",
    TOO_LONG: "内容过长",
    NOT_TEXT: "应为文字",
    DATE_AFTER_REPORT: "日期晚于报告日期（不能报告尚未发生的事）",
    DATE_TOO_EARLY: "日期过早，不可能",
    NOT_IN_VOCABULARY: "不是可选的值",
    REGION_OUTSIDE_VILLAGE: "只能报告本村（居）的事项",
    ID_INVALID: "身份证号无效",
    "client_id_invalid": "提交编号（client_id）应为1至64个字母、数字或 . _ : -",
    "body_invalid": "请求体应为 JSON 对象，含 client_id、report_type 与 fields",
}
"""Reason code → what the clerk reads under the field."""

_ADVISORY = frozenset({ids.ID_UNKNOWN_ADDRESS_CODE})
"""Warnings a valid value may carry that do not stop a report (contract §2: an old county code
inside a valid identity number is a warning, not an error)."""


@dataclass(frozen=True)
class ReportType:
    """One kind of report: its code in URLs and the API, its value in the file, its form fields."""

    code: ReportCode
    value: str
    """``report_type`` as written in the file (出生, 死亡, 迁入, 迁出, 婚姻变动)."""
    label_zh: str
    label_en: str
    fields: tuple[str, ...]
    """The feed columns the clerk fills, in form order."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Form labels that differ from the column's first header (新生儿姓名 for a birth's name)."""


REPORT_TYPES: tuple[ReportType, ...] = (
    ReportType(
        "birth",
        "出生",
        "出生",
        "Birth",
        (
            "name",
            "sex",
            "birth_date",
            "birth_order",
            "mother_name",
            "mother_id",
            "father_name",
            "father_id",
        ),
        {"name": "新生儿姓名", "sex": "新生儿性别"},
    ),
    ReportType(
        "death",
        "死亡",
        "死亡",
        "Death",
        ("name", "id_no", "sex", "birth_date", "death_date"),
        {"name": "死者姓名"},
    ),
    ReportType(
        "move_in",
        "迁入",
        "迁入",
        "Move in",
        ("name", "id_no", "sex", "birth_date", "move_date", "move_place"),
        {"move_date": "迁入日期", "move_place": "迁出地"},
    ),
    ReportType(
        "move_out",
        "迁出",
        "迁出",
        "Move out",
        ("name", "id_no", "sex", "birth_date", "move_date", "move_place"),
        {"move_date": "迁出日期", "move_place": "迁往地"},
    ),
    ReportType(
        "marital",
        "婚姻变动",
        "婚姻状况变动",
        "Marital status change",
        ("name", "id_no", "marital", "marital_date"),
    ),
)

_BY_CODE = {t.code: t for t in REPORT_TYPES}

SET_BY_APP = ("report_no", "report_type", "region_code", "report_date", "clerk")
"""Columns the app fills, never the clerk (``region_code`` may be sent, and must be the village)."""

EVENT_DATES = ("birth_date", "death_date", "move_date", "marital_date")
"""Dates that cannot be after the report date (the suite's ``max_date_column: report_date``)."""

PLACEHOLDER_REPORT_NO = "VR000000000000000"
"""Stands in for the reference number while a report is checked (it is drawn when it is stored)."""


def report_type(code: str) -> ReportType:
    """The report type with ``code``; KeyError when there is none."""
    return _BY_CODE[code]  # type: ignore[index]


def village_feed() -> Feed:
    """The feed ``fp/village_reports``."""
    return feed_by_id(FEED_ID)


@lru_cache(maxsize=1)
def vocabularies() -> dict[str, tuple[str, ...]]:
    """Column → allowed values, from the suite's ``expect_column_values_to_be_in_set`` on text columns."""
    from popdata.config.settings import load_settings

    path = load_settings().expectations_dir / f"{FEED_ID}.json"
    suite = json.loads(path.read_text(encoding="utf-8"))
    found: dict[str, tuple[str, ...]] = {}
    for entry in suite["expectations"]:
        kwargs = entry.get("kwargs", {})
        values = kwargs.get("value_set")
        if entry["type"] == "expect_column_values_to_be_in_set" and all(isinstance(v, str) for v in values):
            found[kwargs["column"]] = tuple(values)
    return found


@dataclass(frozen=True)
class FormField:
    """One field of a report's form."""

    name: str
    label: str
    kind: Literal["text", "id_number", "date", "sex", "choice", "number"]
    required: bool
    max_chars: int
    choices: tuple[tuple[str, str], ...] = ()
    """(value sent, label shown) for ``sex`` and ``choice`` fields."""


SEX_CHOICES = (("1", "男"), ("2", "女"))


def form_fields(kind: ReportType, feed: Feed | None = None) -> tuple[FormField, ...]:
    """The fields of ``kind``'s form: labels from the YAML's headers, required from ``required_when``."""
    feed = feed or village_feed()
    vocab = vocabularies()
    out = []
    for name in kind.fields:
        column = feed.column(name)
        required = column.required or (
            column.required_when is not None and kind.value in next(iter(column.required_when.values()))
        )
        label = kind.labels.get(name, column.headers[0])
        choices: tuple[tuple[str, str], ...] = ()
        form_kind: Literal["text", "id_number", "date", "sex", "choice", "number"]
        if column.type == "sex":
            form_kind, choices = "sex", SEX_CHOICES
        elif column.type == "code" and name in vocab:
            form_kind, choices = "choice", tuple((v, v) for v in vocab[name])
        elif column.type in ("date", "datetime"):
            form_kind = "date"
        elif column.type == "id_number":
            form_kind = "id_number"
        elif column.type in ("int", "birth_order"):
            form_kind = "number"
        else:
            form_kind = "text"
        max_chars = MAX_PLACE_CHARS if name == "move_place" else MAX_FIELD_CHARS
        out.append(FormField(name, label, form_kind, required, max_chars, choices))
    return tuple(out)


@dataclass(frozen=True)
class FieldError:
    """Why one field was refused."""

    field: str
    code: str

    @property
    def message(self) -> str:
        """The reason in Chinese, as shown under the field."""
        return MESSAGES_ZH.get(self.code, self.code)


@dataclass(frozen=True)
class CheckedReport:
    """The outcome of :func:`check_report`: the values to store, or the errors per field."""

    report_type: ReportType | None
    values: dict[str, str]
    """Column → value as submitted (stripped), for the fields of the report type, and
    ``region_code`` as the village's code (a name sent for it resolved to that code)."""
    errors: tuple[FieldError, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing was refused."""
        return not self.errors

    def errors_by_field(self) -> dict[str, str]:
        """Field → reason code (the first one per field)."""
        out: dict[str, str] = {}
        for error in self.errors:
            out.setdefault(error.field, error.code)
        return out


def check_report(
    code: str,
    submitted: Mapping[str, object],
    *,
    village_code: str,
    report_date: date,
    clerk: str,
    resolver: RegionResolver | None,
    feed: Feed | None = None,
) -> CheckedReport:
    """Check one submitted report as the file path will, plus the suite's rules; nothing is stored.

    Args:
        code: the report type's code (``birth``, ``death``, ``move_in``, ``move_out``, ``marital``).
        submitted: field name → value (strings; blank means not given). ``region_code`` may be
            given (a code or a name) and must then be the clerk's village.
        village_code: the 12-digit code of the clerk's village (from the token).
        report_date: the date the report is made (Beijing time): no event may be after it.
        clerk: the token's label, written as ``填报人``.
        resolver: region names → codes (the published ``stats/regions`` reference), or None.
    """
    feed = feed or village_feed()
    kind = _BY_CODE.get(code)  # type: ignore[call-overload]
    if kind is None:
        return CheckedReport(None, {}, (FieldError("report_type", UNKNOWN_REPORT_TYPE),))
    errors: list[FieldError] = []
    values: dict[str, str] = {}
    allowed = set(kind.fields) | {"region_code"}
    limits = {f.name: f.max_chars for f in form_fields(kind, feed)} | {"region_code": MAX_FIELD_CHARS}
    for name, raw in submitted.items():
        if name not in allowed:
            errors.append(FieldError(name, UNKNOWN_FIELD))
            continue
        if raw is None:
            continue
        if not isinstance(raw, str):
            errors.append(FieldError(name, NOT_TEXT))
            continue
        value = raw.strip()
        if len(value) > limits[name]:
            errors.append(FieldError(name, TOO_LONG))
            continue
        if value:
            values[name] = value
    if errors:
        return CheckedReport(kind, {}, tuple(errors))

    region = values.pop("region_code", None) or village_code
    row = {
        "report_no": PLACEHOLDER_REPORT_NO,
        "report_type": kind.value,
        "region_code": region,
        "report_date": report_date.isoformat(),
        "clerk": clerk,
        **values,
    }
    columns = [feed.column(name) for name in row]
    table = RawTable(
        headers=[c.headers[0] for c in columns], rows=[list(row.values())], line_nos=[1], encoding="utf-8"
    )
    # normalised as the file will be, but with nothing required, so that the row is never rejected
    # and every fault of every field comes back at once (a rejected row's other faults are dropped)
    normalised = normalise_table(table, _optional(feed), extract_date=report_date, resolver=resolver)
    for issue in [*normalised.rejected, *normalised.warnings]:
        error = _field_error(issue, feed)
        if error is not None:
            errors.append(error)
    staged = {name: values_[0] for name, values_ in normalised.columns.items()}
    refused = {e.field for e in errors}
    for form_field in form_fields(kind, feed):
        if form_field.required and form_field.name not in refused and staged.get(form_field.name) is None:
            errors.append(FieldError(form_field.name, REQUIRED_BLANK))
    refused = {e.field for e in errors}
    errors.extend(_suite_rules(staged, village_code, report_date, refused))
    if errors:
        return CheckedReport(kind, {}, tuple(_first_per_field(errors)))
    return CheckedReport(kind, {**values, "region_code": village_code})


_OPTIONAL: dict[str, Feed] = {}


def _optional(feed: Feed) -> Feed:
    """``feed`` with no column required (``required`` and ``required_when`` off), cached per feed."""
    found = _OPTIONAL.get(feed.feed_id)
    if found is None or found.columns[0].headers != feed.columns[0].headers:
        columns = tuple(c.model_copy(update={"required": False, "required_when": None}) for c in feed.columns)
        found = _OPTIONAL[feed.feed_id] = feed.model_copy(update={"columns": columns})
    return found


def _field_error(issue: Issue, feed: Feed) -> FieldError | None:
    """A normaliser's issue as a form error (advisory warnings on valid values pass)."""
    if issue.column is None:
        return FieldError("report_type", issue.reason)
    if issue.reason in _ADVISORY:
        return None
    column: Column = feed.column(issue.column)
    if column.type == "id_number" and issue.reason.startswith("id_"):
        return FieldError(issue.column, issue.reason if issue.reason in REASON_ZH else ID_INVALID)
    return FieldError(issue.column, issue.reason)


def _suite_rules(
    staged: Mapping[str, object], village_code: str, report_date: date, refused: set[str]
) -> list[FieldError]:
    """The reviewed suite's row rules, on the normalised row (fields already refused are skipped)."""
    errors: list[FieldError] = []
    region = staged.get("region_code")
    if "region_code" not in refused and region != village_code:
        errors.append(FieldError("region_code", REGION_OUTSIDE_VILLAGE))
    for name in EVENT_DATES:
        value = staged.get(name)
        if name in refused or not isinstance(value, date):
            continue
        if value > report_date:
            errors.append(FieldError(name, DATE_AFTER_REPORT))
        elif value < MIN_EVENT_DATE:
            errors.append(FieldError(name, DATE_TOO_EARLY))
    for name, allowed in vocabularies().items():
        value = staged.get(name)
        if name not in refused and name != "sex" and value is not None and value not in allowed:
            errors.append(FieldError(name, NOT_IN_VOCABULARY))
    return errors


def _first_per_field(errors: list[FieldError]) -> list[FieldError]:
    seen: set[str] = set()
    out = []
    for error in errors:
        if error.field not in seen:
            seen.add(error.field)
            out.append(error)
    return out
