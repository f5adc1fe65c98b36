"""Storage of alert-ingest records in Redis: one module per kind of record, keys in ``keys``."""
