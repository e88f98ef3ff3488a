"""Entry point of the `livenode` console script (and of `python -m livenode`).

Subcommands: ``run`` (run a node), ``config`` (validate / show a config),
``status`` / ``stop`` (a running multiprocess node), ``audit`` (a running node's books
against its venues), ``clean`` (leftovers of killed nodes),
``keys`` (CURVE keys of the tcp bus), ``bench`` (latency, throughput, lifecycle).
Only commands that work are listed; others arrive with the issues that build them.
"""

from __future__ import annotations

import signal
import sys

if sys.argv[1:2] == ["run"] and __name__ in ("livenode.cli.main", "__main__"):
    # `livenode run`: hold SIGINT/SIGTERM from the first line of ours, before the
    # imports, until the node has its handlers (see livenode.cli.run). A signal
    # before this point finds nothing of the node created yet.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})

import argparse

from livenode import __version__
from livenode.cli.bench_cmd import add_bench_parser, run_bench_command
from livenode.cli.config_cmd import add_config_parser, run_config_command
from livenode.cli.control import add_control_parsers, run_control_command
from livenode.cli.keys_cmd import add_keys_parser, run_keys_command
from livenode.cli.run import add_run_parser, run_command

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The `livenode` argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="livenode",
        description="livenode: a live trading node for Python.",
        epilog="See README.md for a tour, docs/ARCHITECTURE.md for the design.",
    )
    parser.add_argument(
        "--version", action="version", version=f"livenode {__version__}",
        help="print the version and exit",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    add_run_parser(subparsers)
    add_config_parser(subparsers)
    add_control_parsers(subparsers)
    add_keys_parser(subparsers)
    add_bench_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default `sys.argv[1:]`), run the subcommand, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(parser, args)
    except BrokenPipeError:
        # The reader went away (`livenode status | head`): not an error of ours.
        sys.stderr.close()
        return 0


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "run":
        return run_command(args)
    if args.command == "config":
        return run_config_command(args)
    if args.command == "keys":
        return run_keys_command(args)
    if args.command == "bench":
        return run_bench_command(args)
    if args.command in ("status", "stop", "clean", "audit"):
        return run_control_command(args)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
