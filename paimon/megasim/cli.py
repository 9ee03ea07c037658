"""``python -m paimon.megasim`` / ``paimon megasim``: run the emulator until told to stop."""

from __future__ import annotations

import argparse
import base64
import binascii
import logging
import re
import signal
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

from paimon.megasim.accounts import Account
from paimon.megasim.cloud import Cloud
from paimon.megasim.server import MegaSimServer

logger = logging.getLogger("paimon.megasim")

DEFAULT_QUOTA_BYTES = 50 * 1024**3
BLOB_SUBDIR = "megasim-blobs"


class _Shutdown(BaseException):
    """Raised from the signal handlers to leave serve_forever() in the main thread; a
    BaseException, like KeyboardInterrupt, so no ``except Exception`` swallows it."""


TOTP_SUFFIX = re.compile(r":totp=(?P<secret>[^:]*)$")


def _credentials(value: str) -> tuple[str, str, str | None]:
    """``(email, password, TOTP secret or None)`` from ``EMAIL:PASSWORD[:totp=BASE32]``."""
    # Split on the first colon only: passwords may contain colons, emails may not.
    email, colon, password = value.partition(":")
    secret = None
    if match := TOTP_SUFFIX.search(password):
        password, secret = password[: match.start()], match["secret"].upper().rstrip("=")
        try:
            if not secret:
                raise binascii.Error
            base64.b32decode(secret + "=" * (-len(secret) % 8))
        except binascii.Error:
            raise argparse.ArgumentTypeError("the totp= secret is not base32") from None
    if not (colon and email and password):
        # The message deliberately leaves out the value: it holds a password.
        raise argparse.ArgumentTypeError("expected EMAIL:PASSWORD or EMAIL:PASSWORD:totp=BASE32")
    return email.lower(), password, secret


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="megasim",
        description="Offline MEGA emulator for tests (see docs/megasim.md).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where uploaded ciphertext is kept (default: a temporary directory)",
    )
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        type=_credentials,
        metavar="EMAIL:PASSWORD[:totp=BASE32]",
        help="a v2 (PBKDF2) account, with two-factor login if a TOTP secret is given; repeatable",
    )
    parser.add_argument(
        "--v1-account",
        action="append",
        default=[],
        type=_credentials,
        metavar="EMAIL:PASSWORD[:totp=BASE32]",
        help="an account using the old (prepare_key) login scheme; repeatable",
    )
    parser.add_argument(
        "--quota-bytes",
        type=_non_negative,
        default=DEFAULT_QUOTA_BYTES,
        help="storage quota of every account (default %(default)s = 50 GiB)",
    )
    return parser


def _blob_dir(data_dir: Path) -> Path:
    """Our own subdirectory of the data dir, emptied of blobs a previous run left behind
    (account and node state live in memory, so those blobs are unreachable)."""
    blob_dir = data_dir / BLOB_SUBDIR
    blob_dir.mkdir(parents=True, exist_ok=True)
    for stale in blob_dir.glob("*.blob"):
        stale.unlink()
    return blob_dir


def _raise_shutdown(signum: int, frame: FrameType | None) -> None:
    raise _Shutdown


def main(argv: Sequence[str] | None = None) -> int:
    """Start the emulator, print the listening line, serve until SIGTERM or SIGINT.

    Must run in the main thread (it installs signal handlers). Returns the exit code.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    credentials = [(*triple, "v2") for triple in args.account]
    credentials += [(*triple, "v1") for triple in args.v1_account]
    emails = [email for email, *_ in credentials]
    if len(set(emails)) != len(emails):
        parser.error("each account email may be given only once")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="megasim: %(message)s")

    with ExitStack() as stack:
        data_dir = args.data_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="megasim-"))
        )
        cloud = Cloud(_blob_dir(data_dir), args.quota_bytes)
        for email, password, secret, kind in credentials:
            account = Account.registered(email, password, kind, args.quota_bytes, secret)
            cloud.add_account(account)
            logger.info("account %s (%s login%s)", email, kind, ", 2FA" if secret else "")
        server = MegaSimServer(args.host, args.port, cloud)
        stack.callback(server.server_close)
        signal.signal(signal.SIGTERM, _raise_shutdown)
        signal.signal(signal.SIGINT, _raise_shutdown)
        try:  # a signal may come as soon as the line is out: be ready for it already
            print(f"megasim listening on {server.base_url}", flush=True)
            server.serve_forever()
        except _Shutdown:
            logger.info("shutting down")
    return 0
