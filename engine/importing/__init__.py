"""History import: case exports of other systems (Boston 311, Open311, any CSV) into Whistle.

Readers turn source rows into ``Record``s or ``Reject``s; ``service.run_import`` places records in
the organisation (``catalogue``) and writes them in batches (``bulk``), rejects to a CSV.
"""
