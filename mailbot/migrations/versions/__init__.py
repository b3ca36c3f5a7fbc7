"""The Alembic revisions, one module per schema change, chained by down_revision."""
