"""The 13 feeds of the agency extract contract, as data for the writers.

Each :class:`FeedSpec` lists its columns in the contract's order with the header
synonyms (the first one is canonical), whether the column is required (``*``), and the
*kind* of value it holds, which decides the formats and defects applied to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal[
    "key",
    "id",
    "name",
    "sex",
    "date",
    "birth_datetime",
    "int",
    "order",
    "money",
    "region",
    "address",
    "text",
    "code",
    "year",
    "hukou_region",
]


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a feed: canonical name, header synonyms, required, value kind."""

    name: str
    headers: tuple[str, ...]
    required: bool
    kind: ColumnKind


@dataclass(frozen=True)
class FeedSpec:
    """One feed: agency, feed name, columns, source key and the roles of persons in it."""

    agency: str
    feed: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    roles: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        """Canonical column names in contract order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        """The column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, headers: str, kind: ColumnKind, required: bool = False) -> ColumnSpec:
    """Shorthand: headers separated by ``|`` as in the contract."""
    return ColumnSpec(name, tuple(h.strip() for h in headers.split("|")), required, kind)


BIRTH_CERTIFICATES = FeedSpec(
    "health",
    "birth_certificates",
    (
        _c("cert_no", "出生医学证明编号|证明编号", "key", True),
        _c("child_name", "新生儿姓名|姓名", "name"),
        _c("child_sex", "新生儿性别|性别", "sex", True),
        _c("birth_date", "出生日期|出生时间", "birth_datetime", True),
        _c("birth_order", "胎次|孩次", "order"),
        _c("gestation_weeks", "出生孕周", "int"),
        _c("birth_weight_g", "出生体重(克)|体重", "int"),
        _c("facility", "接生机构名称|出生地点", "text"),
        _c("mother_name", "母亲姓名", "name", True),
        _c("mother_id", "母亲有效身份证件号码|母亲身份证号", "id"),
        _c("father_name", "父亲姓名", "name"),
        _c("father_id", "父亲有效身份证件号码|父亲身份证号", "id"),
        _c("region_code", "母亲户籍地区划代码|户籍地区划代码|户籍地", "region"),
        _c("issue_date", "签发日期", "date"),
    ),
    ("cert_no",),
    ("child", "mother", "father"),
)

DEATH_RECORDS = FeedSpec(
    "health",
    "death_records",
    (
        _c("death_cert_no", "死亡证编号|死亡医学证明编号", "key", True),
        _c("name", "死者姓名|姓名", "name", True),
        _c("id_no", "身份证号|有效身份证件号码", "id"),
        _c("sex", "性别", "sex"),
        _c("birth_date", "出生日期", "date"),
        _c("death_date", "死亡日期", "date", True),
        _c("cause_icd10", "根本死因ICD编码|根本死因编码", "code"),
        _c("region_code", "户籍地区划代码|户籍地", "region"),
        _c("reporting_unit", "报告单位", "text"),
    ),
    ("death_cert_no",),
    ("subject",),
)

PRENATAL_CHECKS = FeedSpec(
    "health",
    "prenatal_checks",
    (
        _c("check_no", "检查编号", "key", True),
        _c("wife_name", "女方姓名|妻子姓名", "name", True),
        _c("wife_id", "女方身份证号", "id"),
        _c("husband_name", "男方姓名|丈夫姓名", "name"),
        _c("husband_id", "男方身份证号", "id"),
        _c("check_date", "检查日期", "date", True),
        _c("facility", "检查机构", "text"),
        _c("region_code", "现居住地区划代码|现住址", "region"),
        _c("result", "评估结果", "code"),
    ),
    ("check_no",),
    ("wife", "husband"),
)

HOUSEHOLD_REGISTRY = FeedSpec(
    "police",
    "household_registry",
    (
        _c("id_no", "公民身份号码|身份证号", "id", True),
        _c("name", "姓名", "name", True),
        _c("former_name", "曾用名", "name"),
        _c("sex", "性别", "sex", True),
        _c("ethnicity", "民族", "code"),
        _c("birth_date", "出生日期", "date", True),
        _c("household_no", "户号", "key", True),
        _c("relation", "与户主关系", "code"),
        _c("region_code", "户籍地区划代码|户籍地址编码", "region", True),
        _c("address", "住址|户籍地址", "address"),
        _c("marital", "婚姻状况", "code"),
        _c("status", "人口状态", "code"),
        _c("registered_date", "登记日期", "date"),
    ),
    ("id_no",),
    ("subject",),
)

BIRTH_REGISTRATIONS = FeedSpec(
    "police",
    "birth_registrations",
    (
        _c("reg_no", "登记编号|业务流水号", "key", True),
        _c("child_id", "公民身份号码", "id", True),
        _c("child_name", "姓名", "name", True),
        _c("sex", "性别", "sex", True),
        _c("birth_date", "出生日期", "date", True),
        _c("birth_cert_no", "出生医学证明编号", "key"),
        _c("mother_id", "母亲公民身份号码|母亲身份证号", "id"),
        _c("father_id", "父亲公民身份号码|父亲身份证号", "id"),
        _c("household_no", "户号", "key"),
        _c("region_code", "户籍地区划代码", "region", True),
        _c("reg_date", "登记日期|申报日期", "date", True),
    ),
    ("reg_no",),
    ("child", "mother", "father"),
)

