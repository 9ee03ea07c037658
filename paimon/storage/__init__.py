"""Storage backends: where accepted uploads end up. See base.py for the interface; the
composition root (paimon/bootstrap/wiring.py) chooses one."""
