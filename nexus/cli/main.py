"""The `nexus` command line: the only synchronous edge of the code base."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from nexus.errors import ConfigError, NexusError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

NOISY_LIBRARIES = ("asyncua", "snap7")


def build_parser() -> argparse.ArgumentParser:
    from nexus.cli import commands

    parser = argparse.ArgumentParser(
        prog="nexus", description="NEXUS Edge: plant floor to historian"
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in commands.REGISTRARS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # the protocol libraries log every connection, session and publish response at INFO
        for name in NOISY_LIBRARIES:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"nexus: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except NexusError as exc:
        print(f"nexus: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("nexus: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
