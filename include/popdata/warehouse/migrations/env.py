"""Alembic environment of the warehouse: runs online against the URL the caller configured.

An advisory lock serialises concurrent upgrades (two DAG tasks may ask at once).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

MIGRATION_LOCK = 715_001  # pg_advisory_lock key for schema upgrades

config = context.config


def run_migrations_online() -> None:
    """Run the migrations in one transaction under an advisory lock."""
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connectable)


def _run(connection: sa.Connection) -> None:
    connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
    try:
        context.configure(connection=connection, transactional_ddl=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    except BaseException:
        connection.rollback()  # keep the original error; the unlock below needs a live transaction
        raise
    finally:
        connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
        connection.commit()


run_migrations_online()
