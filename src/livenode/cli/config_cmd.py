"""`livenode config validate FILE` and `livenode config show FILE`.

`validate` loads the file exactly as `livenode run` would (nested client and
strategy configs included) and exits 0 with a one-line summary, or 2 with the
error on stderr. `show` prints the effective config, every default filled in,
as TOML (default) or JSON; it validates first, so it also exits 2 on an error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from livenode.config import ConfigError, TradingNodeConfig, dump_config, load_config
from livenode.supervisor.bus_security import bus_keys

EXIT_OK = 0
# 2 is what argparse uses for a usage error: a bad config is the same kind of
# problem (the user's input, not a crash), so scripts can treat them alike.
EXIT_CONFIG_ERROR = 2


def add_config_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``config validate FILE`` and ``config show FILE`` on `subparsers`.

    `subparsers` is what `ArgumentParser.add_subparsers()` returned. The parsed
    namespace has ``command == "config"``, ``config_command`` (``"validate"`` or
    ``"show"``), ``file`` and, for show, ``format``; ``func`` is set to
    `run_config_command` for dispatchers that call ``args.func(args)``.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "config", help="validate or show a node configuration file",
        description="Validate a node configuration file, or print its effective values.",
    )
    commands = parser.add_subparsers(dest="config_command", metavar="{validate,show}")
    commands.required = True

    validate = commands.add_parser(
        "validate", help="check a config file; exit 0 if valid, 2 with the error otherwise"
    )
    validate.add_argument("file", help="config file (.toml or .json)")

    show = commands.add_parser(
        "show", help="print the effective config, defaults included"
    )
    show.add_argument("file", help="config file (.toml or .json)")
    show.add_argument(
        "--format", choices=("toml", "json"), default="toml", help="output format (default toml)"
    )
    parser.set_defaults(command="config", func=run_config_command)
    return parser


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def summarize(config: TradingNodeConfig) -> str:
    """One line describing a valid config, for `validate`'s output."""
    parts = [
        f"trader {config.trader_id}",
        f"mode {config.mode}",
        f"environment {config.environment}",
        _plural(len(config.data_clients), "data client"),
        _plural(len(config.exec_clients), "exec client"),
        _plural(len(config.strategies), "strategy", "strategies"),
    ]
    return ", ".join(parts)


def run_config_command(args: argparse.Namespace) -> int:
    """Run ``config validate`` / ``config show`` for parsed `args`; return the exit code."""
    try:
        config = load_config(args.file)
        # The bus keys are read as `run` would, so a missing key file fails here too.
        bus_keys(config.message_bus)
    except ConfigError as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.config_command == "validate":
        print(f"ok: {args.file} ({summarize(config)})")
        return EXIT_OK
    if args.config_command == "show":
        sys.stdout.write(dump_config(config, getattr(args, "format", "toml")))
        return EXIT_OK
    print(f"error: unknown config command {args.config_command!r}", file=sys.stderr)
    return EXIT_CONFIG_ERROR
