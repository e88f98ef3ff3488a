"""The node's configuration as frozen msgspec Structs.

Every struct is frozen (a running node never sees its config change under it),
forbids unknown fields (a typo must fail loudly, not silently use a default) and
is keyword-only (field order carries no meaning in TOML). Types are as precise
as msgspec allows, so most errors are found by `msgspec.convert`; the rest
(formats, cross-field rules) are checked in `__post_init__`, which msgspec also
runs while decoding.

Convention for `__post_init__` errors: the message starts with the field's path
relative to the struct, then ``": "``, e.g. ``"max_order_submit_rate: expected
..."``. The loader prepends the struct's own path in the document, giving
``risk_engine.max_order_submit_rate: expected ...``.

Room is left for issue 3's topology (`workers`, roles, shards, cores, restart
policy) as further `TradingNodeConfig` fields; nothing here depends on it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from livenode.config.base import ConfigStruct
from livenode.config.metrics import MetricsConfig
from livenode.config.validators import (
    check_bindable,
    check_client_name,
    check_host,
    check_import_path,
    check_instrument_id,
    check_positive_decimal,
    check_trader_id,
    parse_rate,
    show_value,
)
from livenode.config.workers import SupervisorConfig, WorkerConfig

PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
Mode = Literal["single", "multiprocess"]
Environment = Literal["sandbox", "live"]
TradingStateName = Literal["ACTIVE", "REDUCING", "HALTED"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def _field_error(field: str, exc: ValueError) -> ValueError:
    """Prefix a validator's message with the field name (see module docstring)."""
    return ValueError(f"{field}: {exc}")


def _key_error(field: str, exc: ValueError) -> ValueError:
    """Like `_field_error`, for a table key rather than its value."""
    text = str(exc).removeprefix("expected ")
    return ValueError(f"{field}: expected the key to be {text}")


class DataEngineConfig(ConfigStruct, frozen=True, kw_only=True):
    """Tuning of the `DataEngine`."""

    # Emit a time bar at the end of an interval even when no tick arrived in it
    # (the bar repeats the last close), so strategies see a regular clock.
    time_bars_build_with_no_updates: bool = True
    # Stamp a time bar with its close time (True) or its open time (False).
    time_bars_timestamp_on_close: bool = True
    # Drop (count, log) quotes with a non-positive price, a negative size or bid > ask,
    # and trades with a non-positive price or a negative size, from any adapter.
    validate_data: bool = True
    # Drop a quote (trade) whose ts_event is older than the instrument's last accepted
    # quote (trade): per kind, since a venue's quote and trade streams are stamped apart.
    validate_data_sequence: bool = True
    # Seconds without a quote or trade from a venue with subscriptions after which its
    # feed shows as STALE (status line, metrics, log); fresh again when ticks resume.
    # 0 turns the check off.
    stale_after: Annotated[float, msgspec.Meta(ge=0)] = 30.0


class RiskEngineConfig(ConfigStruct, frozen=True, kw_only=True):
    """Pre-trade risk checks of the `RiskEngine`."""

    # Skip every check: for venues that enforce their own limits, never for live.
    bypass: bool = False
    trading_state: TradingStateName = "ACTIVE"
    max_order_submit_rate: str = "100/1s"
    max_order_modify_rate: str = "100/1s"
    # Per-instrument cap on the notional of one order, in the quote currency,
    # as decimal strings ("50000") so no float rounding creeps into a limit.
    max_notional_per_order: dict[str, str] = {}
    # Read-your-writes across processes: the longest (seconds) a command waits for this
    # worker's view of its strategy's position to reach the version its sender saw;
    # past it the command is denied STATE_BEHIND. 0: denied at once when behind.
    state_wait: float = 0.3

    def __post_init__(self) -> None:
        if not 0 <= self.state_wait <= 10:
            raise _field_error("state_wait", ValueError(
                f"must be between 0 and 10 seconds, got {self.state_wait}"))
        for name in ("max_order_submit_rate", "max_order_modify_rate"):
            try:
                parse_rate(getattr(self, name))
            except ValueError as exc:
                raise _field_error(name, exc) from None
        for key, value in self.max_notional_per_order.items():
            field = f"max_notional_per_order[{show_value(key)}]"
            try:
                check_instrument_id(key)
            except ValueError as exc:
                raise _key_error(field, exc) from None
            try:
                check_positive_decimal(value)
            except ValueError as exc:
                raise _field_error(field, exc) from None


