"""The test suite's one support package: every helper more than one test module uses.

- ``servers``: gunicorn with Paimon as deployed, its fixtures (``server_factory``,
  ``local_server``, ``mega_server``, ``tmpfs``), ``eventually``, a server's workers.
- ``megasim``: the MEGA emulator's fixtures (``megasim``, a module's own ``sim``), its
  accounts, the stock client, running its command line, protocol-level requests.
- ``redis``: a real redis-server (``redis_server``, ``redis_db``).
- ``jobstores``: the job store fixtures (``store``: SQLite and Redis) and helpers.
- ``uploads``: sending uploads (multipart, PUT, tus), a job's view and downloads, and
  waiting for a job to finish.
- ``mega``: the MEGA backend on the emulator, reading back what it stored.
- ``rawhttp``: requests written byte by byte, slow bodies.
- ``browser``: headless Chromium (``browser``), dropping files on the upload page.
- ``media``: small real images, sound and PDF, and other formats' first bytes.
- ``logs``, ``doctor``, ``locks``, ``newcomer``: a server's log lines, ``paimon doctor
  --json``, the lock files, the README's commands in a fresh clone.
- ``webhooks``: the ``receiver`` fixture (paimon_devtools/receiver.py), a server's
  settings that send to it, events checked with the Standard Webhooks library.
- ``known_secrets``: the secrets the suite configures, scanned for in every server log.
- ``crosscheck_driver.py``, ``schemathesis_hooks.py``, ``schemathesis.toml``: run by
  other processes (async-mega-py's venv, schemathesis).

The fixture modules are pytest plugins, registered in tests/conftest.py.
"""
