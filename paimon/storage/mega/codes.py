"""MEGA's error codes: one table for the client and the emulator, so they agree."""

EINTERNAL = -1
EARGS = -2
EAGAIN = -3
ERATELIMIT = -4
EFAILED = -5
ETOOMANY = -6
ERANGE = -7
EEXPIRED = -8  # upload URL expired
ENOENT = -9
ECIRCULAR = -10
EACCESS = -11
EEXIST = -12
EINCOMPLETE = -13
EKEY = -14  # a chunk's checksum (``?d=``/``?c=``) does not match its body: send it again
ESID = -15  # unknown or expired session
EBLOCKED = -16
EOVERQUOTA = -17
ETEMPUNAVAIL = -18
ETOOMANYCONNECTIONS = -19
EMFAREQUIRED = -26  # the account has 2FA: ``us`` needs a valid ``mfa`` code

#: Codes that mean "nothing happened, try again later".
TRANSIENT_CODES = frozenset({EAGAIN, ERATELIMIT, ETOOMANY, ETEMPUNAVAIL, ETOOMANYCONNECTIONS})