class ExecEngineConfig(ConfigStruct, frozen=True, kw_only=True):
    """Behaviour of the `ExecutionEngine`."""

    # Reconcile cached orders and positions with the venues' reports at start.
    reconciliation: bool = True
    # Ignore position reports during reconciliation (venues that net positions
    # across strategies report positions the node cannot attribute).
    filter_position_reports: bool = False
    # An order SUBMITTED or PENDING_UPDATE/PENDING_CANCEL for longer than this
    # (seconds) is stalled: asked about at its venue and brought to the venue's
    # state; until then the status line shows it (stalled=N). 0 turns it off.
    inflight_timeout: float = 5.0
    # How often (seconds) the engine looks for stalled orders.
    inflight_check_interval: float = 1.0
    # After a client's session with its venue came back (see
    # LiveExecutionClient.session_restored): the bound on its reconciliation;
    # trading to the venue stays halted until one succeeded.
    reconnect_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.reconnect_timeout <= 0:
            raise _field_error("reconnect_timeout",
                               ValueError(f"must be > 0, got {self.reconnect_timeout}"))
        for name in ("inflight_timeout", "inflight_check_interval"):
            if getattr(self, name) < 0:
                raise _field_error(name, ValueError(f"must be >= 0, got {getattr(self, name)}"))


class PortfolioConfig(ConfigStruct, frozen=True, kw_only=True):
    """Reserved: the portfolio has no tuning yet; the table is accepted empty."""


_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


class DatabaseConfig(ConfigStruct, frozen=True, kw_only=True):
    """The cache database: where the node's execution state survives the node.

    ``sqlite`` (the default) is one file, ``path`` or
    ``{data_dir}/{trader_id}.sqlite``, in WAL mode, created on first run.
    ``redis`` is a Redis server; its password comes from the environment
    variable named by ``password_env``, never from the file. See
    docs/persistence.md.
    """

    type: Literal["sqlite", "redis"] = "sqlite"
    # sqlite: the database file (default: {data_dir}/{trader_id}.sqlite).
    path: str | None = None
    # redis
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 6379
    db: Annotated[int, msgspec.Meta(ge=0)] = 0
    username: str | None = None
    password_env: str | None = None
    tls: bool = False
    # Every call to the database fails after these (no silent client retries):
    # connecting (redis), and each read or write (redis: the socket; sqlite: the wait
    # for another connection's lock). A write not done within socket_timeout (+1 s)
    # marks the database down.
    connect_timeout: PositiveSeconds = 5.0
    socket_timeout: PositiveSeconds = 5.0
    # Delete this trader id's state (and only it) before loading: a fresh start.
    flush_on_start: bool = False
    # Trading state while the database cannot be written (writes are kept and
    # retried; trading resumes when they have caught up).
    on_failure: Literal["REDUCING", "HALTED"] = "HALTED"
    # Writes per transaction at most; more pending writes go in the next one.
    batch_size: PositiveInt = 1000
    # Seconds between attempts while the database is unavailable.
    retry_interval: PositiveSeconds = 1.0
    # Seconds without a write after which the writer checks that the database still
    # holds this node's state (its run marker): a loss is seen even when idle.
    check_interval: PositiveSeconds = 5.0

    def __post_init__(self) -> None:
        if self.path is not None and not self.path.strip():
            raise ValueError('path: expected a file path or no value, got ""')
        if not self.host.strip():
            raise ValueError('host: expected a host name or address, got ""')
        if self.password_env is not None and not _ENV_NAME_RE.match(self.password_env):
            raise ValueError(
                f"password_env: expected the name of an environment variable, "
                f"got {show_value(self.password_env)}"
            )


