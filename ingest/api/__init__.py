"""The public REST API (``/api/v1/``): one module per resource, errors and auth in one place."""