HUKOU_CANCELLATIONS = FeedSpec(
    "police",
    "hukou_cancellations",
    (
        _c("cancel_no", "注销编号|业务流水号", "key", True),
        _c("id_no", "公民身份号码", "id", True),
        _c("name", "姓名", "name", True),
        _c("reason", "注销原因", "code", True),
        _c("cancel_date", "注销日期", "date", True),
        _c("death_date", "死亡日期", "date"),
        _c("region_code", "户籍地区划代码", "region"),
    ),
    ("cancel_no",),
    ("subject",),
)

MIGRANT_REGISTRATIONS = FeedSpec(
    "police",
    "migrant_registrations",
    (
        _c("reg_no", "居住登记编号|居住证编号", "key", True),
        _c("id_no", "公民身份号码", "id", True),
        _c("name", "姓名", "name", True),
        _c("sex", "性别", "sex"),
        _c("birth_date", "出生日期", "date"),
        _c("hukou_region_code", "户籍地区划代码|户籍地", "hukou_region"),
        _c("residence_region_code", "现居住地区划代码|现住址", "region", True),
        _c("reg_date", "登记日期", "date", True),
        _c("expiry_date", "有效期至", "date"),
        _c("marital", "婚姻状况", "code"),
    ),
    ("reg_no",),
    ("subject",),
)

BIRTH_APPROVALS = FeedSpec(
    "fp",
    "birth_approvals",
    (
        _c("app_no", "申请编号|受理编号", "key", True),
        _c("wife_name", "女方姓名", "name", True),
        _c("wife_id", "女方身份证号", "id", True),
        _c("husband_name", "男方姓名", "name"),
        _c("husband_id", "男方身份证号", "id"),
        _c("category", "登记类别|生育类别", "code", True),
        _c("apply_date", "申请日期|受理日期", "date", True),
        _c("decision_date", "审批日期", "date"),
        _c("decision", "审批结果", "code"),
        _c("region_code", "户籍地区划代码|所在村(居)", "region", True),
    ),
    ("app_no",),
    ("wife", "husband"),
)

ASSISTANCE_ROLLS = FeedSpec(
    "fp",
    "assistance_rolls",
    (
        _c("id_no", "身份证号", "id", True),
        _c("name", "姓名", "name", True),
        _c("sex", "性别", "sex"),
        _c("birth_date", "出生日期", "date"),
        _c("program", "扶助项目|项目名称", "code", True),
        _c("year", "发放年度", "year", True),
        _c("amount", "发放金额|金额(元)", "money", True),
        _c("region_code", "户籍地区划代码|所在村(居)", "region", True),
    ),
    ("id_no", "program", "year"),
    ("subject",),
)

SOCIAL_FEE_CASES = FeedSpec(
    "fp",
    "social_fee_cases",
    (
        _c("case_no", "案卷号|决定书编号", "key", True),
        _c("id_no", "当事人身份证号", "id"),
        _c("name", "当事人姓名", "name", True),
        _c("decision_date", "征收决定日期", "date", True),
        _c("assessed", "应征金额", "money", True),
        _c("collected", "已征金额|实征金额", "money"),
        _c("status", "案件状态", "code"),
        _c("region_code", "户籍地区划代码", "region", True),
    ),
    ("case_no",),
    ("subject",),
)

ANNUAL_TARGETS = FeedSpec(
    "fp",
    "annual_targets",
    (
        _c("region_code", "区划代码", "code", True),
        _c("year", "年度", "year", True),
        _c("indicator", "指标", "code", True),
        _c("target", "目标值", "int", True),
    ),
    ("region_code", "year", "indicator"),
    (),
)

REGIONS = FeedSpec(
    "stats",
    "regions",
    (
        _c("code", "统计用区划代码|代码", "code", True),
        _c("name", "名称", "text", True),
        _c("level", "级别", "code", True),
        _c("parent_code", "上级代码", "code"),
        _c("urban_rural", "城乡分类代码", "code"),
    ),
    ("code",),
    (),
)

ALL_FEEDS: tuple[FeedSpec, ...] = (
    BIRTH_CERTIFICATES,
    DEATH_RECORDS,
    PRENATAL_CHECKS,
    HOUSEHOLD_REGISTRY,
    BIRTH_REGISTRATIONS,
    HUKOU_CANCELLATIONS,
    MIGRANT_REGISTRATIONS,
    BIRTH_APPROVALS,
    ASSISTANCE_ROLLS,
    SOCIAL_FEE_CASES,
    ANNUAL_TARGETS,
    REGIONS,
)
"""The 12 feeds of the contract's section 3 (health 3, police 4, fp 4, stats 1)."""

EXTRA_COLUMNS: tuple[str, ...] = ("序号", "备注", "经办人", "录入人", "数据来源", "更新标志", "录入时间")
"""Extra columns offices add (kept by the platform, ignored for loading)."""