class CacheConfig(ConfigStruct, frozen=True, kw_only=True):
    """Bounds of the in-process cache (memory must stay flat on a long run)."""

    # Closed orders kept in memory; the oldest are purged beyond this bound.
    max_closed_orders: PositiveInt = 10_000
    # Publish the latest market state, positions and balances in POSIX shared
    # memory (livenode.cache.shm), readable by every process of the node and by
    # `livenode status` without a bus message.
    shared_memory: bool = True
    # The cache database (`[cache.database]`); absent: state lives in memory only.
    database: DatabaseConfig | None = None


class MessageBusConfig(ConfigStruct, frozen=True, kw_only=True):
    """The ZeroMQ bus between the worker processes of a multiprocess node.

    Commands and events are never dropped: a full peer queue makes the publisher
    hold them, in order, until the peer reads again (XPUB_NODROP). Market data
    is dropped (and counted) instead, so a slow reader sees fresh quotes rather
    than a backlog. `sndhwm` / `rcvhwm` bound those queues, in messages.
    """

    # ipc: Unix sockets in the run directory (one host, the default);
    # tcp: loopback or host ports, e.g. for workers in other network namespaces.
    transport: Literal["ipc", "tcp"] = "ipc"
    # Where tcp publishers bind: an IPv4 address of this host or a name resolving to
    # one (with the tcp transport the bind is tried at validation).
    tcp_host: str = "127.0.0.1"
    # tcp: the directory of the node's CURVE keys (`livenode keys generate DIR`),
    # relative to the working directory unless absolute. Every tcp bus socket is
    # encrypted and only the node's own client key(s) may connect (docs/security.md).
    curve_keys_dir: str | None = None
    # tcp without keys is refused unless this is true: then anyone who can reach
    # the ports can read and inject orders, and every start logs a WARNING.
    insecure_tcp: bool = False
    sndhwm: PositiveInt = 100_000
    rcvhwm: PositiveInt = 100_000
    # Measure the latency of each bus hop (publisher's send to subscriber's
    # receive) on 1 message in this many (0: off); `livenode status` and the
    # summary show the percentiles. Recording costs ~2 us per sampled message.
    hop_latency_every: Annotated[int, msgspec.Meta(ge=0)] = 8
    # Time the stages of 1 inbound message in this many inside each worker (wake,
    # receive, decode, handler work before and after its forward send, encode and
    # send, rest of the loop turn; see livenode.bus.stage_trace); 0: off. A
    # diagnostic for benchmarks: ~10 us per traced message.
    stage_trace_every: Annotated[int, msgspec.Meta(ge=0)] = 0
    # How a worker waits for its next message: "block" sleeps in epoll (the
    # default: right whenever workers share cores); "spin" keeps polling its
    # socket for `spin_us` after each message first, which saves the wake-up
    # only for a worker that owns its core (it keeps that core busy).
    wait: Literal["block", "spin"] = "block"
    spin_us: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)] = 200.0
    # Give the CPU up (sched_yield) after each send, so that on a core shared by
    # several workers the receiver runs before the sender's own bookkeeping.
    yield_after_send: bool = False

    def __post_init__(self) -> None:
        try:
            # With the tcp transport: an address the publishers can bind, checked now
            # rather than as tracebacks and a start timeout in the workers.
            (check_bindable if self.transport == "tcp" else check_host)(self.tcp_host)
        except ValueError as exc:
            raise _field_error("tcp_host", exc) from None
        if self.curve_keys_dir is not None and not self.curve_keys_dir.strip():
            raise ValueError('curve_keys_dir: expected a directory path or no value, got ""')
        if self.transport == "tcp" and self.curve_keys_dir is None and not self.insecure_tcp:
            raise ValueError(
                'curve_keys_dir: transport "tcp" needs CURVE keys: set it to a directory '
                "made by `livenode keys generate DIR`, or set message_bus.insecure_tcp = true "
                "to run the bus unauthenticated"
            )


