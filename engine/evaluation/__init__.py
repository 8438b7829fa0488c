"""Evaluation 考核: the three rates, rollups kept with the events, rankings and year-end reports."""
