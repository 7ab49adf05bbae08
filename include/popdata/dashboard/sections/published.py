"""What the view reads beyond ``mart`` and ``audit`` tables: the two views migration 0012 publishes.

The view logs in as ``popdata_view`` (a member of ``popdata_dashboard``), which reads neither
``core`` nor ``ops``: the names of the regions come from ``mart.region_names`` and the sizes of
the work lists from ``audit.work_list_sizes`` (never their rows). docs/security.md.
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa


class ListSize(NamedTuple):
    """The size of one work list in ``ops``."""

    rows: int
    """Rows of the list (pairs, for the clerical review queue)."""
    records: int
    """Distinct records (record roles in doubt, for the clerical review queue; else the rows)."""


def work_list_sizes(conn: sa.Connection) -> dict[str, ListSize]:
    """Work list (the ``ops`` table's name) → its size, from ``audit.work_list_sizes``."""
    rows = conn.execute(sa.text("SELECT work_list, list_rows, records FROM audit.work_list_sizes"))
    return {str(name): ListSize(int(list_rows), int(records)) for name, list_rows, records in rows}


def region_names(conn: sa.Connection) -> dict[str, str]:
    """12-digit region code → name, from the latest region reference (empty when none is loaded)."""
    rows = conn.execute(sa.text("SELECT region_code, name FROM mart.region_names"))
    return {str(code): str(name) for code, name in rows}
