"""Alembic's environment and the schema revisions; run them through ``engine.migrate``."""
