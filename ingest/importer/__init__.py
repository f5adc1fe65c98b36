"""``alert-ingest import oncall``: move a running Grafana OnCall over, keeping every link.

``client`` reads OnCall's public API (pages, 429), ``source`` types what it read, ``state`` reads
what our organization holds, ``plan``, ``plan_routes`` and ``plan_webhooks`` decide per object
(create, update, unchanged, skip, conflict) with the public API's own validation, ``apply`` writes
through the same functions as the API, ``report`` prints, and ``command`` is the command line.
"""
