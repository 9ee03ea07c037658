"""MEGA's error codes, as the emulator answers them, and the exception that carries one."""

from __future__ import annotations

EARGS = -2
ERANGE = -7
EEXPIRED = -8
ENOENT = -9
ECIRCULAR = -10
EACCESS = -11
ESID = -15
EOVERQUOTA = -17


class ApiError(Exception):
    """Raised by a command handler to answer a MEGA error code instead of a result."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code
