"""Configuration of the FIX 4.4 execution client (one session per venue).

In a node config::

    [exec_clients.FIX]
    factory = "livenode.adapters.fix:FixExecClientFactory"
    [exec_clients.FIX.config]
    venue = "FIX"
    sender_comp_id = "NODE"
    target_comp_id = "VENUE"
    host = "127.0.0.1"
    port = 9876
    heartbeat = 30
    reset_on_logon = false
    tls = false
    username_env = "FIX_USERNAME"   # optional: names of environment variables,
    password_env = "FIX_PASSWORD"   # never the secrets themselves

A bad value fails the config load with the field's path (``exec_clients.FIX.config.port:
...``), which the CLI reports and exits 2 for.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

__all__ = ["FixExecClientConfig"]

_COMP_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BALANCE = re.compile(r"^\d+(\.\d+)? [A-Z0-9]{2,10}$")


class FixExecClientConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One FIX 4.4 session to a venue, and what the node needs to know about the account.

    Attributes:
        venue: the venue name of the node's instruments (``BTCUSDT.<venue>``); the FIX
            Symbol is the instrument id's symbol.
        account_id: the node's account id for this venue.
        sender_comp_id / target_comp_id: SenderCompID (49) / TargetCompID (56).
        host, port: the acceptor; tls: connect with TLS (``tls_ca_file``: CA bundle).
        heartbeat: HeartBtInt (108) in seconds.
        reset_on_logon: send ResetSeqNumFlag (141=Y) on every logon (sequence numbers
            start at 1 on both sides); else they continue from the persisted ones.
        username_env / password_env: names of environment variables holding the
            Username (553) / Password (554) of the Logon; unset names send none.
        data_dir: where the sequence numbers are persisted
            (``{data_dir}/fix-{sender}-{target}.seqnums``).
        reconnect_initial / reconnect_max: reconnect back-off (doubles from the first).
        logon_timeout: seconds `connect` waits for the logon (and the resend after it).
        request_timeout: seconds a status / mass status / positions request may take.
        request_positions: the peer answers RequestForPositions (35=AN) with
            PositionReports (35=AP): reconciliation then compares the venue's
            positions with the node's; off (the default): the node asks for none.
        account_type: CASH or MARGIN; balances: the account's balances as
            ``"<amount> <currency>"`` (FIX 4.4 has no balance message; the node needs an
            account state).
    """

    venue: str = "FIX"
    account_id: str = "FIX-001"
    sender_comp_id: str
    target_comp_id: str
    host: str = "127.0.0.1"
    port: int
    heartbeat: int = 30
    reset_on_logon: bool = False
    tls: bool = False
    tls_ca_file: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    data_dir: str = "data"
    reconnect_initial: float = 0.5
    reconnect_max: float = 10.0
    logon_timeout: float = 10.0
    request_timeout: float = 5.0
    request_positions: bool = False
    account_type: Literal["CASH", "MARGIN"] = "CASH"
    balances: list[str] = msgspec.field(default_factory=lambda: ["1000000 USDT", "100 BTC"])

    def __post_init__(self) -> None:
        for name in ("sender_comp_id", "target_comp_id"):
            value = getattr(self, name)
            if not _COMP_ID.match(value):
                raise ValueError(f"{name}: expected 1-64 letters, digits, '_', '.', '-', "
                                 f"got {value!r}")
        if not self.venue or not self.venue.isalnum():
            raise ValueError(f"venue: expected letters and digits, got {self.venue!r}")
        if not self.host:
            raise ValueError("host: expected a host name or address, got ''")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port: expected 1..65535, got {self.port}")
        if not 1 <= self.heartbeat <= 3600:
            raise ValueError(f"heartbeat: expected 1..3600 seconds, got {self.heartbeat}")
        for name in ("username_env", "password_env"):
            value = getattr(self, name)
            if value is not None and not _ENV.match(value):
                raise ValueError(f"{name}: expected an environment variable name, got {value!r}")
        for name in ("reconnect_initial", "reconnect_max", "logon_timeout", "request_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.reconnect_max < self.reconnect_initial:
            raise ValueError(f"reconnect_max: must be >= reconnect_initial "
                             f"({self.reconnect_initial}), got {self.reconnect_max}")
        if self.tls_ca_file is not None and not self.tls:
            raise ValueError("tls_ca_file: set, but tls is false")
        for i, balance in enumerate(self.balances):
            if not _BALANCE.match(balance):
                raise ValueError(f"balances[{i}]: expected \"<amount> <CURRENCY>\", "
                                 f"got {balance!r}")