class LoggingConfig(ConfigStruct, frozen=True, kw_only=True):
    """Logging of the node (`livenode.core.logging.setup_logging`).

    The screen and the file: ``livenode run`` writes every record of ``level`` and
    above to a log file, ``file``, by default ``{data_dir}/logs/{trader_id}.log``
    (its directory created), and shows only ``console_level`` and above on stderr
    (default WARNING: the fills and order events are in the file, the screen keeps
    the startup summary, the status lines and the final summary readable).
    ``console_level = "INFO"`` (or ``livenode run --verbose``) shows everything on
    the screen too. Without a file (a node embedded in a program that calls
    `apply` itself) stderr shows everything at ``level``.

    The file is rotated at ``file_max_bytes`` with ``file_backups`` old files kept.
    In multiprocess mode each process writes its own file, its name inserted before
    the suffix (``SANDBOX-001.log`` is the supervisor's, ``SANDBOX-001-trader.log``
    the trader worker's, ``SANDBOX-001-sim-SIM.log`` a venue service's), and every
    line names the process. ``format = "json"`` writes JSON lines. ``levels`` sets
    per-component levels (``{ "adapters.sim" = "DEBUG" }``). ``log_fills`` logs
    each fill at INFO (rejections and denials are always logged at INFO, with
    their reason). Records go through a queue to a listener thread: logging never
    blocks the loop.
    """

    level: LogLevel = "INFO"
    console_level: LogLevel = "WARNING"
    file: str | None = None
    file_max_bytes: PositiveInt = 50_000_000
    file_backups: Annotated[int, msgspec.Meta(ge=0)] = 5
    format: Literal["text", "json"] = "text"
    levels: dict[str, LogLevel] = {}
    log_fills: bool = True

    def __post_init__(self) -> None:
        if self.file is not None and not self.file.strip():
            raise ValueError('file: expected a file path or no value, got ""')
        for name in self.levels:
            if not re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*", name):
                raise ValueError(
                    f"levels: expected the key to be a component like \"adapters.sim\", "
                    f"got {show_value(name)}"
                )

    def file_for(self, process_name: str | None) -> str | None:
        """The log file of one process: ``file``, or with ``-{process_name}`` before
        the suffix in a multiprocess worker."""
        from livenode.core.logging import file_for

        return None if self.file is None else file_for(self.file, process_name)

    def apply(self, process_name: str | None = None, label: str | None = None) -> None:
        """Configure the process's logging from this section: a worker's
        `process_name` names its lines and its file; a `label` names the lines only
        (a multiprocess node's supervisor writes the node's file, ``[supervisor]``)."""
        from livenode.core.logging import setup_logging

        setup_logging(
            self.level,
            process_name=process_name or label,
            file=self.file_for(process_name),
            file_max_bytes=self.file_max_bytes,
            file_backups=self.file_backups,
            json_lines=self.format == "json",
            levels=self.levels,
            console_level=self.console_level,
        )


class TimeoutsConfig(ConfigStruct, frozen=True, kw_only=True):
    """Seconds the node waits for each phase before giving up on it."""

    connection: PositiveSeconds = 10.0
    reconciliation: PositiveSeconds = 10.0
    portfolio: PositiveSeconds = 10.0
    disconnection: PositiveSeconds = 10.0
    post_stop: PositiveSeconds = 5.0
    # The audit of the books against each venue at the stop (asked again while they
    # differ: an event may be on its way) and at `livenode audit`.
    audit: PositiveSeconds = 5.0
    shutdown: PositiveSeconds = 30.0

    def __post_init__(self) -> None:
        # The shutdown timeout bounds the whole stop sequence, which includes
        # waiting for disconnection and the post-stop grace period; a shorter
        # shutdown would kill the node before those phases could ever finish.
        floor = self.disconnection + self.post_stop
        if not self.shutdown > floor:
            raise ValueError(
                f"shutdown: expected more than timeouts.disconnection + timeouts.post_stop "
                f"({self.disconnection:g} + {self.post_stop:g} = {floor:g}), "
                f"got {self.shutdown:g}"
            )


class ClientConfig(ConfigStruct, frozen=True, kw_only=True):
    """A data or execution client: its factory and that factory's own config.

    `config` stays a plain table here; the loader validates it against the
    factory's `config_type` (see `livenode.config.loader.resolve_client_config`).
    """

    factory: str
    config: dict[str, Any] = {}

    def __post_init__(self) -> None:
        try:
            check_import_path(self.factory)
        except ValueError as exc:
            raise _field_error("factory", exc) from None


