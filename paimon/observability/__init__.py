"""Observability: JSON log lines, request ids and Prometheus metrics (docs/observability.md).

``logs`` and ``multiproc`` import neither Flask nor prometheus_client, so gunicorn's
master can use them before any worker has set up metrics.
"""
