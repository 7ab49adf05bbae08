"""Reviewed SQL scripts in ``warehouse/sql/``: statements separated by lines ``-- statement``.

One reader for the publish-time marts (``mart_population.sql``…) and the reconciliation scripts
(``reconcile_*.sql``): split on the separator lines, drop comment lines, run each statement
with the bound parameters it names (``:reference_date``, ``:file_id``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SQL_DIR = Path(__file__).resolve().parent / "sql"


def statements(script: str) -> list[str]:
    """Split a script on lines ``-- statement``; drop comment lines and empty statements."""
    out = []
    for chunk in re.split(r"(?m)^-- statement\s*$", script):
        body = "\n".join(line for line in chunk.splitlines() if not line.strip().startswith("--")).strip()
        if body:
            out.append(body)
    return out


def bound(body: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a statement uses (``:name`` appears in it, not as a ``::type`` cast)."""
    return {k: v for k, v in params.items() if re.search(rf"(?<!:):{k}\b", body)}


def run_script(conn: sa.Connection, name: str, params: Mapping[str, Any] | None = None) -> None:
    """Run ``sql/<name>`` statement by statement in the caller's transaction."""
    for body in statements((SQL_DIR / name).read_text(encoding="utf-8")):
        conn.execute(sa.text(body), bound(body, params or {}))
