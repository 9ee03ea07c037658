"""glibc's malloc tuned for many threads that each hold little (docs/architecture.md,
"Many slow clients").

A held slow upload costs one thread. With glibc's defaults each thread keeps a cache
of freed blocks (tcache) and threads spread over up to 8 arenas per core, which
together cost about 20 KiB per held upload and buy nothing for a thread that mostly
waits on its socket. glibc reads its tunables only when a process starts, so the
gunicorn master starts itself once more with them set; its workers inherit them.
"""

from __future__ import annotations

import os
import sys

VARIABLE = "GLIBC_TUNABLES"
#: No per-thread cache, and at most two arenas for all the threads of a process.
LEAN_MALLOC = ("glibc.malloc.tcache_count=0", "glibc.malloc.arena_max=2")


def uses_glibc() -> bool:
    """True where GLIBC_TUNABLES means something (not musl, not macOS)."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError, AttributeError):
        return False


def restart_with_lean_malloc() -> None:
    """Replace this process with itself, same pid and arguments, with LEAN_MALLOC added
    to GLIBC_TUNABLES; nothing when the operator already tunes glibc's malloc there (their
    choice wins) or when the C library is not glibc."""
    tunables = os.environ.get(VARIABLE, "")
    if "glibc.malloc." in tunables or not uses_glibc():
        return
    os.environ[VARIABLE] = ":".join(filter(None, (tunables, *LEAN_MALLOC)))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, sys.orig_argv)  # noqa: S606 - the same program, restarted
