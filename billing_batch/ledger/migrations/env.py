"""Alembic environment: migrations run on the connection billing-batch hands over (db.py). An
office in its own PostgreSQL schema keeps Alembic's version table there too."""

from alembic import context

from billing_batch.ledger.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  compare_type=True, version_table_schema=context.config.attributes.get("version_table_schema"))
with context.begin_transaction():
    context.run_migrations()
