"""Domain operations: what a change means, between the HTTP handlers (``ingest.api``) and storage
(``ingest.store``). Handlers parse, call one of these and answer; the worker calls the same ones."""
