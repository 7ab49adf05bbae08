"""Schema migrations of the warehouse (Alembic), callable from the CLI and the DAGs."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for the warehouse at ``url`` (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError("no migrations found")
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the warehouse is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_head(engine: sa.Engine) -> str:
    """Check that the warehouse is at this code's head revision (what a task needs before it runs).

    The pipeline's role may not migrate (only the platform does: ``popdata db upgrade``, which
    ``popdata run`` and ``make up`` run first).

    Raises:
        RuntimeError: the login is refused (e.g. its role does not exist yet), or the warehouse is
            empty or at another revision.
    """
    try:
        current = current_revision(engine)
    except sa.exc.OperationalError as exc:
        login = engine.url.username or "(default user)"
        raise RuntimeError(
            f"cannot connect to the warehouse as {login}: {str(exc.orig).strip()}; the login roles come "
            "with `popdata db upgrade` (run by the platform), their passwords with `popdata db logins`"
        ) from exc
    head = head_revision()
    if current != head:
        raise RuntimeError(
            f"the warehouse is at revision {current or '(none)'} and this code needs {head}: "
            "run `popdata db upgrade` as the platform's role first"
        )
    return head


def upgrade(engine: sa.Engine, revision: str = "head") -> str | None:
    """Upgrade the warehouse to ``revision``, then add the core tables of feeds no migration knows.

    A no-op when everything is there already.
    """
    if not (revision == "head" and current_revision(engine) == head_revision()):
        command.upgrade(alembic_config(engine.url.render_as_string(hide_password=False)), revision)
    if revision == "head":
        from popdata.config.feeds import default_feeds
        from popdata.warehouse.feed_tables import ensure_feed_tables

        ensure_feed_tables(engine, default_feeds())
    return current_revision(engine)


def downgrade(engine: sa.Engine, revision: str) -> str | None:
    """Downgrade the warehouse to ``revision`` (what each migration's ``downgrade`` says is lost, is)."""
    command.downgrade(alembic_config(engine.url.render_as_string(hide_password=False)), revision)
    return current_revision(engine)
