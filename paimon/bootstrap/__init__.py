"""The composition root: the one place that reads settings and builds Paimon's parts.

``process`` holds what a process runs with (its settings, loaded once, and how many
workers and threads it serves with); it imports nothing of the app, so gunicorn's
master reads it before the metrics directory exists. ``wiring`` builds every adapter
and use case from the settings, handing each the plain values it needs, and wraps them
in the Flask app. gunicorn.conf.py, the WSGI module, the worker class, the server hooks
and ``paimon doctor`` all go through here; nothing below the web layer reads settings.
"""
