"""The `paimon` command: `paimon doctor`, `paimon megasim`."""

from __future__ import annotations

import argparse
import sys

from paimon import __version__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="paimon", description="Paimon upload gateway tools.")
    parser.add_argument("--version", action="version", version=f"paimon {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    doctor = commands.add_parser("doctor", help="check that this environment can run Paimon")
    doctor.add_argument("--json", action="store_true", help="machine-readable report")
    doctor.add_argument(
        "--build",
        action="store_true",
        help="as scripts/build runs it: check the data directory's parts in a scratch "
        "directory, leaving PAIMON_DATA_DIR and the job store alone",
    )
    commands.add_parser(
        "megasim", help="run the offline MEGA emulator (see docs/megasim.md)", add_help=False
    )

    args, rest = parser.parse_known_args(argv)
    if args.command == "megasim":
        from paimon.megasim import main as megasim_main

        return megasim_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    from paimon.doctor import main as doctor_main

    return doctor_main(as_json=args.json, build=args.build)


if __name__ == "__main__":
    sys.exit(main())
