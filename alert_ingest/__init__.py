"""The ``alert-ingest`` command: the entry point above both processes.

``alert_ingest.cli`` parses the command line and starts the api (``ingest``) or a worker
(``worker``); ``alert_ingest.dev`` runs both with an embedded Redis for the one-command demo.
Dependencies run one way: ``alert_ingest -> worker -> ingest -> templates_engine``.
"""
