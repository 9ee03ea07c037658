"""The secrets the test suite configures (not `secrets.py`: that would shadow the
standard library module on sys.path), distinctive so that a leak is unmistakable.

Tests that set a password or token take it from here, and tests register the job ids
and keys their servers handed out in ``CREATED``; at the end of the run every log
a test server wrote is searched for each of them (tests/conftest.py,
``_no_secret_in_any_server_log``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path

from paimon_devtools.megasim import V2_PASSWORD

TOKEN = "tok-7c1e5a90-secret-never-logged"
#: The webhook tests' secret, in the whsec_ form (tests/support/webhooks.py).
WEBHOOK_KEY = "webhook-secret-3e9a71c4-never-logged"  # the bytes the whsec_ form stands for
WEBHOOK_SECRET = "whsec_" + base64.b64encode(WEBHOOK_KEY.encode()).decode()
SECOND_TOKEN = "tok-2b8d44f1-secret-never-logged"
# Presented by clients but wrong: a server must not log what it refused either.
WRONG_TOKEN = "tok-guess-0e93aa7d-never-logged"
# Reaches the server only in a malformed header line, which gunicorn used to quote.
MALFORMED_LINE_TOKEN = "tok-3f6c0b2e-in-a-broken-header"
# Sent as raw UTF-8 bytes: the comparison must see the bytes, not latin-1 mojibake.
UNICODE_TOKEN = "jeton-sécurisé-東京-never-logged"
REDIS_PASSWORD = "redispw-91d04c7e-never-logged"
# An owner's token (PAIMON_ADMIN_TOKENS), configured as "owner=<it>".
ADMIN_TOKEN = "adm-5e0b7c3d-secret-never-logged"
MEGA_PASSWORD = "megapw-5d2a7e13-never-logged"
METRICS_TOKEN = "metrics-4a1f93c2-never-logged"
# The S3 server's secret key (tests/support/s3.py), and one it refuses.
S3_SECRET_KEY = "s3secret-8c2e61d4-never-logged"
WRONG_S3_SECRET_KEY = "s3secret-wrong-b7a3f0e9-never-logged"

ALL = (
    TOKEN,
    SECOND_TOKEN,
    WRONG_TOKEN,
    MALFORMED_LINE_TOKEN,
    UNICODE_TOKEN,
    REDIS_PASSWORD,
    S3_SECRET_KEY,
    WRONG_S3_SECRET_KEY,
    ADMIN_TOKEN,
    MEGA_PASSWORD,
    METRICS_TOKEN,
    V2_PASSWORD,  # the emulator account's password, which the MEGA tests configure
    WEBHOOK_SECRET,
    WEBHOOK_KEY,
)


# Bearer secrets servers handed out (job ids, download keys, tus upload ids), added by
# the tests that created them: no log may hold them either, only their references.
CREATED: list[str] = []

# Every log a test server writes (tests/support/servers.py, start_server), scanned at the
# end (tests/conftest.py).
SERVER_LOGS: list[Path] = []


def leaks(texts: Iterable[tuple[str, str]]) -> list[str]:
    """``where: secret`` for every secret found in the (where, text) pairs."""
    secrets = (*ALL, *CREATED)
    return [f"{where}: {secret!r}" for where, text in texts for secret in secrets if secret in text]


def leaks_in_files(paths: Iterable[Path]) -> list[str]:
    return leaks((str(p), p.read_text(errors="replace")) for p in paths if p.exists())
