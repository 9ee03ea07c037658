"""The exception a command handler raises to answer one of MEGA's error codes."""

from __future__ import annotations


class ApiError(Exception):
    """Raised by a command handler to answer a MEGA error code instead of a result."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code
