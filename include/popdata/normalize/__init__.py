"""Pure value normalisers for agency extracts (contract section 2): no I/O, no database.

- :mod:`popdata.normalize.text` — cleaning (全角, U+3000, Excel apostrophe), placeholders,
  damaged text (乱码), Traditional→Simplified (OpenCC t2s).
- :mod:`popdata.normalize.ids` — resident identity numbers (公民身份号码, GB 11643-1999).
- :mod:`popdata.normalize.dates` — dates, date-times and Excel serials.
- :mod:`popdata.normalize.codes` — sex (GB/T 2261.1), money, integers, birth order,
  region codes (统计用区划代码) and region-name resolution.

Reason and warning codes are short snake_case constants exported by each module; they end
up in receipts and ``audit.rejected_rows.reason_code``. The ``parse_*s`` batch functions
memoise on the raw value and are meant for 1 M-row columns.
"""

from popdata.normalize.codes import (
    BIRTH_ORDER_UNPARSEABLE,
    INT_UNPARSEABLE,
    MONEY_UNPARSEABLE,
    REGION_AMBIGUOUS,
    REGION_UNPARSEABLE,
    REGION_UNRESOLVED,
    SEX_UNKNOWN_CODE,
    RegionCode,
    RegionResolver,
    parse_birth_order,
    parse_int,
    parse_money,
    parse_region,
    parse_regions,
    parse_sex,
    sex_to_mart,
)
from popdata.normalize.dates import DATE_IMPOSSIBLE, DATE_UNPARSEABLE, ParsedDate, parse_date, parse_dates
from popdata.normalize.ids import (
    ID_BAD_BIRTH_DATE,
    ID_BAD_CHARACTERS,
    ID_BAD_CHECK_CHAR,
    ID_BAD_LENGTH,
    ID_BLANK,
    ID_SCIENTIFIC_NOTATION,
    ID_UNKNOWN_ADDRESS_CODE,
    IdNumber,
    parse_id,
    parse_ids,
)
from popdata.normalize.text import (
    DAMAGED_TEXT,
    DATE_PLACEHOLDERS,
    PLACEHOLDERS,
    cell_text,
    clean_text,
    has_traditional,
    is_damaged,
    is_placeholder,
    to_simplified,
)

__all__ = [
    "BIRTH_ORDER_UNPARSEABLE",
    "DAMAGED_TEXT",
    "DATE_IMPOSSIBLE",
    "DATE_PLACEHOLDERS",
    "DATE_UNPARSEABLE",
    "ID_BAD_BIRTH_DATE",
    "ID_BAD_CHARACTERS",
    "ID_BAD_CHECK_CHAR",
    "ID_BAD_LENGTH",
    "ID_BLANK",
    "ID_SCIENTIFIC_NOTATION",
    "ID_UNKNOWN_ADDRESS_CODE",
    "INT_UNPARSEABLE",
    "MONEY_UNPARSEABLE",
    "PLACEHOLDERS",
    "REGION_AMBIGUOUS",
    "REGION_UNPARSEABLE",
    "REGION_UNRESOLVED",
    "SEX_UNKNOWN_CODE",
    "IdNumber",
    "ParsedDate",
    "RegionCode",
    "RegionResolver",
    "cell_text",
    "clean_text",
    "has_traditional",
    "is_damaged",
    "is_placeholder",
    "parse_birth_order",
    "parse_date",
    "parse_dates",
    "parse_id",
    "parse_ids",
    "parse_int",
    "parse_money",
    "parse_region",
    "parse_regions",
    "parse_sex",
    "sex_to_mart",
    "to_simplified",
]