class ImportableStrategyConfig(ConfigStruct, frozen=True, kw_only=True):
    """A strategy: its class, its config Struct, and that config's values."""

    path: str
    config_path: str
    config: dict[str, Any] = {}

    def __post_init__(self) -> None:
        for name in ("path", "config_path"):
            try:
                check_import_path(getattr(self, name))
            except ValueError as exc:
                raise _field_error(name, exc) from None


class TradingNodeConfig(ConfigStruct, frozen=True, kw_only=True):
    """The whole node: one document, loaded by `livenode.config.load_config`."""

    trader_id: str = "TRADER-001"
    # Generated at start when absent, so two runs of one config are told apart.
    instance_id: str | None = None
    mode: Mode = "single"
    environment: Environment = "sandbox"
    # Seconds between the status lines the CLI prints while the node runs.
    status_interval: PositiveSeconds = 5.0
    data_engine: DataEngineConfig = DataEngineConfig()
    risk_engine: RiskEngineConfig = RiskEngineConfig()
    exec_engine: ExecEngineConfig = ExecEngineConfig()
    portfolio: PortfolioConfig = PortfolioConfig()
    cache: CacheConfig = CacheConfig()
    # Strategy state (Strategy.on_save / on_load, docs/persistence.md): with a
    # `[cache.database]`, save each strategy's state when it stops, and hand the
    # stored state to it before it starts. No effect without a database.
    save_state: bool = True
    load_state: bool = True
    # Also save every running strategy's state this often (seconds) while it runs,
    # so a killed process resumes from at most this far back; 0: at stop only.
    # A state equal to the one stored last is not written again.
    save_state_interval: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    # Every this many seconds the node collects its young generations and freezes
    # the survivors (gc.freeze), so the cyclic collector never scans the orders
    # and positions it keeps (livenode.core.gc_pauses.SurvivorFreezer); 0: only
    # once, at the start.
    gc_freeze_interval: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    # Where the node keeps its files (the SQLite cache database), relative to
    # the working directory unless absolute; created when first needed.
    data_dir: str = "data"
    message_bus: MessageBusConfig = MessageBusConfig()
    logging: LoggingConfig = LoggingConfig()
    # The Prometheus endpoint (off by default; docs/metrics.md).
    metrics: MetricsConfig = MetricsConfig()
    timeouts: TimeoutsConfig = TimeoutsConfig()
    data_clients: dict[str, ClientConfig] = {}
    exec_clients: dict[str, ClientConfig] = {}
    strategies: list[ImportableStrategyConfig] = []
    # Multiprocess topology (livenode.config.workers); ignored in single mode.
    supervisor: SupervisorConfig = SupervisorConfig()
    workers: list[WorkerConfig] = []

    def __post_init__(self) -> None:
        try:
            check_trader_id(self.trader_id)
        except ValueError as exc:
            raise _field_error("trader_id", exc) from None
        if self.instance_id is not None and not self.instance_id.strip():
            raise ValueError('instance_id: expected a non-empty string or no value, got ""')
        if self.mode == "multiprocess":
            phases = self.supervisor.stop_timeouts
            if not self.timeouts.shutdown > phases.total():
                raise ValueError(
                    f"timeouts.shutdown: expected more than the sum of "
                    f"supervisor.stop_timeouts (trader {phases.trader:g} + data "
                    f"{phases.data:g} + risk {phases.risk:g} + exec {phases.exec:g} = "
                    f"{phases.total():g}), got {self.timeouts.shutdown:g}"
                )
        for section in ("data_clients", "exec_clients"):
            for name in getattr(self, section):
                try:
                    check_client_name(name)
                except ValueError as exc:
                    raise _key_error(f"{section}[{show_value(name)}]", exc) from None

    def log_file(self) -> str:
        """The log file ``livenode run`` writes: ``[logging] file``, else
        ``{data_dir}/logs/{trader_id}.log`` (in multiprocess mode the supervisor's;
        each worker's is named by `LoggingConfig.file_for`)."""
        if self.logging.file is not None:
            return str(Path(self.logging.file).expanduser())
        return str(Path(self.data_dir).expanduser() / "logs" / f"{self.trader_id}.log")
