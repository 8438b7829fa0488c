"""The figures core every writer of a case shares.

Contributions, metrics, the rollup table and its upsert, and the evaluation scheme: below both
the case aggregate (which adds to the rollups live) and the evaluation (which reads and recomputes).
"""
