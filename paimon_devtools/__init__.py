"""Development tools shared by the test suite and ``scripts/bench``; never shipped.

``servers`` starts a gunicorn running Paimon as deployed, ``megasim`` the MEGA emulator
with its test accounts and a stock mega.py client aimed at it, ``processes`` stops
them; ``bench`` is the benchmark behind ``scripts/bench``. Nothing here imports pytest
or ``tests``, so the benchmark runs from a checkout with only the runtime and dev
dependencies; the pytest fixtures stay in ``tests/`` as thin wrappers. It lives beside
``paimon/``, not in it: the product must not import the emulator (import-linter,
pyproject.toml), and the wheel packages only ``paimon``.
"""
