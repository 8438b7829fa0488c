"""Events: the append-only, hash-chained history of every case."""
