"""The sections of the population-data view, each built from the warehouse by its module's ``build``.

Every module here exposes ``build(conn: sqlalchemy.Connection) -> popdata.dashboard.model.Section``:
read-only queries over ``mart``, ``audit`` and counts of ``ops``; no raw identifiers. Links in
cells (``Cell.href``) are relative to the view's root (``data-docs/...``, ``receipts/...``): the
web app serves them, the run report (a file in the outbox) shows the text without the link.
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa

from popdata.dashboard.model import Section, SectionKey

SECTION_KEYS: tuple[SectionKey, ...] = ("drops", "villages", "quality", "linkage", "reconciliation")
"""The sections in the order of the navigation and of the run report."""


def build_section(conn: sa.Connection, key: SectionKey) -> Section:
    """Build one section by its key."""
    if key not in SECTION_KEYS:
        raise KeyError(f"no section {key!r}; sections: {', '.join(SECTION_KEYS)}")
    module = importlib.import_module(f"popdata.dashboard.sections.{key}")
    section: Section = module.build(conn)
    return section


def build_sections(conn: sa.Connection) -> list[Section]:
    """Every section, in :data:`SECTION_KEYS` order."""
    return [build_section(conn, key) for key in SECTION_KEYS]
