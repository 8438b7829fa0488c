"""Assignments: one per department (lead or assisting) on a case, with their own machine."""
