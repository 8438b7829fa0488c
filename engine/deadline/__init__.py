"""Deadlines: one row per running clock, opened, moved and closed with the state change."""
