"""`livenode run CONFIG [--duration SECONDS] [--summary-json PATH] [--verbose] [--log-file PATH]`.

Loads the config, prints a startup summary, runs a `TradingNode` on a uvloop
loop (the node owns the main thread, so it handles SIGINT/SIGTERM), prints a
status line every `status_interval` seconds and, on stop, a final summary table
(and the same facts as JSON with ``--summary-json``).

The screen (stdout: the summaries and status lines; stderr: log records of
``[logging] console_level``, WARNING by default) stays readable; every record of
``[logging] level`` goes to the log file (``[logging] file``, by default
``{data_dir}/logs/{trader_id}.log``; ``--log-file`` for one run), which the
startup summary names. ``--verbose`` shows every record on stderr too. Each line
is written whole, in one write: a log line of another thread or process (a
worker) never lands inside a status line, also through a pipe.

Exit codes: 0 clean stop; 1 failure at run time (a start gate, a strategy that
stops the node, an unclean shutdown, a node of the same trader id and instance
already running); 2 invalid config or usage; 128 + N when a second signal N
forced an immediate exit during the stop (130 for Ctrl-C).

Signals: SIGINT and SIGTERM are blocked from the first thing `run` does until
the node (or the supervisor) has installed its handlers, so a signal at any
moment of the start is held and then handled like any other (an ordered stop),
never by Python's default action half-way through creating the run directory or
the shared memory. A forced exit (a second signal during the stop) still
removes the run directory and the shared memory and writes the summary it has.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import msgspec
import uvloop

from livenode.cache.shm import ShmError
from livenode.cli.run_multiprocess import run_supervised
from livenode.cli.summary import (
    StatusMeter,
    instrument_line,
    startup_lines,
    summary_table,
    write_summary_json,
)
from livenode.config import ConfigError, TradingNodeConfig, load_config, sets_field
from livenode.core.uuid import new_id
from livenode.node.builder import BuildError
from livenode.node.control_endpoint import NodeControl
from livenode.node.durable_summary import database_errors, durable_summary
from livenode.node.metrics_server import MetricsServerError
from livenode.node.node import StartupGateError, TradingNode
from livenode.supervisor.rundir import (
    NodeAlreadyRunningError,
    RunDir,
    TraderAlreadyRunningError,
    UnsafeRunBaseError,
    create_run_dir,
    prepare_run_base,
)

__all__ = ["EXIT_CONFIG_ERROR", "EXIT_FAILURE", "EXIT_OK", "add_run_parser", "run_command"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG_ERROR = 2

_log = logging.getLogger("livenode.cli.run")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def add_run_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``run CONFIG [--duration SECONDS] [--summary-json PATH]``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run a trading node until Ctrl-C (or --duration)",
        description=(
            "Run a trading node from a config file. Ctrl-C (SIGINT) or SIGTERM stops it "
            "in order; a second one during the stop exits at once (code 130 / 143). "
            "Exit codes: 0 clean stop, 1 failure at run time, 2 invalid config."
        ),
    )
    parser.add_argument("config", metavar="CONFIG", help="node config file (.toml or .json)")
    parser.add_argument(
        "--duration",
        type=_positive_seconds,
        metavar="SECONDS",
        help="stop cleanly after SECONDS of running (default: run until a signal)",
    )
    parser.add_argument(
        "--summary-json",
        type=Path,
        metavar="PATH",
        help="write the final summary (orders, fills, positions, balances, shutdown) as JSON",
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        metavar="PATH",
        help="write the log to PATH (default: [logging] file, else "
        "{data_dir}/logs/{trader_id}.log; in multiprocess mode one per process beside it)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show every log record on the screen too (default: [logging] console_level, "
        "WARNING: fills and order events go to the log file only)",
    )
    parser.add_argument(
        "--allow-second-node",
        action="store_true",
        help="run even if another node of the same trader id runs (both then trade the "
        "same account); refused by default",
    )
    parser.set_defaults(command="run", func=run_command)
    return parser


def _write_line(stream: Any, line: str) -> None:
    """`line` and its newline in one write: `print` writes them apart (two system
    calls on an unbuffered stream, ``PYTHONUNBUFFERED``), and a log line written by
    another thread or a worker in between would share the line."""
    stream.write(line + "\n")
    stream.flush()


def _say(line: str = "") -> None:
    _write_line(sys.stdout, line)


def _error(message: str) -> None:
    _write_line(sys.stderr, f"error: {message}")


def logging_for_run(config: TradingNodeConfig, args: argparse.Namespace) -> TradingNodeConfig:
    """The config with its log file resolved (``--log-file``, ``[logging] file``, else
    ``{data_dir}/logs/{trader_id}.log``) and, with ``--verbose``, every record shown on
    the screen; multiprocess workers get it with the rest of the config."""
    log_file = getattr(args, "log_file", None)
    changes: dict[str, Any] = {
        "file": str(log_file) if log_file is not None else config.log_file(),
    }
    if getattr(args, "verbose", False):
        changes["console_level"] = "DEBUG"  # whatever `level` lets through
    return msgspec.structs.replace(
        config, logging=msgspec.structs.replace(config.logging, **changes))


def run_command(args: argparse.Namespace) -> int:
    """Run the node for parsed `args`; return the exit code."""
    # Held until the node's own handlers are in place (see the module docstring);
    # a signal that arrives after they are removed again waits for the exit.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    # Readers (people, tests) follow stdout as it happens, also through a pipe.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _error(f"{args.config}: {exc}")
        return EXIT_CONFIG_ERROR
    try:
        # Before anything is created: a node whose sockets other users could reach
        # does not start (the run directory holds the bus and control sockets).
        prepare_run_base()
    except (UnsafeRunBaseError, OSError) as exc:
        _error(str(exc))
        return EXIT_FAILURE
    config = logging_for_run(config, args)
    try:
        config.logging.apply(label="supervisor" if config.mode == "multiprocess" else None)
    except OSError as exc:
        _error(f"{args.config}: cannot write the log file {config.logging.file}: "
               f"{exc.strerror or exc} (set [logging] file or data_dir, or --log-file)")
        return EXIT_CONFIG_ERROR
    # Where a run begins in a file that several runs append to.
    _log.info("livenode run %s (pid %d): trader %s, %s mode", args.config, os.getpid(),
              config.trader_id, config.mode)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_run(config, args))
    except KeyboardInterrupt:
        # Ctrl-C before the node's own handlers were installed (or after removal).
        _error("interrupted")
        return 130
    except Exception as exc:  # a bug, not a user error: say so, keep the traceback in the log
        _log.exception("livenode run failed")
        _error(f"livenode run failed unexpectedly: {type(exc).__name__}: {exc}")
        return EXIT_FAILURE


async def _run(config: TradingNodeConfig, args: argparse.Namespace) -> int:
    # A missing trader_id is allowed (the embedded configs of tests and examples rely
    # on it) but said: every such config runs as the same trader.
    defaulted = not sets_field(args.config, "trader_id")
    if defaulted:
        _log.warning("no trader_id in %s: running as the default %s", args.config,
                     config.trader_id)
    if config.mode == "multiprocess":
        for line in startup_lines(config, args.config, trader_defaulted=defaulted):
            _say(line)
        return await run_supervised(config, args, _say, _error)
    try:
        for line in startup_lines(config, args.config, trader_defaulted=defaulted):
            _say(line)
    except ConfigError as exc:
        _error(f"{args.config}: {exc}")
        return EXIT_CONFIG_ERROR
    if config.instance_id is None:
        config = msgspec.structs.replace(config, instance_id=new_id())
    assert config.instance_id is not None
    try:
        # A single-process node has a run directory too (pid file only): the way
        # `livenode status` and `livenode stop` find it, like a supervised one.
        # Created before anything else, so a second node of the same trader id and
        # instance is refused before it touches the running one's shared memory.
        run_dir = create_run_dir(config.trader_id, config.instance_id,
                                 exclusive=not args.allow_second_node)
    except (NodeAlreadyRunningError, TraderAlreadyRunningError) as exc:
        _error(str(exc))
        return EXIT_FAILURE
    except (UnsafeRunBaseError, OSError) as exc:
        _error(str(exc))
        return EXIT_FAILURE
    holder: list[TradingNode] = []
    try:
        node = TradingNode(
            config, force_exit=lambda code: _forced_exit(run_dir, holder, args, code)
        )
        holder.append(node)
    except ConfigError as exc:
        run_dir.remove()
        _error(f"{args.config}: {exc}")
        return EXIT_CONFIG_ERROR
    except ShmError as exc:  # a segment name taken: said plainly, no traceback
        run_dir.remove()
        _error(str(exc))
        return EXIT_FAILURE
    except Exception as exc:  # a strategy or engine that cannot be constructed
        run_dir.remove()
        _log.exception("building the node failed")
        _error(f"building the node failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILURE
    try:
        try:
            node.build()
        except ConfigError as exc:
            _error(f"{args.config}: {exc}")
            return EXIT_CONFIG_ERROR
        except BuildError as exc:
            _error(str(exc))
            return EXIT_FAILURE
        except Exception as exc:
            _log.exception("building the node failed")
            _error(f"building the node failed: {type(exc).__name__}: {exc}")
            return EXIT_FAILURE
        return await _run_node(node, config, args, run_dir)
    finally:
        try:
            node.dispose()
        finally:
            run_dir.remove()


def _forced_exit(
    run_dir: RunDir, holder: list[TradingNode], args: argparse.Namespace, code: int
) -> None:
    """A second signal during the stop: leave now, but leave no run directory (the node
    has unlinked its shared memory) and write the summary the node has so far."""
    try:
        run_dir.remove()
        for node in holder:
            summary = node.summary()
            summary["exit_code"] = code
            summary["shutdown"]["clean"] = False
            summary["shutdown"]["forced"] = True
            if summary["started"]:
                for line in summary_table(summary):
                    _say(line)
            if args.summary_json is not None:
                write_summary_json(summary, args.summary_json)
    except BaseException as exc:  # a forced exit exits, whatever the summary does
        with contextlib.suppress(BaseException):
            os.write(2, f"livenode: the summary failed at the forced exit: {exc!r}\n".encode())
    finally:
        os.write(2, f"livenode: forced exit ({code})\n".encode())
        os._exit(code)


async def _run_node(
    node: TradingNode, config: TradingNodeConfig, args: argparse.Namespace, run_dir: RunDir
) -> int:
    loop = asyncio.get_running_loop()
    control = NodeControl(node, run_dir.node_endpoint)
    control.start()
    try:
        return await _run_started_node(node, config, args, loop)
    finally:
        await control.close()


async def _run_started_node(
    node: TradingNode, config: TradingNodeConfig, args: argparse.Namespace,
    loop: asyncio.AbstractEventLoop,
) -> int:
    run_task = asyncio.create_task(node.run_async(handle_signals=True))
    stopping_task = asyncio.create_task(_announce_stop(node))
    status_task: asyncio.Task[None] | None = None
    duration_handle: asyncio.TimerHandle | None = None
    try:
        if await node.wait_started():
            instruments = sorted(str(i.id) for i in node.kernel.cache.instruments())
            _say(instrument_line(instruments))
            _say("running (Ctrl-C to stop)")
            status_task = asyncio.create_task(_status_loop(node, config.status_interval))
            if args.duration is not None:
                duration_handle = loop.call_later(
                    args.duration, node.stop, f"--duration {args.duration:g}s elapsed"
                )
        try:
            await run_task
        except StartupGateError as exc:
            _error(str(exc))
        except MetricsServerError as exc:
            _error(str(exc))
            return EXIT_FAILURE
    finally:
        for task in (status_task, stopping_task):
            if task is not None:
                task.cancel()
        if duration_handle is not None:
            duration_handle.cancel()
    summary = node.summary()
    # Every run of this trader id, from the database (single process: the portfolio
    # holds every strategy's positions, EXTERNAL ones included).
    database_problems = database_errors(summary) if summary["started"] else []
    book_errors = durable_summary(summary, config) if summary["started"] else []
    if summary["started"]:
        for line in summary_table(summary):
            _say(line)
    for problem in database_problems:
        _error(problem)
    for book_error in book_errors:
        _error(f"the books do not add up: {book_error}")
    if summary["audit"]["books_match_venue"] is False:
        _error("the books differ from the venue (see audit above)")
    if node.failure is not None:
        _error(f"the node stopped because of a failure: {node.failure}")
    elif summary["started"] and not summary["shutdown"]["clean"]:
        _error("the stop was not clean (see the log above for the phase that timed out)")
    if args.summary_json is not None:
        try:
            write_summary_json(summary, args.summary_json)
        except OSError as exc:
            _error(f"cannot write {args.summary_json}: {exc.strerror or exc}")
            return EXIT_FAILURE
    if book_errors or database_problems:
        return EXIT_FAILURE
    return node.exit_code


async def _status_loop(node: TradingNode, interval: float) -> None:
    """Print a status line every `interval` seconds while the node runs."""
    meter = StatusMeter()
    while node.is_running:
        await asyncio.sleep(interval)
        if not node.is_running:
            return
        try:
            _say(meter.line(node.stats))
        except Exception:  # a status line must never take the node down
            _log.exception("status line failed")


async def _announce_stop(node: TradingNode) -> None:
    """Say on stdout when the stop begins (and why), so a reader knows what follows."""
    await node.wait_stop_requested()
    _say(f"stopping: {node.stop_reason}")
