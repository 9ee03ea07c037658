"""Loaded by `st run` (SCHEMATHESIS_HOOKS) in tests/server/test_fuzz_http.py.

tus sends chunks as ``application/offset+octet-stream``, which schemathesis has no
serializer for; they are plain bytes, sent like ``application/octet-stream``.
"""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
