"""Property tests of every normaliser (issue 10): any input, no exception; normalising twice changes nothing.

Hypothesis draws text from the whole of Unicode (with the characters agencies' files really
carry weighted in: CJK ideographs, full-width forms, zero-width characters, combining marks,
Excel's leading apostrophe, placeholders) and cells of every type a reader hands over (None,
bool, int, float with NaN and infinities, Decimal, date, datetime). Two properties per
normaliser:

- **total**: it returns a result (a value or a reason code) and never raises;
- **idempotent**: the normalised value, normalised again, is the same value with no error —
  a value the warehouse stores (and a re-export sends back) means the same the second time.

``HYPOTHESIS_PROFILE=reliability`` (``make test-reliability``) draws ten times as many examples.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from popdata.normalize import codes, dates, ids, text

settings.register_profile(
    "default", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "reliability", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

#: Characters the agencies' files carry beyond ASCII: ideographs (incl. compatibility ones),
#: full-width forms, the ideographic space, zero-width characters and BOMs, combining marks.
_AGENCY_CHARS = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0xF900, max_codepoint=0xFAFF),
    st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),
    st.sampled_from(
        ["\u3000", "\u200b", "\u200c", "\u200d", "\ufeff", "\u00a0", "'", " ", "\t", "\n", "\u0301"]
    ),
    st.sampled_from(list("年月日号时分秒第胎孩元万整男女不详无其他-/.:0123456789Xx")),
)
TEXT = st.one_of(
    st.text(), st.text(alphabet=_AGENCY_CHARS), st.text(alphabet=st.one_of(_AGENCY_CHARS, st.characters()))
)
CELLS = st.one_of(
    st.none(),
    TEXT,
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.dates(),
    st.datetimes(),
)
ID_SHAPED = st.one_of(
    st.from_regex(r"[0-9]{17}[0-9Xx]", fullmatch=True),
    st.from_regex(r"[0-9]{15}", fullmatch=True),
    st.from_regex(r"[ '\uff10-\uff19]{0,2}[0-9\uff10-\uff19]{14,19}[Xx\uff38]?[ ]?", fullmatch=True),
    st.from_regex(r"[0-9]\.[0-9]{5,16}[eE]\+?1[4-7]", fullmatch=True),
)
DATE_SHAPED = st.one_of(
    st.from_regex(
        r"[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}( [0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2})?)?", fullmatch=True
    ),
    st.from_regex(r"[0-9]{4}年[0-9]{1,2}月[0-9]{1,2}[日号]?", fullmatch=True),
    st.from_regex(r"[0-9]{8}([0-9]{4,6})?", fullmatch=True),
    st.from_regex(r"[0-9]{5}(\.[0-9]{1,6})?", fullmatch=True),
)


# ------------------------------------------------------------------------------------ text


@given(TEXT)
@example("''120115")  # found by this test: one apostrophe was stripped per pass
@example("e\u200d\u0301")  # found by this test: NFKC ran before the zero-width joiner went
def test_clean_text_is_total_and_idempotent(value: str) -> None:
    once = text.clean_text(value)
    assert once is None or (once and once == once.strip())
    assert text.clean_text(once) == once


@given(TEXT)
def test_clean_name_text_is_total_and_idempotent(value: str) -> None:
    once = text.clean_name_text(value)
    assert text.clean_name_text(once) == once


@given(CELLS)
@example(Decimal("sNaN"))  # found by this test: comparing a signalling NaN raised
def test_cell_text_is_total_and_idempotent(value: object) -> None:
    once = text.cell_text(value)
    assert once is None or isinstance(once, str)
    assert text.cell_text(once) == once


@given(st.lists(st.one_of(st.none(), TEXT), max_size=8))
@example(["\ud800"])  # found by this test: OpenCC refused a lone surrogate (damaged text)
def test_to_simplified_is_total_and_idempotent(values: list[str | None]) -> None:
    once = text.to_simplified(values)
    assert len(once) == len(values)
    assert text.to_simplified(once) == once


@given(TEXT)
def test_text_predicates_are_total(value: str) -> None:
    assert isinstance(text.is_damaged(value), bool)
    assert isinstance(text.has_traditional(value), bool)
    assert isinstance(text.is_placeholder(value), bool)


# ------------------------------------------------------------------------------------ identity numbers


@given(st.one_of(st.none(), TEXT, ID_SHAPED))
def test_parse_id_is_total_and_idempotent(value: str | None) -> None:
    once = ids.parse_id(value)
    assert once.valid == (once.reason is None and once.value is not None)
    again = ids.parse_id(once.value)
    assert again.value == once.value
    assert again.valid == once.valid
    if once.valid:
        assert again.reason is None and len(again.value or "") == 18


# ------------------------------------------------------------------------------------ dates


@given(st.one_of(CELLS, DATE_SHAPED), st.booleans())
@example(Decimal("sNaN"), False)  # found by this test
def test_parse_date_is_total_and_idempotent(value: object, allow_time: bool) -> None:
    once = dates.parse_date(value, allow_time=allow_time)
    assert once.value is None or isinstance(once.value, date)
    assert not (once.value is not None and once.error is not None)
    if once.value is None:
        return
    for stored in (once.value, once.value.isoformat()):
        again = dates.parse_date(stored, allow_time=allow_time)
        assert (again.value, again.error) == (once.value, None), stored
    if once.time is not None:
        again = dates.parse_date(datetime.combine(once.value, once.time), allow_time=True)
        assert (again.value, again.time) == (once.value, once.time)


# ------------------------------------------------------------------------------------ coded values


@given(st.one_of(CELLS, st.sampled_from(["男", "女", "M", "f", "1", "2", "0", "9", "未知", "男性", "Ｆ"])))
def test_parse_sex_is_total_and_idempotent(value: object) -> None:
    code, error = codes.parse_sex(value)
    assert code is None or code in {"0", "1", "2", "9"}
    if code is not None:
        assert error is None and codes.parse_sex(code) == (code, None)


@given(
    st.one_of(
        CELLS, st.from_regex(r"(人民币|RMB|¥|￥)?[0-9,]{1,12}(\.[0-9]{1,4})?(万)?(元整|元)?", fullmatch=True)
    )
)
@example(1.645600129953092e16)  # found by this test: a Decimal in exponent form read back as text
@example(-0.0)
def test_parse_money_is_total_and_idempotent(value: object) -> None:
    amount, error = codes.parse_money(value)
    assert amount is None or (isinstance(amount, Decimal) and amount >= 0)
    if amount is not None:
        assert error is None
        assert codes.parse_money(amount) == (amount, None)
        assert codes.parse_money(format(amount, "f")) == (amount, None)


@given(st.one_of(CELLS, st.from_regex(r"[+-]?[0-9,]{1,12}(\.0*)?", fullmatch=True)))
def test_parse_int_is_total_and_idempotent(value: object) -> None:
    number, error = codes.parse_int(value)
    if number is not None:
        assert error is None and isinstance(number, int)
        assert codes.parse_int(number) == (number, None)
        assert codes.parse_int(str(number)) == (number, None)


@given(
    st.one_of(
        CELLS,
        st.from_regex(
            r"第?([0-9]{1,2}|[一二两三四五六七八九十]{1,3})(胎|孩|个孩子|个|孩子)?", fullmatch=True
        ),
    )
)
def test_parse_birth_order_is_total_and_idempotent(value: object) -> None:
    order, error = codes.parse_birth_order(value)
    if order is not None:
        assert error is None and 1 <= order <= 20
        assert codes.parse_birth_order(order) == (order, None)
        assert codes.parse_birth_order(str(order)) == (order, None)


@given(st.one_of(CELLS, st.from_regex(r"[0-9]{6}([0-9]{3}){0,2}(\.0+)?", fullmatch=True)))
def test_parse_region_is_total_and_idempotent(value: object) -> None:
    region = codes.parse_region(value)
    assert region.code is None or len(region.code) == 12
    if region.code is not None:
        assert region.error is None
        assert codes.parse_region(region.code) == region
