"""Durable upload jobs: the model, the store interface, and the two stores (SQLite and
Redis); the composition root (paimon/bootstrap/wiring.py) chooses one."""
