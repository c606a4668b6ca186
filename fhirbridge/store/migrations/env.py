"""Alembic environment: migrates the connection fhirbridge hands over (store.engine.upgrade)."""

from alembic import context
from sqlmodel import SQLModel

from fhirbridge.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
)
with context.begin_transaction():
    context.run_migrations()
