"""`livenode keys generate DIR [--force]`: the CURVE keys of a node's tcp bus.

Writes a server and a client key pair (see `livenode.bus.curve` for the layout),
the directory 0700 and the secret files 0600, and prints every file written.
Existing keys are kept (exit 1) unless ``--force``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from livenode.bus.curve import CurveKeyError, generate_keys

EXIT_OK = 0
EXIT_FAILURE = 1


def add_keys_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``keys generate DIR [--force]`` on `subparsers`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "keys", help="manage the CURVE keys of the tcp message bus",
        description="Manage the CURVE keys that secure a tcp message bus "
                    "(message_bus.curve_keys_dir).",
    )
    commands = parser.add_subparsers(dest="keys_command", metavar="{generate}")
    commands.required = True
    generate = commands.add_parser(
        "generate", help="write a server and a client key pair into DIR",
        description="Write a server and a client CURVE key pair into DIR (created 0700; "
                    "secret files 0600). Point message_bus.curve_keys_dir at DIR.",
    )
    generate.add_argument("dir", help="directory for the keys (created if missing)")
    generate.add_argument(
        "--force", action="store_true",
        help="replace existing keys (processes using the old keys can no longer connect)",
    )
    parser.set_defaults(command="keys", func=run_keys_command)
    return parser


def run_keys_command(args: argparse.Namespace) -> int:
    """Run ``keys generate`` for parsed `args`; return the exit code."""
    if args.keys_command != "generate":
        print(f"error: unknown keys command {args.keys_command!r}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        written = generate_keys(args.dir, force=args.force)
    except CurveKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    for path in written:
        kind = "secret" if path.name.endswith("_secret") else "public"
        print(f"wrote {path} ({kind})")
    print(f"set message_bus.curve_keys_dir = {str(args.dir)!r} to use them")
    return EXIT_OK
