"""The HTTP layer (Flask): the app factory, auth, limits, errors, replies, and one
blueprint per route module in ``routes``."""
