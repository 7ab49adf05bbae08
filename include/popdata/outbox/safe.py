"""Formula-injection (CSV injection, 公式注入) safety for every value written back to an agency.

A clerk opens receipts and work lists in Excel or WPS. A cell whose text starts
with ``=``, ``+``, ``-`` or ``@`` (or a tab / carriage return, which Excel's
import treats as a cell boundary before such a character) is run as a formula:
``=HYPERLINK(...)`` leaks data, ``=cmd|' /C calc'!A0`` (DDE) runs a program.

The rule (OWASP "CSV Injection"): prefix such a value with a single quote
``'``; the spreadsheet then shows it as text and never evaluates it. This module
applies that rule, with these decisions:

- **Plain numbers are data, not formulas.** ``-12``, ``+3``, ``-1,200.50``,
  ``-1.5E+3`` are left as they are: a spreadsheet reads them as numbers and no
  function can be called from a number. Anything else that starts with a
  trigger (``-2+3+cmd|...``, ``-A1``, ``+86 138...`` with a space) is escaped.
- **Full-width triggers** (``＝ ＋ － ＠``, common in Chinese input) are
  escaped too: some spreadsheet versions with a Chinese or Japanese input method
  fold them to their ASCII forms.
- **Leading white space does not hide a trigger**: ``"  =1+1"`` is escaped,
  because some importers trim cells before they evaluate them.
- A value that already starts with ``'`` is left alone, so escaping twice
  changes nothing (:func:`excel_safe` is idempotent).

The warehouse keeps values exactly as sent; escaping happens only on the way out.
"""

from __future__ import annotations

import re

__all__ = ["FORMULA_TRIGGERS", "excel_safe", "text_safe"]

#: Characters that make a spreadsheet cell a formula (or a cell boundary before one).
FORMULA_TRIGGERS = frozenset("=+-@\t\r\n" + "＝＋－＠")

_ESCAPE = "'"
_LEADING_SPACE = " \u3000\u00a0"  # space, ideographic space (全角空格), no-break space
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def excel_safe(value: str | None) -> str | None:
    """``value`` made safe to show in a spreadsheet cell: a formula-like value gets a leading ``'``.

    ``None`` stays ``None``; plain numbers such as ``-12`` stay as they are (see the
    module docstring for the reasons).

    >>> excel_safe("=1+1"), excel_safe("-12"), excel_safe("张三"), excel_safe("@SUM(A1)")
    ("'=1+1", '-12', '张三', "'@SUM(A1)")
    """
    if value is None or value == "":
        return value
    stripped = value.lstrip(_LEADING_SPACE)
    if not stripped:
        return value
    first = stripped[0]
    if first not in FORMULA_TRIGGERS:
        return value
    if first in "+-" and _PLAIN_NUMBER.fullmatch(stripped):
        return value
    return _ESCAPE + value


def text_safe(value: str | None) -> str | None:
    """``value`` for one line of a plain-text report: control characters shown escaped, then :func:`excel_safe`.

    A tab, carriage return or line feed inside an agency's value (a file name may
    hold one) would otherwise start a new cell or a new line when the report is
    opened in a spreadsheet or read by a clerk; they are shown as ``\\t``,
    ``\\r``, ``\\n`` (other controls as ``\\xNN``).

    >>> text_safe("a\\tb"), text_safe("=1\\n2")
    ('a\\\\tb', "'=1\\\\n2")
    """
    if value is None:
        return None
    return excel_safe(_CONTROL.sub(_escape_control, value))


def _escape_control(match: re.Match[str]) -> str:
    """The visible escape of one control character."""
    char = match.group(0)
    named = {"\t": "\\t", "\r": "\\r", "\n": "\\n"}
    if char in named:
        return named[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
