"""Alembic environment for 童助.

Two ways in:
- from the app (storage/migrate.py): `config.attributes["connection"]` is a connection of the app's
  own engine, already inside a transaction (on SQLite `BEGIN IMMEDIATE`, see storage/db.py); the
  migrations run in that transaction and the caller commits.  Logging is left as the app set it.
- from the command line (`alembic -c storage/alembic.ini …`): an engine is made from DATABASE_URL
  (storage.db.database_url(), or `-x url=…`) with the app's settings, migrations run in one
  transaction.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )


def _url() -> str:
    from storage.db import database_url

    return context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url") \
        or database_url()


def run_migrations_offline() -> None:
    url = _url()
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=url.startswith("sqlite"), dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():  # a no-op inside the caller's transaction
            context.run_migrations()
        return
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    from storage.db import make_engine

    engine = make_engine(_url(), migrate=False)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                from storage.migrate import LOCK_KEY
                from sqlalchemy import text

                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
