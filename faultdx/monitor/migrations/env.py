"""Alembic environment: migrations run on the connection :func:`faultdx.monitor.db.upgrade` hands over
(programmatic only; there is no alembic.ini)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
