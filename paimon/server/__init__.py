"""Gunicorn and WSGI plumbing, below Flask: the worker class, the socket body reader,
the slow-body guard, and the hooks gunicorn.conf.py hands to gunicorn."""
