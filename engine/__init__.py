"""Whistle's core: organisation, cases, assignments, clocks, events and the use-case services.

Nothing here imports the faces (``api/``) or the workers (``workers/``); they call in, never out.
"""
