"""Webhooks out: the events of paimon/jobs/outbox.py, signed as the Standard Webhooks
specification says and sent from the outbox by every worker's sender (sender.py)."""
