"""Workflows as data: the schema, the loader, the shared state machines and their diagrams."""
