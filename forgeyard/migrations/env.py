"""Alembic environment: one metadata (SQLModel's), SQLite or PostgreSQL.

The platform's tables live in the kernel (``forgeyard.models``,
``forgeyard.records``). Tables a tool package owns (the logistics example's
bookings) are announced through the ``forgeyard.tables`` entry-point group and
imported here by name, so the kernel never depends on a tool package.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from alembic import context
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel

import forgeyard.models  # noqa: F401 - registers the tables
import forgeyard.records.rewards  # noqa: F401
import forgeyard.records.training  # noqa: F401

for _entry in entry_points(group="forgeyard.tables"):
    importlib.import_module(_entry.value)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
