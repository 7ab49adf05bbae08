"""What the platform writes back to agencies (回执、工作清单): helpers that keep it safe to open.

Anything that goes to ``<outbox>/<agency>/`` may be opened by a clerk in Excel or
WPS. :mod:`popdata.outbox.safe` neutralises values that a spreadsheet would run
as a formula (CSV/公式注入).
"""

from popdata.outbox.safe import excel_safe, text_safe

__all__ = ["excel_safe", "text_safe"]
