"""Smart intake: category, department, urgency and duplicate suggestions; hotspots."""
